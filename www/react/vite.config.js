// `npm run dev` proxies the auth server's routes to `node www/server/main.mjs` (port 8787) so
// that the app and its API share one origin, as in `npm run build` served by that server.
import { defineConfig } from 'vite';

const AUTH_SERVER = 'http://127.0.0.1:8787';

// The browser sends the page's origin (e.g. http://127.0.0.1:5173) as `Origin` with its POSTs,
// and the auth server answers 403 to origins it does not allow. Through the proxy the page and
// its API share one origin, so a request from this dev/preview server's own page goes on without
// `Origin`, as a same-origin request to the auth server would (no --allowed-origin needed). Any
// other `Origin` is passed on unchanged, for the auth server to refuse.
function dropOwnOrigin(proxyServer) {
  proxyServer.on('proxyReq', (proxyReq, req) => {
    const { origin, host } = req.headers;
    if (host && (origin === `http://${host}` || origin === `https://${host}`)) proxyReq.removeHeader('origin');
  });
}

const proxy = Object.fromEntries(
  ['/login', '/logout', '/oauth', '/api', '/.well-known'].map((path) => [
    path,
    { target: AUTH_SERVER, changeOrigin: true, configure: dropOwnOrigin },
  ]),
);

export default defineConfig({
  server: { host: '127.0.0.1', proxy },
  preview: { host: '127.0.0.1', proxy },
  build: { target: 'es2022' },
});
