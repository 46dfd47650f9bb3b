// `npm run dev` proxies the auth server's routes to `node www/server/main.mjs` (port 8787) so
// that the app and its API share one origin, as in `npm run build` served by that server.
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

const AUTH_SERVER = 'http://127.0.0.1:8787';
const proxy = Object.fromEntries(['/login', '/logout', '/oauth', '/api', '/.well-known'].map((path) => [path, AUTH_SERVER]));

export default defineConfig({
  plugins: [vue()],
  server: { host: '127.0.0.1', proxy },
  preview: { host: '127.0.0.1', proxy },
  build: { target: 'es2022' },
});
