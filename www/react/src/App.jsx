import { useCallback, useEffect, useState } from 'react';
import { Link, Outlet } from 'react-router';
import { isAuthError } from 'jwt-keeper';
import { useAuth, withAuthenticationRequired } from 'jwt-keeper/react';
import { auth } from './auth.js';

const describe = (e) => (isAuthError(e) ? `${e.code}: ${e.message}` : String(e?.message ?? e));

/** Why the last session ended in this page ('user', 'peer', …), from the client's `logout` event. */
function useLogoutReason() {
  const [reason, setReason] = useState(null);
  useEffect(() => {
    let live = true;
    const offs = [];
    auth.then(
      (client) => {
        if (!live) return;
        offs.push(client.on('logout', (e) => setReason(e.reason)));
        offs.push(client.on('refresh', () => setReason(null)));
      },
      () => {},
    );
    return () => {
      live = false;
      for (const off of offs) off();
    };
  }, []);
  return reason;
}

/** Every page: who is signed in, Sign in / Log out, and the page of the route. */
export function Layout() {
  const { isLoading, isAuthenticated, user, error, loginWithRedirect, logout } = useAuth();
  const reason = useLogoutReason();
  const [actionError, setActionError] = useState(null);
  let status;
  if (isLoading) status = <p id="status">loading…</p>;
  else if (isAuthenticated) status = <p id="status">signed in as {user?.sub}</p>;
  else {
    status = (
      <p id="status">
        signed out{reason && <> (reason: <b id="logout-reason">{reason}</b>)</>}
      </p>
    );
  }
  return (
    <main>
      <h1>jwt-keeper · React</h1>
      <nav>
        <Link to="/">Home</Link> · <Link to="/protected">Protected page</Link>
      </nav>
      {status}
      {!isLoading && !isAuthenticated && (
        <button id="signin" onClick={() => loginWithRedirect().catch((e) => setActionError(describe(e)))}>
          Sign in
        </button>
      )}
      {isAuthenticated && (
        <button id="logout" onClick={() => logout({ returnTo: `${location.origin}/` }).catch((e) => setActionError(describe(e)))}>
          Log out
        </button>
      )}
      {(error || actionError) && (
        <p id="error" role="alert">
          {error ? describe(error) : actionError}
        </p>
      )}
      <Outlet />
    </main>
  );
}

/** GET /api/me with a token from getAccessToken(), which refreshes first when the token is due. */
function Me() {
  const { getAccessToken, user } = useAuth();
  const [{ token, me, error }, setState] = useState({ token: null, me: null, error: null });
  const load = useCallback(
    async (live = () => true) => {
      try {
        const t = await getAccessToken();
        // StrictMode's first, discarded run stops here: one request per sign-in.
        if (!live()) return;
        const response = await fetch('/api/me', { headers: { Authorization: `Bearer ${t}` } });
        const body = await response.json();
        if (!live()) return;
        setState({ token: t, me: response.ok ? body : null, error: response.ok ? null : `${response.status} ${body.error}` });
      } catch (e) {
        if (live()) setState({ token: null, me: null, error: describe(e) });
      }
    },
    [getAccessToken],
  );
  const sub = user?.sub;
  useEffect(() => {
    let live = true;
    load(() => live);
    return () => {
      live = false;
    };
  }, [load, sub]);
  return (
    <section>
      <h2>GET /api/me</h2>
      <pre id="me">{me ? JSON.stringify(me) : error ?? 'loading…'}</pre>
      <h2>Access token (from getAccessToken())</h2>
      <pre id="token" style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-all' }}>{token ?? '–'}</pre>
      <button id="reload" onClick={() => load()}>Call the API again</button>
    </section>
  );
}

export function Home() {
  const { isAuthenticated } = useAuth();
  return isAuthenticated ? <Me /> : <p>Sign in to call the API, or open the protected page.</p>;
}

function ProtectedPage() {
  const { user, claims } = useAuth();
  return (
    <section>
      <h2>Protected page</h2>
      <p id="protected">protected page of {user?.sub}</p>
      <p>access token valid until {claims ? new Date(claims.exp * 1000).toLocaleTimeString() : '–'}</p>
    </section>
  );
}

/** Only for signed-in users: a visitor without a session is sent to sign-in, and back here. */
export const Protected = withAuthenticationRequired(ProtectedPage, {
  onRedirecting: () => <p id="redirecting">checking the session…</p>,
});
