import { createRouter } from 'vue-router';
import { authGuard } from 'jwt-keeper/vue';
import Home from './views/Home.vue';
import Protected from './views/Protected.vue';

export const routes = [
  { path: '/', component: Home },
  // A signed-out visitor goes to sign-in and comes back here; a due token is refreshed first.
  { path: '/protected', component: Protected, beforeEnter: authGuard },
];

/**
 * The app's router on `history`: createWebHistory() in the browser (src/main.js),
 * createMemoryHistory() on the server (src/entry-server.js).
 */
export const createAppRouter = (history) => createRouter({ history, routes });
