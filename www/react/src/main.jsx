import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router';
import { AuthProvider } from 'jwt-keeper/react';
import { auth } from './auth.js';
import { routes } from './routes.jsx';

const router = createBrowserRouter(routes);

/** After a sign-in: back to the page that asked for it (only a path of this app). */
function onRedirectCallback(appState) {
  const to = appState?.returnTo;
  router.navigate(typeof to === 'string' && to.startsWith('/') && !to.startsWith('//') ? to : '/', { replace: true });
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <AuthProvider client={auth} onRedirectCallback={onRedirectCallback}>
      <RouterProvider router={router} />
    </AuthProvider>
  </StrictMode>,
);
