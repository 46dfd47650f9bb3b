// The app, as the browser (src/main.js) and the server (src/entry-server.js) both make it:
// `create` is Vue's createApp or createSSRApp, `history` vue-router's web or memory history.
import { createAuth } from 'jwt-keeper/vue';
import App from './App.vue';
import { client } from './auth.js';
import { createAppRouter } from './router.js';

export function createVueApp(create, history) {
  const router = createAppRouter(history);
  // The plugin handles the sign-in callback (once); then the router goes where the sign-in started.
  const auth = createAuth(client, {
    onRedirectCallback: (appState) => router.replace(appState?.returnTo ?? '/'),
  });
  const app = create(App).use(auth).use(router);
  return { app, router };
}
