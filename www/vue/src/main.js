import { createApp } from 'vue';
import { auth } from './auth.js';
import App from './App.vue';

const client = await auth;
createApp(App, { client }).mount('#app');
