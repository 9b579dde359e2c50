/*
 * The simulated site's page side of the AP bridge (django-atlassian-connect).
 *
 * Answers the AP calls of the app's iframe (#app-frame). A message is taken
 * only from the app's origin AND from that iframe's window; answers go only
 * to the app's origin. Calls that need the server (a context token,
 * AP.request) go to the site with this page's session.
 */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("site-config").textContent);
  var frame = document.getElementById("app-frame");
  var container = document.getElementById("app-container");
  var flags = document.getElementById("flags");
  var ignored = 0;
  var flagCount = 0;
  var sizedToParent = false;

  function server(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Site-Session": config.session },
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().then(function (payload) {
        if (!response.ok) {
          throw new Error(payload.message || "the site answered " + response.status);
        }
        return payload;
      });
    });
  }

  /* "250", 250, "250px", "100%" -> a CSS length; anything else -> null. */
  function cssLength(value, max) {
    if (value === null || value === undefined || value === "") {
      return null;
    }
    var match = /^\s*(\d+(?:\.\d+)?)\s*(px|%)?\s*$/.exec(String(value));
    if (!match) {
      return null;
    }
    var number = Math.min(parseFloat(match[1]), match[2] === "%" ? 100 : max);
    return number + (match[2] || "px");
  }

  function fillParent() {
    var top = container.getBoundingClientRect().top + window.scrollY;
    frame.style.width = "100%";
    frame.style.height = Math.max(150, window.innerHeight - top - 24) + "px";
  }

  function showFlag(options) {
    flagCount += 1;
    var id = "flag-" + flagCount;
    var type = ["success", "info", "warning", "error"].indexOf(options.type) >= 0 ? options.type : "info";
    var flag = document.createElement("div");
    flag.className = "flag flag-" + type;
    flag.id = id;
    flag.setAttribute("role", type === "error" ? "alert" : "status");
    var title = document.createElement("strong");
    title.className = "flag-title";
    title.textContent = options.title;
    var body = document.createElement("p");
    body.className = "flag-body";
    body.textContent = options.body; // text, never HTML from the app
    var close = document.createElement("button");
    close.className = "flag-close";
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00d7";
    close.addEventListener("click", function () {
      flag.remove();
    });
    flag.appendChild(close);
    flag.appendChild(title);
    flag.appendChild(body);
    flags.appendChild(flag);
    if (options.close === "auto") {
      setTimeout(function () {
        flag.remove();
      }, 8000);
    }
    return id;
  }

  var handlers = {
    "context.getToken": function () {
      return server("/atlassian-connect/context-token").then(function (answer) {
        return answer.token;
      });
    },
    "context.getContext": function () {
      return config.context;
    },
    request: function (options) {
      return server("/atlassian-connect/request", options);
    },
    resize: function (width, height) {
      sizedToParent = false;
      var w = cssLength(width, 10000);
      var h = cssLength(height, 10000);
      if (w) {
        frame.style.width = w;
      }
      if (h) {
        frame.style.height = h;
      }
      return { width: frame.style.width, height: frame.style.height };
    },
    sizeToParent: function () {
      sizedToParent = true;
      fillParent();
      return { width: frame.style.width, height: frame.style.height };
    },
    "navigator.getLocation": function () {
      return {
        target: "addonmodule",
        context: { addonKey: config.appKey, moduleKey: config.moduleKey },
        href: window.location.href,
      };
    },
    "flag.create": function (options) {
      return showFlag(options || {});
    },
    "flag.close": function (id) {
      var flag = document.getElementById(String(id));
      if (flag && flag.parentNode === flags) {
        flag.remove();
      }
      return true;
    },
  };

  window.addEventListener("message", function (event) {
    // Only the app, in our own iframe: its origin and its window.
    var message = event.data;
    if (event.origin !== config.appOrigin || event.source !== frame.contentWindow) {
      if (message && typeof message === "object" && "ap" in message) {
        ignored += 1;
        document.body.setAttribute("data-ignored-messages", String(ignored));
        console.warn(
          "site: ignored a message from " + (event.origin || "an unknown origin") +
            " (only the app's iframe, " + config.appOrigin + ", is trusted)"
        );
      }
      return;
    }
    if (!message || message.ap !== "call" || typeof message.id !== "number") {
      return;
    }
    var handler = Object.prototype.hasOwnProperty.call(handlers, message.method)
      ? handlers[message.method]
      : null;
    Promise.resolve()
      .then(function () {
        if (!handler) {
          throw new Error("AP." + message.method + " is not supported by the simulated site");
        }
        return handler.apply(null, Array.isArray(message.args) ? message.args : []);
      })
      .then(
        function (value) {
          frame.contentWindow.postMessage({ ap: "result", id: message.id, ok: true, value: value }, config.appOrigin);
        },
        function (err) {
          frame.contentWindow.postMessage(
            { ap: "result", id: message.id, ok: false, error: String((err && err.message) || err) },
            config.appOrigin
          );
        }
      );
  });

  window.addEventListener("resize", function () {
    if (sizedToParent) {
      fillParent();
    }
  });
})();
