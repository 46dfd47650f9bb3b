// The demo page: one AuthClient against the local auth server that serves this page, with
// live claims, countdowns, an event log, an API call and buttons that inject server faults.
import init, { createAuthClient, decodeJwt, isAuthError } from '/pkg/index.js';

/** The audience and client id the local auth server issues tokens for (www/server/README.md). */
const AUDIENCE = 'jwt-keeper-demo';
const CLIENT_ID = 'demo-client';
/** `refreshMargin` given to the client (its default). */
const REFRESH_MARGIN_S = 60;
/** The client never refreshes later than this before expiry, whatever `refreshMargin` says. */
const MIN_REFRESH_MARGIN_S = 10;
/** Lifetimes offered by the "Token lifetime" buttons. */
const SHORT_TTL_S = 10;
const NORMAL_TTL_S = 300;
/** How far the "Server clock" buttons move the server's clock. */
const SKEW_S = 2 * 3600;
/** Server time is known to whole seconds only (iat, Date): closer than this counts as in step. */
const CLOCK_RESOLUTION_MS = 2000;
/** Countdowns redraw this often. */
const TICK_MS = 200;
/** Server counters are polled this often (GET /__stats answers even while the server is "down"). */
const STATS_POLL_MS = 1000;
/** The log keeps this many entries. */
const LOG_LIMIT = 300;

const $ = (selector) => document.querySelector(selector);
/** This page without query or fragment: where sign-in and the provider's logout return. */
const HERE = `${location.origin}${location.pathname}`;

/** Creates an element with attributes and children (strings become text nodes, never HTML). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  el.append(...children);
  return el;
}

// ---- event log ----------------------------------------------------------------------------

function clock(ms) {
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Adds one line to the event log; `type` is refresh, error, logout, api, control or info. */
function log(type, text) {
  const list = $('#log');
  list.prepend(h('li', { 'data-type': type }, h('time', {}, clock(Date.now())), h('span', { class: 'type' }, type), h('span', {}, text)));
  while (list.children.length > LOG_LIMIT) list.lastElementChild.remove();
}

const describe = (e) => (isAuthError(e) ? `AuthError ${e.code}: ${e.message}` : String(e?.message ?? e));

// ---- durations ----------------------------------------------------------------------------

function duration(ms) {
  const sign = ms < 0 ? '−' : '';
  const s = Math.abs(ms) / 1000;
  if (s < 60) return `${sign}${s.toFixed(1)} s`;
  if (s < 3600) return `${sign}${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
  const m = Math.round(s / 60);
  return `${sign}${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

// ---- the auth server -----------------------------------------------------------------------

/** The issuer this server names itself (the client finds the rest by discovery). */
async function serverIssuer() {
  const meta = await fetch('/.well-known/oauth-authorization-server').then((r) => r.json());
  return meta.issuer;
}

async function control(action, ...args) {
  const response = await fetch('/__control', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ action, args }),
  });
  if (!response.ok) throw new Error(`/__control ${action} answered ${response.status}`);
  return (await response.json()).results?.[0] ?? null;
}

async function pollStats() {
  try {
    const s = await (await fetch('/__stats')).json();
    $('#stats').textContent =
      `server: sign-ins ${s.codeExchanges} · refresh requests ${s.refreshRequests} ` +
      `(ok ${s.refreshSuccesses}, failed ${s.refreshFailures}) · API calls ${s.apiCalls} (401: ${s.api401})`;
  } catch {
    $('#stats').textContent = 'server: unreachable';
  }
}

// ---- page state ----------------------------------------------------------------------------

const state = {
  /** The access token last seen: from sign-in, a `refresh` event or getAccessToken(). */
  token: null,
  /** When the client will retry a failed refresh (local ms), from the last `error` event. */
  retryAt: null,
  /** Whether the last refresh failed without a retry planned. */
  stalled: false,
};

function clearRetry() {
  state.retryAt = null;
  state.stalled = false;
}

/** The DPoP switch: kept in this origin's localStorage, applied at load (a client is made once). */
const DPOP_SETTING = 'jwt-keeper-demo:dpop';
const dpop = (() => {
  try {
    return localStorage.getItem(DPOP_SETTING) === 'on';
  } catch {
    return false;
  }
})();
$('#dpop').checked = dpop;
$('#api-scheme').textContent = dpop ? 'DPoP-bound' : 'Bearer';
$('#dpop').addEventListener('change', (event) => {
  try {
    localStorage.setItem(DPOP_SETTING, event.target.checked ? 'on' : 'off');
  } catch {
    // storage refused: the switch cannot stick
  }
  location.reload();
});

const issuer = await serverIssuer();
// decodeJwt (the header panel) is synchronous: it needs the verifier loaded first.
await init();
// Keys and the endpoints come from the server's OpenID Connect discovery document.
const client = await createAuthClient({
  issuer,
  clientId: CLIENT_ID,
  audience: AUDIENCE,
  redirectUri: HERE,
  refreshMargin: REFRESH_MARGIN_S,
  persist: 'local',
  dpop,
});
if (dpop) log('dpop', 'tokens are bound to this browser\'s key (IndexedDB, not extractable); every token request and API call carries a proof');

client.on('refresh', ({ accessToken, expiresAt, source }) => {
  clearRetry();
  state.token = accessToken;
  const from = source === 'peer' ? ' (from another tab)' : '';
  log('refresh', `new access token${from}, expires in ${duration(expiresAt - Date.now())}`);
  renderSession();
});
client.on('error', ({ error, willRetry, retryInMs }) => {
  state.retryAt = willRetry && retryInMs !== undefined ? Date.now() + retryInMs : null;
  state.stalled = !willRetry;
  const next = willRetry ? `will retry in ${duration(retryInMs ?? 0)}` : 'will not retry';
  log('error', `refresh failed: ${error.code} (${error.message}); session kept, ${next}`);
  renderSession();
});
client.on('logout', ({ reason }) => {
  clearRetry();
  state.token = null;
  log('logout', `session ended: reason ${reason}`);
  renderSession();
});

// ---- rendering -----------------------------------------------------------------------------

function claimRows(claims) {
  const rows = Object.entries(claims).map(([name, value]) => {
    let shown = typeof value === 'string' ? value : JSON.stringify(value);
    if ((name === 'exp' || name === 'iat' || name === 'nbf') && typeof value === 'number') {
      shown = `${value}  (${new Date(value * 1000).toISOString().replace('.000Z', 'Z')}, server time)`;
    }
    return h('tr', {}, h('td', {}, name), h('td', { class: 'mono' }, shown));
  });
  return h('tbody', {}, ...rows);
}

/** Redraws what changes with the session (claims, header, token); timers redraw on their own. */
function renderSession() {
  const claims = client.claims;
  const status = $('#status');
  status.dataset.state = claims ? 'in' : 'out';
  status.textContent = claims ? `signed in as ${claims.sub}` : 'signed out';
  $('#logout').disabled = !claims;
  $('#logout-provider').disabled = !claims;
  $('#refresh-now').disabled = !claims;
  if (!claims) {
    $('#claims').replaceChildren(h('tbody', {}, h('tr', {}, h('td', { class: 'muted' }, 'no session'))));
    $('#header').textContent = '–';
    $('#token').textContent = '–';
    renderTimers();
    return;
  }
  $('#claims').replaceChildren(claimRows(claims));
  // RFC 9449 §6.1: the verified token names the key it is bound to (its RFC 7638 thumbprint).
  $('#dpop-key').textContent = dpop && typeof claims.cnf?.jkt === 'string' ? `bound to key ${claims.cnf.jkt.slice(0, 12)}…` : '';
  const token = state.token ?? '';
  $('#token').textContent = token || '(not read yet)';
  try {
    $('#header').textContent = token ? JSON.stringify(decodeJwt(token).header, null, 2) : '–';
  } catch (e) {
    $('#header').textContent = describe(e);
  }
  renderTimers();
}

function renderTimers() {
  const expiresIn = $('#expires-in');
  const refreshIn = $('#refresh-in');
  const offset = $('#server-offset');
  const bar = $('#lifetime-bar');
  const claims = client.claims;
  const expiresAt = client.expiresAt;
  if (!claims || expiresAt === null) {
    for (const el of [expiresIn, refreshIn, offset]) {
      el.textContent = '–';
      delete el.dataset.state;
    }
    bar.querySelector('.fill').style.width = '0';
    bar.querySelector('.mark').style.left = '0';
    return;
  }
  const now = Date.now();
  const left = expiresAt - now;
  const lifetime = typeof claims.iat === 'number' ? (claims.exp - claims.iat) * 1000 : Math.max(left, 0);
  const margin = Math.min(Math.max(REFRESH_MARGIN_S, MIN_REFRESH_MARGIN_S) * 1000, lifetime / 2);
  const due = expiresAt - margin;

  expiresIn.textContent = left > 0 ? duration(left) : `expired ${duration(-left)} ago`;
  expiresIn.dataset.state = left <= 0 ? 'bad' : left <= margin ? 'warn' : '';

  if (state.retryAt !== null) {
    refreshIn.textContent = `retry in ${duration(Math.max(state.retryAt - now, 0))}`;
    refreshIn.dataset.state = 'warn';
  } else if (state.stalled) {
    refreshIn.textContent = 'failed, not retrying';
    refreshIn.dataset.state = 'bad';
  } else {
    refreshIn.textContent = due > now ? `in ${duration(due - now)}` : 'due now';
    refreshIn.dataset.state = due > now ? '' : 'warn';
  }

  // exp is on the server's clock, expiresAt on this machine's: the client measured the gap
  // (from iat and the Date header, both whole seconds).
  const skew = claims.exp * 1000 - expiresAt;
  offset.textContent = Math.abs(skew) < CLOCK_RESOLUTION_MS ? 'in step' : `${skew > 0 ? '+' : ''}${duration(skew)}`;

  const share = (ms) => `${Math.min(Math.max(ms / lifetime, 0), 1) * 100}%`;
  bar.querySelector('.fill').style.width = share(left);
  bar.querySelector('.mark').style.left = share(margin);
}

// ---- actions -------------------------------------------------------------------------------

// Sign-in with redirect: the server's login page, then back here with a code (PKCE).
$('#signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const user = $('#user').value.trim();
  try {
    log('info', `to the login page of the auth server (authorization code + PKCE) as ${user}`);
    await client.loginWithRedirect({ loginHint: user, appState: { user } });
  } catch (e) {
    log('error', `sign-in failed: ${describe(e)}`);
  }
});

// Ends the session in every tab and revokes the refresh token at the server.
$('#logout').addEventListener('click', () => client.logout());

// The same, then the server's end-session page, which sends the browser back here.
$('#logout-provider').addEventListener('click', () => client.logout({ returnTo: HERE }));

$('#refresh-now').addEventListener('click', async () => {
  try {
    await client.refresh();
    log('info', 'client.refresh() resolved');
  } catch (e) {
    log('info', `client.refresh() rejected: ${describe(e)}`);
  }
});

$('#api-call').addEventListener('click', async () => {
  const started = performance.now();
  const took = () => `${Math.round(performance.now() - started)} ms`;
  try {
    const response = await client.fetch('/api/me');
    const text = await response.text();
    let shown = text;
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // not JSON: show as is
    }
    $('#api-result').textContent = `${response.status} ${response.statusText}  (${took()})\n${shown}`;
    log('api', `GET /api/me → ${response.status}`);
  } catch (e) {
    $('#api-result').textContent = `no request sent or no answer (${took()}):\n${describe(e)}`;
    log('api', `GET /api/me failed: ${describe(e)}`);
  }
});

$('#clear-log').addEventListener('click', () => $('#log').replaceChildren());

/** Buttons of one group: pressing one releases the others. */
function press(names) {
  const [on, ...off] = names;
  document.querySelector(`[data-control="${on}"]`).setAttribute('aria-pressed', 'true');
  for (const name of off) document.querySelector(`[data-control="${name}"]`).setAttribute('aria-pressed', 'false');
}

const controls = {
  async 'ttl-short'() {
    await control('setAccessTtl', SHORT_TTL_S);
    press(['ttl-short', 'ttl-normal']);
    log('control', `new access tokens live ${SHORT_TTL_S} s; refreshing now to get one`);
    if (client.isAuthenticated) client.refresh().catch(() => {});
  },
  async 'ttl-normal'() {
    await control('setAccessTtl', NORMAL_TTL_S);
    press(['ttl-normal', 'ttl-short']);
    log('control', `new access tokens live ${NORMAL_TTL_S / 60} min (from the next refresh on)`);
  },
  async down(button) {
    const on = button.getAttribute('aria-pressed') !== 'true';
    await control('down', on);
    button.setAttribute('aria-pressed', String(on));
    log('control', on ? 'server down: every request loses its connection' : 'server up again');
  },
  async 'fail-503'() {
    await control('failNext', 3, 503);
    log('control', 'the next 3 refresh requests answer 503');
  },
  async revoke() {
    await control('revokeAll');
    log('control', 'every refresh token revoked: the next refresh is refused (invalid_grant)');
  },
  async 'rotate-key'() {
    const { kid } = await control('rotateKey');
    // The client reads the JWKS again when a token names a kid it does not know.
    log('control', `server signs with new key ${kid} from now on (old key still published): the next token is adopted after one JWKS read`);
  },
  async 'skew-minus'() {
    await control('setClockSkew', -SKEW_S);
    press(['skew-minus', 'skew-zero', 'skew-plus']);
    log('control', 'server clock 2 h behind this machine (from the next token on)');
  },
  async 'skew-zero'() {
    await control('setClockSkew', 0);
    press(['skew-zero', 'skew-minus', 'skew-plus']);
    log('control', 'server clock exact');
  },
  async 'skew-plus'() {
    await control('setClockSkew', SKEW_S);
    press(['skew-plus', 'skew-zero', 'skew-minus']);
    log('control', 'server clock 2 h ahead of this machine (from the next token on)');
  },
  async 'dpop-nonce'(button) {
    const on = button.getAttribute('aria-pressed') !== 'true';
    await control('requireDpopNonce', on);
    button.setAttribute('aria-pressed', String(on));
    log('control', on ? 'the server demands a DPoP nonce: the next proof without it gets use_dpop_nonce, and one retry' : 'DPoP nonces no longer required');
  },
  async 'dpop-nonce-rotate'() {
    await control('rotateDpopNonce');
    log('control', 'the server\'s DPoP nonce changed: the next proof with the old one is retried once with the new one');
  },
  async reset() {
    await control('reset');
    document.querySelector('[data-control="dpop-nonce"]').setAttribute('aria-pressed', 'false');
    press(['ttl-normal', 'ttl-short']);
    press(['skew-zero', 'skew-minus', 'skew-plus']);
    document.querySelector('[data-control="down"]').setAttribute('aria-pressed', 'false');
    log('control', 'all server faults off');
  },
};

for (const button of document.querySelectorAll('[data-control]')) {
  button.addEventListener('click', () =>
    controls[button.dataset.control](button).catch((e) => log('error', `control failed: ${describe(e)}`)),
  );
}

// ---- start ---------------------------------------------------------------------------------

const params = new URLSearchParams(location.search);
if (params.has('state') || params.has('code') || params.has('error')) {
  // Back from the login page: exchange the code (once), then the address bar is clean again.
  try {
    const { appState } = await client.handleRedirectCallback();
    state.token = await client.getAccessToken();
    log('info', `signed in as ${client.user?.sub ?? appState?.user}: code exchanged with the PKCE verifier, ID token and access token verified`);
  } catch (e) {
    log('error', `sign-in failed: ${describe(e)}${e.error ? ` (${e.error})` : ''}`);
  }
} else if (client.isAuthenticated) {
  log('info', 'session restored from localStorage (its token verified again)');
  // Also gets a current token when the stored one is due, and shows it.
  client.getAccessToken().then(
    (token) => {
      state.token = token;
      renderSession();
    },
    (e) => log('info', `getAccessToken() rejected: ${describe(e)}`),
  );
}
renderSession();
setInterval(renderTimers, TICK_MS);
pollStats();
setInterval(pollStats, STATS_POLL_MS);
document.body.dataset.ready = 'true';
