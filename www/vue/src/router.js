import { createRouter, createWebHistory } from 'vue-router';
import { authGuard } from 'jwt-keeper/vue';
import Home from './views/Home.vue';
import Protected from './views/Protected.vue';

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', component: Home },
    // A signed-out visitor goes to sign-in and comes back here; a due token is refreshed first.
    { path: '/protected', component: Protected, beforeEnter: authGuard },
  ],
});
