// A page for tests/e2e-react.test.mjs, built by Vite beside the www/react app (at /probe/):
// an <AuthProvider options={…}> that makes its own client, under StrictMode, which the test
// unmounts and mounts again (#toggle). What onRedirectCallback got is kept in
// `window.redirects`.
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { AuthProvider, useAuth } from 'jwt-keeper/react';

const redirects = [];
window.redirects = redirects;

function Status() {
  const { isLoading, isAuthenticated, user, error, loginWithRedirect } = useAuth();
  let status = 'signed out';
  if (isLoading) status = 'loading';
  else if (isAuthenticated) status = `signed in as ${user?.sub}`;
  return (
    <>
      <p id="status">{status}</p>
      {error && <p id="error">{error.code}</p>}
      <button id="signin" onClick={() => loginWithRedirect({ appState: { n: 7 } })}>Sign in</button>
    </>
  );
}

function Root({ options }) {
  const [mounted, setMounted] = useState(true);
  return (
    <>
      <button id="toggle" onClick={() => setMounted((m) => !m)}>{mounted ? 'Unmount' : 'Mount'} the provider</button>
      {mounted && (
        <AuthProvider options={options} onRedirectCallback={(appState) => redirects.push(appState)}>
          <Status />
        </AuthProvider>
      )}
    </>
  );
}

fetch('/.well-known/openid-configuration')
  .then((r) => r.json())
  .then(({ issuer }) => {
    const options = {
      issuer,
      clientId: 'demo-client',
      audience: 'jwt-keeper-demo',
      persist: 'local',
      redirectUri: `${location.origin}/probe/index.html`,
    };
    createRoot(document.getElementById('root')).render(
      <StrictMode>
        <Root options={options} />
      </StrictMode>,
    );
  });
