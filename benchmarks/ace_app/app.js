// The atlassian-connect-express (ACE) side of `make bench` (benchmarks/bench_ace.py).
//
// The smallest app an ACE user writes for the two endpoints the example project
// serves, in production mode (NODE_ENV=production), one process:
//
//   GET /hello        addon.authenticate(): the page token in ?jwt= with its qsh;
//                     answers a small HTML page naming the tenant and the user
//   GET /api/me       addon.checkValidToken(): a context token in the Authorization
//                     header; answers {"clientKey", "accountId"}
//   GET /hello-open, GET /api/me-open
//                     the same answers without authentication (same middleware,
//                     same response size), to tell authentication from framework
//
// Middleware as in ACE's own app template, minus what only serves development
// (morgan request logging, errorhandler, the descriptor watcher) or other routes
// (static files, compression, cookies, the Handlebars engine): express.json() and
// express.urlencoded() (ACE reads the token from req.body when the query has
// none) and addon.middleware(). The HTML is a template literal with escaped
// values (or the page Django renders, see ACE_BENCH_PAGE): cheaper than
// Handlebars, so the comparison favours ACE.
//
// The tenant is seeded in ACE's own store (sequelize on an SQLite file,
// ACE_BENCH_DB) from ACE_BENCH_TENANT (a JSON clientInfo with the same
// clientKey and sharedSecret as the Django side) before the port opens.

"use strict";

const express = require("express");
const ace = require("atlassian-connect-express");

const app = express();
app.set("env", "production");
const addon = ace(app);

app.use(express.json());
app.use(express.urlencoded({ extended: false }));
app.use(addon.middleware());

const escapeHtml = value =>
  String(value ?? "").replace(/[&<>"']/g, ch => `&#${ch.charCodeAt(0)};`);

// ACE_BENCH_PAGE: the example project's /hello page as Django renders it, with
// __DAC_BASE_URL__, __DAC_CLIENT_KEY__ and __DAC_ACCOUNT_ID__ in place of its
// three values: both frameworks answer the same bytes (filled in here with one
// regular expression, which costs less than any template engine).
const PAGE = process.env.ACE_BENCH_PAGE
  ? require("fs").readFileSync(process.env.ACE_BENCH_PAGE, "utf8")
  : null;
const SLOTS = /__DAC_(BASE_URL|CLIENT_KEY|ACCOUNT_ID)__/g;

function page(clientKey, baseUrl, accountId) {
  if (PAGE !== null) {
    const values = {
      BASE_URL: escapeHtml(baseUrl),
      CLIENT_KEY: escapeHtml(clientKey),
      ACCOUNT_ID: escapeHtml(accountId || "anonymous"),
    };
    return PAGE.replace(SLOTS, (_, name) => values[name]);
  }
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Hello from ACE</title>
<script src="https://connect-cdn.atl-paas.net/all.js" async></script></head>
<body>
  <h1>Hello from ACE</h1>
  <p>Site: <a href="${escapeHtml(baseUrl)}" id="site">${escapeHtml(baseUrl)}</a></p>
  <p>clientKey: <code id="client-key">${escapeHtml(clientKey)}</code></p>
  <p>User: <code id="account-id">${escapeHtml(accountId || "anonymous")}</code></p>
</body>
</html>
`;
}

app.get("/hello", addon.authenticate(), (req, res) => {
  res.type("html").send(page(req.context.clientKey, req.context.hostBaseUrl, req.context.userAccountId));
});

app.get("/hello-open", (req, res) => {
  res.type("html").send(page(OPEN.clientKey, OPEN.baseUrl, OPEN.accountId));
});

app.get("/api/me", addon.checkValidToken(), (req, res) => {
  res.json({ clientKey: req.context.clientKey, accountId: req.context.userAccountId });
});

app.get("/api/me-open", (req, res) => {
  res.json({ clientKey: OPEN.clientKey, accountId: OPEN.accountId });
});

// What the unauthenticated twins answer (the same sizes as the real answers).
const OPEN = {
  clientKey: process.env.ACE_BENCH_CLIENT_KEY || "jira:bench",
  baseUrl: process.env.ACE_BENCH_BASE_URL || "https://bench.atlassian.net",
  accountId: process.env.ACE_BENCH_ACCOUNT_ID || "5b10ac8d82e05b22cc7d4ef5",
};

async function main() {
  const tenant = JSON.parse(process.env.ACE_BENCH_TENANT || "null");
  if (tenant) {
    await addon.settings.saveInstallation(tenant, tenant.clientKey);
  }
  const port = Number(addon.config.port());
  app.listen(port, "127.0.0.1", () => {
    console.log(`ACE app listening on 127.0.0.1:${port}`);
  });
}

// A clean exit on SIGTERM/SIGINT (node --cpu-prof writes its profile then).
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => process.exit(0));
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
