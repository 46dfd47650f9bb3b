// The app's routes, shared by the browser (src/main.jsx, createBrowserRouter) and the server
// render (src/entry-server.jsx, react-router's static handler and router).
import { Home, Layout, Protected } from './App.jsx';

export const routes = [
  {
    path: '/',
    Component: Layout,
    children: [
      { index: true, Component: Home },
      { path: 'protected', Component: Protected },
    ],
  },
];
