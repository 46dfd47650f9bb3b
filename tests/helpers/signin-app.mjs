// The sign-in test app (tests/pages/signin/) driven from Node: opening it with client options,
// waiting until it is ready, reading its snapshot, and signing in through the local auth
// server's login page or oidc-provider's own login and consent pages. Shared by the sign-in and
// DPoP end-to-end tests.
import { withContext } from './browser.mjs';
import { ROOT } from './paths.mjs';
import { startAuthServer } from '../../www/server/auth-server.mjs';

export const PAGE = '/tests/pages/signin/index.html';

/** Resolves once the app has set up its client (a callback in the address is handled by then). */
export const ready = (page) => page.waitForFunction(() => window.appReady === true, null, { timeout: 20_000 });

/** What the app exposes as data: `{ isAuthenticated, user, claims, events, callbacks, address, addressAfter, error }`. */
export const snapshot = (page) => page.evaluate(() => window.snapshot());

/**
 * Opens the test app at `url` in `context` with `config` ({ options, once }) for its client,
 * and waits until it is ready. `initScript` (a function, or `[function, arg]`) runs in the page
 * before the app. Resolves `{ page, errors }` (uncaught page errors).
 */
export async function openApp(context, url, config, { initScript } = {}) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  if (initScript) await page.addInitScript(...[initScript].flat());
  await page.addInitScript((c) => sessionStorage.setItem('signin-test', JSON.stringify(c)), config);
  await page.goto(url);
  await ready(page);
  return { page, errors };
}

/** Calls loginWithRedirect in the page (it navigates away) and waits for the provider's page. */
export async function startLogin(page, options, providerUrl) {
  await page.evaluate((o) => {
    window.app.client.loginWithRedirect(o).catch((e) => {
      window.loginError = e.code;
    });
  }, options);
  await page.waitForURL((u) => u.href.startsWith(providerUrl), { timeout: 20_000 });
}

/** After the provider redirected back: the app handled the callback. Resolves its snapshot. */
export async function backAtApp(page, appUrl) {
  await page.waitForURL((u) => u.href.startsWith(appUrl), { timeout: 20_000 });
  await ready(page);
  return snapshot(page);
}

// ---- the local auth server ----

/** The local auth server serving the repository (the app's page and pkg/), with `options`. */
export const startLocal = (options = {}) => startAuthServer({ port: 0, staticDir: ROOT, ...options });

/** Client options for the local server and the app's page. */
export function localOptions(server, extra = {}) {
  return {
    issuer: server.issuer,
    clientId: server.clientId,
    audience: server.audience,
    redirectUri: `${server.url}${PAGE}`,
    ...extra,
  };
}

/**
 * Runs `fn({ server, context, appUrl, options, page, errors })` with a fresh local server
 * (`serverOptions`) and a fresh context of `browser`, the test app open on it with client
 * options `extra` (`once`: one callback call, not two as React StrictMode makes).
 */
export async function withLocalApp(browser, { extra = {}, once = false, serverOptions = {} } = {}, fn) {
  const server = await startLocal(serverOptions);
  try {
    return await withContext(browser, async (context) => {
      const appUrl = `${server.url}${PAGE}`;
      const options = localOptions(server, extra);
      const { page, errors } = await openApp(context, appUrl, { options, once });
      return await fn({ server, context, appUrl, options, page, errors });
    });
  } finally {
    await server.close();
  }
}

/** Signs in through the local server's login page as `user`. Resolves the app's snapshot. */
export async function signInLocally(page, server, { user = 'alice', appState } = {}) {
  await startLogin(page, { appState }, `${server.url}/authorize`);
  await page.fill('#username', user);
  await page.click('#sign-in');
  return backAtApp(page, `${server.url}${PAGE}`);
}

/** The refresh token of the session stored in the page's localStorage (`persist: 'local'`). */
export const storedRefreshToken = (page) =>
  page.evaluate(() => {
    for (let i = 0; i < localStorage.length; i += 1) {
      const record = JSON.parse(localStorage.getItem(localStorage.key(i)));
      if (record?.rt) return record.rt;
    }
    return null;
  });

// ---- oidc-provider ----

/** On oidc-provider's own development pages: signs in as `login` (any password), then consents. */
export async function passOidcProviderPages(page, login) {
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', 'any-password');
  await page.click('button[type="submit"]');
  await page.waitForSelector('button[type="submit"]');
  await page.click('button[type="submit"]');
}
