import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { auth, sessionStore } from './auth.js';
import { App } from './App.jsx';

const client = await auth;
const store = sessionStore(client);

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App client={client} store={store} />
  </StrictMode>,
);
