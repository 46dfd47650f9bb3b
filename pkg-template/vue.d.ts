/**
 * jwt-keeper/vue — a Vue 3 (≥ 3.3) plugin around one AuthClient, a reactive read-only view of its
 * session, and a vue-router guard.
 */
import type { App } from 'vue';
import type { AuthClient, AuthClientOptions, AuthError, JwtPayload, LoginOptions, LogoutOptions } from './index.js';

/** The `appState` that {@link authGuard} gives `loginWithRedirect`, and any other the app gives. */
export interface AppState {
  /** Where the guard wants the visitor to land after sign-in (the route's `fullPath`). */
  returnTo?: string;
  [key: string]: unknown;
}

/** The session as components see it; every field is reactive. */
export interface AuthState {
  /** True until the client exists and a sign-in callback in the address (if any) settled; always true on the server. */
  readonly isLoading: boolean;
  /** Whether there is a session (a refresh token counts while the access token is renewed). */
  readonly isAuthenticated: boolean;
  /** The verified ID-token claims (OpenID Connect), or null. Frozen. */
  readonly user: Readonly<JwtPayload> | null;
  /** The verified access-token claims, or null (always null for opaque access tokens). Frozen. */
  readonly claims: Readonly<JwtPayload> | null;
  /**
   * The last failure of creating the client, of the sign-in callback, or of a sign-in the guard
   * started; null again after a sign-in or a refresh.
   */
  readonly error: AuthError | null;
}

/** The client's methods; each waits for the client (and a sign-in callback) first. */
export interface AuthMethods {
  /** A verified access token, refreshed first when due. Rejects `not_authenticated` without a session, `unsupported` on the server. */
  getAccessToken(): Promise<string>;
  /** `fetch` with `Authorization: Bearer`; one refresh and one replay on 401 `invalid_token`. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Signs in at the provider (authorization code + PKCE); navigates away. */
  loginWithRedirect(options?: LoginOptions): Promise<void>;
  /** Ends the session here and in every tab, then at the provider (with `returnTo`). A rejection nobody awaits is not reported. */
  logout(options?: LogoutOptions): Promise<void>;
}

/** What `useAuth()` returns: reactive and read-only. */
export interface Auth extends AuthState, AuthMethods {}

/** The plugin: `app.use(auth)`. Outside components it is the same session (`auth.isAuthenticated`, `auth.getAccessToken()`, …). */
export interface AuthPlugin extends Auth {
  install(app: App): void;
}

/** Options of {@link createAuth} besides the client's. */
export interface CreateAuthOptions<S = AppState> {
  /**
   * Runs once after the plugin handled a sign-in callback, with the `appState` given to
   * `loginWithRedirect` (for the router: `router.replace(appState?.returnTo ?? '/')`).
   * Not called when the callback failed (see `error`).
   */
  onRedirectCallback?: (appState: S | undefined) => void;
}

/**
 * Creates the plugin. `optionsOrClient`: the options of `createAuthClient` (the plugin creates the
 * client once, in the browser), or an AuthClient, or a promise of one, that the app created
 * (to use the client outside components too). In the browser, when `location.search` carries
 * `state` and `code` (or `error`), the plugin calls `handleRedirectCallback()` once, then
 * `onRedirectCallback(appState)`. On the server it creates nothing and touches no browser global.
 * @throws {AuthError} `malformed` for a bad second argument
 */
export function createAuth<S = AppState>(
  optionsOrClient: AuthClientOptions | AuthClient | Promise<AuthClient>,
  options?: CreateAuthOptions<S>,
): AuthPlugin;

/**
 * The session of the app's plugin. Call it in `setup()`; read fields as `auth.user` (or through
 * `toRefs(auth)`), not destructured.
 * @throws {Error} outside a component of an app that installed the plugin
 */
export function useAuth(): Auth;

/**
 * vue-router guard: `beforeEnter: authGuard`, or `router.beforeEach((to) => to.meta.auth ? authGuard(to) : true)`.
 * Waits for the plugin, then `getAccessToken()` (a refresh when the token is due): a token lets
 * the navigation through; `not_authenticated` or `refresh_rejected` (no session) starts
 * `loginWithRedirect({ appState: { returnTo: to.fullPath } })` and stops it; a transient failure
 * (`network`, `timeout`, `bad_response`) lets it through while the session is kept, else stops
 * it without a redirect. On the server it lets the navigation through.
 */
export function authGuard(to: { fullPath: string }): Promise<boolean>;

declare module 'vue' {
  interface ComponentCustomProperties {
    /** The session of the app's jwt-keeper plugin (as `useAuth()`). */
    $auth: Auth;
  }
}
