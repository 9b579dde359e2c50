/*
 * The AP bridge of the simulated Atlassian site (django-atlassian-connect).
 *
 * The app's page loads it in place of https://connect-cdn.atl-paas.net/all.js
 * (set AP_JS_URL to <site>/atlassian-connect/all.js). It offers the subset of
 * Atlassian's AP that apps use, with the same names and signatures; every
 * call takes a callback and also returns a promise:
 *
 *   AP.context.getToken([callback(token)])        a fresh context JWT for the user
 *   AP.context.getContext([callback(context)])
 *   AP.request(url[, options]) / AP.request(options)
 *       options: url, type, data, contentType, headers,
 *                success(responseText, statusText, xhr), error(xhr, statusText, errorThrown)
 *       promise: resolves {body, xhr}, rejects {err, xhr}
 *   AP.resize([width[, height]])                  no arguments: the content's size
 *   AP.sizeToParent()
 *   AP.navigator.getLocation([callback(location)])
 *   AP.flag.create({title, body, type, close})    returns {close()}
 *
 * It talks to the site's page over postMessage: requests go only to the
 * site's origin (the xdm_e parameter of this page's URL), and answers are
 * taken only from that origin and from the parent window. Anything else is
 * ignored, with a console warning. Outside the site every call fails at once
 * with an Error that says why.
 */
(function () {
  "use strict";
  if (window.AP && window.AP._simulatedSite) {
    return;
  }

  var params = new URLSearchParams(window.location.search);
  var siteOrigin = null;
  try {
    siteOrigin = new URL(params.get("xdm_e") || "").origin;
  } catch (e) {
    siteOrigin = null;
  }
  var framed = window.parent !== window;
  var pending = {};
  var nextId = 1;
  var ignored = 0;
  var autoResize = true;

  function send(method, args) {
    return new Promise(function (resolve, reject) {
      if (!framed || !siteOrigin) {
        reject(
          new Error(
            "AP." + method + ": this page is not inside the site (it needs to be " +
              "framed by it, with the xdm_e parameter in its URL)"
          )
        );
        return;
      }
      var id = nextId++;
      pending[id] = { resolve: resolve, reject: reject };
      window.parent.postMessage({ ap: "call", id: id, method: method, args: args }, siteOrigin);
    });
  }

  window.addEventListener("message", function (event) {
    // Trust only the site's page: its origin AND the window that framed us.
    var message = event.data;
    if (event.origin !== siteOrigin || event.source !== window.parent) {
      if (message && typeof message === "object" && "ap" in message) {
        ignored += 1;
        console.warn(
          "AP: ignored a message from " + (event.origin || "an unknown origin") +
            " (only " + siteOrigin + ", the parent window, is trusted)"
        );
      }
      return;
    }
    if (!message || message.ap !== "result" || !pending[message.id]) {
      return;
    }
    var waiting = pending[message.id];
    delete pending[message.id];
    if (message.ok) {
      waiting.resolve(message.value);
    } else {
      waiting.reject(new Error(message.error || "the site refused the call"));
    }
  });

  /* A call with an optional callback; the promise is returned either way. */
  function withCallback(promise, callback) {
    if (typeof callback === "function") {
      promise.then(callback, function (err) {
        console.error(err);
      });
    }
    return promise;
  }

  function fakeXhr(answer) {
    var headers = answer.headers || {};
    return {
      status: answer.status,
      statusText: answer.statusText,
      responseText: answer.body,
      getResponseHeader: function (name) {
        var value = headers[String(name).toLowerCase()];
        return value === undefined ? null : value;
      },
      getAllResponseHeaders: function () {
        return Object.keys(headers)
          .map(function (name) {
            return name + ": " + headers[name];
          })
          .join("\r\n");
      },
    };
  }

  function request(urlOrOptions, maybeOptions) {
    var options =
      typeof urlOrOptions === "string"
        ? Object.assign({}, maybeOptions || {}, { url: urlOrOptions })
        : Object.assign({}, urlOrOptions || {});
    var wire = {
      url: options.url,
      type: (options.type || "GET").toUpperCase(),
      data: options.data === undefined ? null : options.data,
      contentType: options.contentType || null,
      headers: options.headers || {},
    };
    return send("request", [wire]).then(
      function (answer) {
        var xhr = fakeXhr(answer);
        if (answer.status >= 200 && answer.status < 300) {
          if (typeof options.success === "function") {
            options.success(answer.body, answer.statusText, xhr);
          }
          return { body: answer.body, xhr: xhr };
        }
        if (typeof options.error === "function") {
          options.error(xhr, "error", answer.statusText);
        }
        throw { err: answer.statusText, xhr: xhr };
      },
      function (err) {
        var xhr = fakeXhr({ status: 0, statusText: "error", body: String(err.message) });
        if (typeof options.error === "function") {
          options.error(xhr, "error", err.message);
        }
        throw { err: err.message, xhr: xhr };
      }
    );
  }

  function contentSize() {
    var root = document.documentElement;
    return {
      width: "100%",
      height: Math.ceil(root.getBoundingClientRect().height),
    };
  }

  function resize(width, height) {
    if (width === undefined && height === undefined) {
      var size = contentSize();
      width = size.width;
      height = size.height;
    }
    return send("resize", [width === undefined ? null : width, height === undefined ? null : height]);
  }

  function resizeToContent() {
    if (autoResize) {
      resize().catch(function () {});
    }
  }

  window.AP = {
    _simulatedSite: true,
    context: {
      getToken: function (callback) {
        return withCallback(send("context.getToken", []), callback);
      },
      getContext: function (callback) {
        return withCallback(send("context.getContext", []), callback);
      },
    },
    request: request,
    resize: function (width, height) {
      autoResize = false;
      return resize(width, height);
    },
    sizeToParent: function () {
      autoResize = false;
      return send("sizeToParent", []);
    },
    navigator: {
      getLocation: function (callback) {
        return withCallback(send("navigator.getLocation", []), callback);
      },
    },
    flag: {
      create: function (options) {
        var opts = options || {};
        var created = send("flag.create", [
          {
            title: String(opts.title || ""),
            body: String(opts.body || ""),
            type: opts.type || "info",
            close: opts.close || "manual",
          },
        ]);
        created.catch(function (err) {
          console.error(err);
        });
        return {
          close: function () {
            return created.then(function (id) {
              return send("flag.close", [id]);
            });
          },
        };
      },
    },
  };

  // Like the product's all.js: the frame follows the content's height
  // unless the page sizes itself (AP.resize with arguments, AP.sizeToParent).
  if (framed && siteOrigin) {
    window.addEventListener("load", resizeToContent);
    if (window.ResizeObserver) {
      var observe = function () {
        new ResizeObserver(resizeToContent).observe(document.documentElement);
      };
      if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", observe);
      } else {
        observe();
      }
    }
  }
  Object.defineProperty(window.AP, "_ignoredMessages", {
    get: function () {
      return ignored;
    },
  });
})();
