// The server render of the app (`npm run build:ssr` builds it to dist-server/entry-server.js):
// the same App, plugin and routes as src/main.js, with createSSRApp and vue-router's memory
// history. There is no session on the server: the plugin stays `isLoading` and authGuard lets
// the navigation through, so every page renders its loading state; the browser takes over.
import { createSSRApp } from 'vue';
import { renderToString } from 'vue/server-renderer';
import { createMemoryHistory } from 'vue-router';
import { createVueApp } from './app.js';

/** Renders the page at `url` (a path such as '/protected'): `{ path, html }`, `path` the route rendered. */
export async function render(url) {
  const { app, router } = createVueApp(createSSRApp, createMemoryHistory());
  await router.push(url);
  await router.isReady();
  const html = await renderToString(app);
  return { path: router.currentRoute.value.fullPath, html };
}
