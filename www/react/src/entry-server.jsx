// The server render of the app (`npm run build:ssr` builds it to dist-server/entry-server.js):
// the same providers and routes as src/main.jsx, with react-router's static handler and router
// in place of the browser router. There is no session on the server, so every page renders its
// loading state (`isLoading`); the browser makes the client and takes over.
import { StrictMode } from 'react';
import { renderToString } from 'react-dom/server';
import { createStaticHandler, createStaticRouter, StaticRouterProvider } from 'react-router';
import { AuthProvider } from 'jwt-keeper/react';
import { auth } from './auth.js';
import { routes } from './routes.jsx';

const handler = createStaticHandler(routes);

/**
 * Renders the page at `url` (a path such as '/protected'). Resolves with
 * `{ status, html }`, or `{ status, location }` when the router answered with a redirect.
 */
export async function render(url, origin = 'http://localhost') {
  const context = await handler.query(new Request(new URL(url, origin)));
  if (context instanceof Response) return { status: context.status, location: context.headers.get('Location') };
  const router = createStaticRouter(handler.dataRoutes, context);
  const html = renderToString(
    <StrictMode>
      <AuthProvider client={auth}>
        <StaticRouterProvider router={router} context={context} hydrate={false} />
      </AuthProvider>
    </StrictMode>,
  );
  return { status: context.statusCode, html };
}
