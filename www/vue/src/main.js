import { createApp } from 'vue';
import { createAuth } from 'jwt-keeper/vue';
import App from './App.vue';
import { client } from './auth.js';
import { router } from './router.js';

// The plugin handles the sign-in callback (once); then the router goes where the sign-in started.
const auth = createAuth(client, {
  onRedirectCallback: (appState) => router.replace(appState?.returnTo ?? '/'),
});

createApp(App).use(auth).use(router).mount('#app');
