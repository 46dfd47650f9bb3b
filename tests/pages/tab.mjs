// One tab of an app: on load it creates its client against the server that served it, with
// the options in the query string (persist, crossTab, refreshMargin), and records events in
// window.events. A reload therefore resumes the way a real app does.
import { createAuthClient } from '/pkg/index.js';

const params = new URLSearchParams(location.search);
const [meta, jwks] = await Promise.all([
  fetch('/.well-known/oauth-authorization-server').then((r) => r.json()),
  fetch('/.well-known/jwks.json').then((r) => r.json()),
]);
window.events = [];
window.client = await createAuthClient({
  publicKey: jwks,
  issuer: meta.issuer,
  audience: 'jwt-keeper-demo',
  refresh: { url: '/oauth/token', clientId: 'demo-client', timeoutMs: Number(params.get('timeoutMs') ?? 10000) },
  persist: params.get('persist') ?? 'memory',
  crossTab: params.get('crossTab') !== '0',
  refreshMargin: Number(params.get('refreshMargin') ?? 60),
});
for (const type of ['refresh', 'logout', 'error']) {
  window.client.on(type, (d) => window.events.push({ type, at: Date.now(), ...d, error: d.error?.code }));
}
window.ready = true;
document.getElementById('status').textContent = 'ready';
