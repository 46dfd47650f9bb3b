import { useCallback, useEffect, useState, useSyncExternalStore } from 'react';
import { isAuthError } from 'jwt-keeper';
import { login } from './auth.js';

const describe = (e) => (isAuthError(e) ? `${e.code}: ${e.message}` : String(e?.message ?? e));

/** Calls GET /api/me with a token from getAccessToken(), which refreshes first when due. */
function useMe(client, session) {
  const [state, setState] = useState({ token: null, me: null, error: null });
  const load = useCallback(async () => {
    try {
      const token = await client.getAccessToken();
      const response = await fetch('/api/me', { headers: { Authorization: `Bearer ${token}` } });
      const me = await response.json();
      setState({ token, me: response.ok ? me : null, error: response.ok ? null : `${response.status} ${me.error}` });
    } catch (e) {
      setState({ token: null, me: null, error: describe(e) });
    }
  }, [client]);
  useEffect(() => {
    if (session.isAuthenticated) load();
    else setState({ token: null, me: null, error: null });
  }, [session.isAuthenticated, load]);
  return [state, load];
}

export function App({ client, store }) {
  const session = useSyncExternalStore(store.subscribe, store.getSnapshot);
  const [{ token, me, error }, reload] = useMe(client, session);
  const [user, setUser] = useState('alice');
  const [signInError, setSignInError] = useState(null);

  async function signIn(event) {
    event.preventDefault();
    try {
      const body = await login(user);
      await client.setSession({ accessToken: body.access_token, refreshToken: body.refresh_token, expiresIn: body.expires_in });
      setSignInError(null);
    } catch (e) {
      setSignInError(describe(e));
    }
  }

  if (!session.isAuthenticated) {
    return (
      <main>
        <h1>jwt-keeper · React</h1>
        <p id="status">
          signed out{session.logoutReason && <> (reason: <b id="logout-reason">{session.logoutReason}</b>)</>}
        </p>
        <form onSubmit={signIn}>
          <input aria-label="user" value={user} onChange={(e) => setUser(e.target.value)} />
          <button id="signin" type="submit">Sign in</button>
        </form>
        {signInError && <p role="alert">{signInError}</p>}
      </main>
    );
  }
  return (
    <main>
      <h1>jwt-keeper · React</h1>
      <p id="status">signed in as {session.claims?.sub}</p>
      <p>token expires at {new Date(session.expiresAt).toLocaleTimeString()}</p>
      <h2>GET /api/me</h2>
      <pre id="me">{me ? JSON.stringify(me) : error ?? 'loading…'}</pre>
      <h2>Access token (from getAccessToken())</h2>
      <pre id="token" style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-all' }}>{token ?? '–'}</pre>
      <button id="reload" onClick={reload}>Call the API again</button>{' '}
      <button id="logout" onClick={() => client.logout()}>Log out</button>
    </main>
  );
}
