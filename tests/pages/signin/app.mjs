// A minimal app for the sign-in tests: on every load it creates one client from the options
// the test put in sessionStorage ('signin-test'), handles a sign-in callback when the address
// has one (twice at once, as React StrictMode does), and exposes what happened as data on
// `window.app`. The test drives it with page.evaluate.
import * as pkg from '/pkg/index.js';

const plain = (e) => ({ code: e?.code, message: e?.message, error: e?.error, errorDescription: e?.errorDescription, isAuthError: pkg.isAuthError(e) });
const settle = (p) => p.then((value) => ({ ok: true, value }), (e) => ({ ok: false, error: plain(e) }));

const config = JSON.parse(sessionStorage.getItem('signin-test') ?? 'null');
const app = { events: [], callbacks: null, client: null, error: null };
window.app = app;

async function main() {
  if (config === null) return;
  const created = await settle(pkg.createAuthClient(config.options));
  if (!created.ok) {
    app.error = created.error;
    return;
  }
  const client = created.value;
  app.client = client;
  for (const type of ['refresh', 'logout', 'error']) {
    client.on(type, (d) => app.events.push({ type, reason: d.reason, source: d.source, code: d.error?.code }));
  }
  const params = new URLSearchParams(location.search);
  if (params.has('state') || params.has('code') || params.has('error')) {
    app.callbackUrl = location.href;
    const calls = config.once ? [client.handleRedirectCallback()] : [client.handleRedirectCallback(), client.handleRedirectCallback()];
    app.callbacks = await Promise.all(calls.map(settle));
    app.addressAfter = location.href;
  }
}

main().finally(() => {
  window.appReady = true;
  document.querySelector('#status').textContent = 'ready';
});

/** What the test reads: the getters and the events, as data. */
window.snapshot = () => ({
  isAuthenticated: app.client?.isAuthenticated ?? false,
  user: app.client?.user ?? null,
  claims: app.client?.claims ?? null,
  events: app.events,
  callbacks: app.callbacks,
  address: location.href,
  addressAfter: app.addressAfter,
  error: app.error,
});
window.settle = settle;
