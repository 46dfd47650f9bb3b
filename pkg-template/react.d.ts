/**
 * jwt-keeper/react — an `<AuthProvider>`, the `useAuth()` hook and `withAuthenticationRequired`
 * over one {@link AuthClient}. React ≥ 18 is an optional peer dependency.
 */
import type { ComponentType, ReactElement, ReactNode } from 'react';
import type { AuthClient, AuthClientOptions, AuthError, JwtPayload, LoginOptions, LogoutOptions } from './index.js';

/** What `loginWithRedirect({ appState })` carried through the sign-in (the guard sets `returnTo`). */
export interface AppState {
  /** Path and query of the page the guard sent to sign-in. */
  returnTo?: string;
  [member: string]: unknown;
}

interface AuthProviderCommonProps {
  /**
   * Called once after the provider handled a sign-in callback that succeeded, with its
   * `appState`, e.g. to navigate to `appState.returnTo`. Default: nothing (the client has
   * already removed `code` and `state` from the address bar).
   */
  onRedirectCallback?: (appState: AppState | undefined) => void;
  children?: ReactNode;
}

/** Props of {@link AuthProvider}: `options` or `client`, read once when it mounts. */
export type AuthProviderProps = AuthProviderCommonProps &
  (
    | {
        /** Options of `createAuthClient`: the provider makes one client and disposes it on unmount. */
        options: AuthClientOptions;
        client?: undefined;
      }
    | {
        /**
         * A client the app made (or the promise of one), also usable outside components (a
         * router's data loader, a plain module). The provider never disposes it.
         */
        client: AuthClient | PromiseLike<AuthClient>;
        options?: undefined;
      }
  );

/**
 * Provides one AuthClient to its children. It is made at most once (in an effect, so never on
 * the server, and once under StrictMode); on a sign-in callback (`state` with `code` or
 * `error` in `location.search`) the provider calls `handleRedirectCallback()` once, then
 * `onRedirectCallback(appState)`; a failure becomes `error`.
 */
export function AuthProvider(props: AuthProviderProps): ReactElement;

/** What {@link useAuth} returns: the same object until the state changes. */
export interface AuthState {
  /** True until the client exists and a sign-in callback (if any) is settled; always on the server. */
  readonly isLoading: boolean;
  readonly isAuthenticated: boolean;
  /** The verified ID-token claims, or null. */
  readonly user: JwtPayload | null;
  /** The verified access-token claims, or null (always null for opaque tokens). */
  readonly claims: JwtPayload | null;
  /** Why the client could not be made, the sign-in callback failed, or the guard could not sign in; else null. */
  readonly error: AuthError | null;
  /** `client.getAccessToken()`, once the client is ready. */
  getAccessToken(): Promise<string>;
  /** `client.fetch()`, once the client is ready. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** `client.loginWithRedirect()`, once the client is ready. */
  loginWithRedirect(options?: LoginOptions): Promise<void>;
  /** `client.logout()`, once the client is ready; a rejection nobody awaits is not reported. */
  logout(options?: LogoutOptions): Promise<void>;
}

/**
 * The session of the nearest {@link AuthProvider}; re-renders on the client's `refresh` and
 * `logout`. Throws outside a provider.
 */
export function useAuth(): AuthState;

/** Options of {@link withAuthenticationRequired}. */
export interface WithAuthenticationRequiredOptions {
  /** Shown while loading, checking, or on the way to sign-in. Default: nothing. */
  onRedirecting?: () => ReactNode;
  /** Passed to `loginWithRedirect` (after `appState: { returnTo }`, so they may replace it). */
  loginOptions?: LoginOptions;
}

/**
 * `Component` for signed-in users only. It asks `getAccessToken()` first (which refreshes when
 * the token is due): a token shows the page; `not_authenticated` or `refresh_rejected` (no
 * session) sign in with `appState.returnTo` = this page's path and query; a transient failure
 * (`network`, `timeout`, `bad_response`, …) keeps the session and shows the page while
 * `isAuthenticated` holds, and checks again on the next change.
 */
export function withAuthenticationRequired<P extends object>(
  Component: ComponentType<P>,
  options?: WithAuthenticationRequiredOptions,
): ComponentType<P>;
