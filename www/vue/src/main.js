import { createApp } from 'vue';
import { createWebHistory } from 'vue-router';
import { createVueApp } from './app.js';

createVueApp(createApp, createWebHistory()).app.mount('#app');
