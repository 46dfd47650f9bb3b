//! What goes into the session machine ([`Input`], [`Tokens`], [`RefreshOutcome`]) and what comes
//! out of it ([`Action`], [`Event`], [`Broadcast`]).

use alloc::string::String;

use crate::error::Error;

use super::backoff::DEFAULT_MAX_BACKOFF_MS;
use super::deadline::DEFAULT_REFRESH_MARGIN_MS;

/// Settings of a session, fixed for its life. Values out of range are clamped by
/// [`Session::new`](super::Session::new), never rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// How long before expiry to refresh (`refreshMargin` × 1000). Default
    /// [`DEFAULT_REFRESH_MARGIN_MS`]; raised to at least
    /// [`MIN_REFRESH_MARGIN_MS`](super::MIN_REFRESH_MARGIN_MS); for each token, lowered to at
    /// most half its lifetime.
    pub refresh_margin_ms: u64,
    /// A refresh endpoint is configured (`refresh.url`). Without it the session simply ends
    /// (`session_expired`) when the access token does. Default `true`.
    pub can_refresh: bool,
    /// `refresh.style: 'cookie'`: the refresh token lives in an HttpOnly cookie, so a refresh is
    /// possible without one in memory, and any refresh token handed to the machine is dropped.
    /// Default `false`.
    pub refresh_token_in_cookie: bool,
    /// Tolerance for `exp`/`nbf` when judging tokens (`leeway`, seconds). Default 30.
    pub leeway_s: u64,
    /// Cap of the retry backoff ceiling. Default [`DEFAULT_MAX_BACKOFF_MS`]; raised to at least
    /// [`BACKOFF_BASE_MS`](super::BACKOFF_BASE_MS).
    pub max_backoff_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            refresh_margin_ms: DEFAULT_REFRESH_MARGIN_MS,
            can_refresh: true,
            refresh_token_in_cookie: false,
            leeway_s: crate::verify::DEFAULT_LEEWAY_S,
            max_backoff_ms: DEFAULT_MAX_BACKOFF_MS,
        }
    }
}

/// A token set the core has verified (signature, `alg`, claims). Every time in it is on the
/// server's clock and comes from the signed token, except `expires_by_s`, which can only
/// shorten its life. This is also what is stored and shared with other tabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The compact JWS access token.
    pub access_token: String,
    /// The refresh token, if the refresh style keeps one in JS (`oauth2`, `json`). In a refresh
    /// result, `None` means "not rotated": the machine keeps the one it has.
    pub refresh_token: Option<String>,
    /// The token's `exp` claim (seconds, server clock).
    pub exp_s: u64,
    /// The token's `iat` claim, if any (seconds, server clock).
    pub iat_s: Option<u64>,
    /// The token's `nbf` claim, if any (seconds, server clock).
    pub nbf_s: Option<u64>,
    /// An earlier end than `exp` (seconds, server clock): `expires_in` of the answer that
    /// brought the token, placed on the estimated server clock at receipt.
    pub expires_by_s: Option<u64>,
    /// The verified OpenID Connect ID token that came with it (or earlier), if any.
    pub id_token: Option<String>,
}

impl Tokens {
    /// When the token dies on the server's clock (seconds): `exp`, or `expires_by_s` if earlier.
    pub fn dies_at_s(&self) -> u64 {
        self.expires_by_s.map_or(self.exp_s, |e| e.min(self.exp_s))
    }
}

/// Names one call of the app that waits for an answer (`getAccessToken()`, `refresh()`, or a
/// `fetch` replay). The driver picks the numbers; the machine answers each exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallId(pub u64);

/// Names one refresh request. Hand it back in [`Input::RefreshDone`]; results of requests the
/// machine has cancelled or no longer expects are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefreshId(pub(crate) u64);

impl RefreshId {
    /// The number inside, for logs.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// How a refresh request ended, as classified by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// A token response whose access token verified.
    Success(Tokens),
    /// Network error, timeout, 5xx, 429 or an unreadable response: the session is kept and the
    /// request retried with backoff. `retry_after_ms` is the response's `Retry-After`, if any.
    Transient {
        /// What went wrong (`network`, `timeout`, `bad_response`).
        error: Error,
        /// The server's `Retry-After`, in ms.
        retry_after_ms: Option<u64>,
    },
    /// A token response whose access token could not be checked now (no way to check its
    /// signature here, the provider's keys unreadable): transient like [`Self::Transient`],
    /// but the rotated refresh token that came with it is kept, as with [`Self::Invalid`].
    Unchecked {
        /// Why it could not be checked (`network`).
        error: Error,
        /// A rotated refresh token that came with it.
        refresh_token: Option<String>,
    },
    /// A definitive answer (`invalid_grant`, `invalid_client`, `unauthorized_client`, 401/403):
    /// ends the session. Report it only after checking that no other tab rotated the refresh
    /// token meanwhile (if one did, feed [`Input::PeerRefreshed`] first: the rejection of the
    /// old token is then ignored).
    Rejected {
        /// The error the waiting calls are rejected with (`refresh_rejected`).
        error: Error,
    },
    /// The response was a token response, but its access token failed verification. The access
    /// token is never adopted; the error is emitted and the refresh retried with backoff.
    Invalid {
        /// The verification error.
        error: Error,
        /// A rotated refresh token that came with it. It is kept: the server has already
        /// retired the one that was sent.
        refresh_token: Option<String>,
    },
    /// The request was not sent: another tab's result made it moot while it waited for the
    /// cross-tab lock.
    Moot,
}

/// Something that happened, fed to [`Session::handle`](super::Session::handle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// `setSession()` (tokens verified and judged fresh): starts a new session, replacing any
    /// current one (no `logout` event for the replaced one), and tells the other tabs.
    SetSession(Tokens),
    /// A session read from storage at start. Not told to the other tabs; with `peers_asked`
    /// (the other tabs were asked for their session), no refresh is sent for
    /// [`PEER_ANSWER_WAIT_MS`](super::PEER_ANSWER_WAIT_MS): a newer session from a live tab
    /// replaces it first, so its possibly rotated refresh token is never sent.
    Restore {
        /// The stored tokens, verified.
        tokens: Tokens,
        /// Whether the other tabs were asked.
        peers_asked: bool,
    },
    /// `getAccessToken()`: answered with a token that is not within the refresh margin of
    /// expiry, refreshing first if needed.
    GetToken {
        /// The call to answer.
        call: CallId,
    },
    /// `refresh()`: answered with the token of the next completed refresh (joining one in
    /// flight). During a retry backoff it is rejected with the last error rather than adding a
    /// request.
    ForceRefresh {
        /// The call to answer.
        call: CallId,
        /// Called from a `refresh` listener: it waits for the next refresh instead of forcing
        /// one, so a listener that refreshes on every refresh cannot loop.
        chained: bool,
    },
    /// The wake timer fired, or `visibilitychange`, `pageshow`, `focus`: re-check deadlines.
    /// Never shortens a retry backoff.
    Wake,
    /// The `online` event: a pending retry after a transient failure goes now, once.
    Online,
    /// The refresh request `id` finished.
    RefreshDone {
        /// From [`Action::SendRefresh`].
        id: RefreshId,
        /// Its classified result.
        outcome: RefreshOutcome,
    },
    /// `client.fetch` got `401` with `WWW-Authenticate: Bearer error="invalid_token"` for a
    /// request sent with `token`. Answered with a token to replay with (once), or rejected:
    /// then the driver hands the 401 response to the app.
    ApiUnauthorized {
        /// The call to answer.
        call: CallId,
        /// The access token the failed request carried.
        token: String,
    },
    /// `logout()`.
    Logout,
    /// Another tab adopted tokens of the shared session by refreshing
    /// ([`Broadcast::Refreshed`]). Adopted if newer than ours; ignored when this tab has no
    /// session (a refresh racing a logout must not log the user back in).
    PeerRefreshed(Tokens),
    /// Another tab started a session ([`Broadcast::Session`]): adopted, replacing ours, unless
    /// ours is newer (a restored tab's old session never replaces a live one).
    PeerSession(Tokens),
    /// Another tab (starting up) asks for the current session: answered with a
    /// [`Broadcast::Refreshed`] of ours, if we have one.
    PeerHello,
    /// Another tab logged out ([`Broadcast::LoggedOut`]).
    PeerLoggedOut,
}

/// What the driver must do, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the refresh request (`refresh_token` is `None` in cookie style), then report its
    /// end with [`Input::RefreshDone`] (the driver's timeout included). Never more than one
    /// is outstanding.
    SendRefresh {
        /// Hand back in [`Input::RefreshDone`].
        id: RefreshId,
        /// The refresh token to send.
        refresh_token: Option<String>,
    },
    /// The request `id` is no longer wanted (session ended or replaced): abort it if possible.
    /// Its result, if reported, is ignored.
    CancelRefresh {
        /// The abandoned request.
        id: RefreshId,
    },
    /// Resolve the call's promise with this access token.
    Resolve {
        /// The call.
        call: CallId,
        /// The token.
        access_token: String,
    },
    /// Reject the call's promise with this error.
    Reject {
        /// The call.
        call: CallId,
        /// The error.
        error: Error,
    },
    /// Dispatch this event to the app's listeners.
    Emit(Event),
    /// Write these tokens to the configured storage (nothing for `'memory'`), replacing what
    /// is there. A failing storage is not the machine's business: ignore the failure.
    Persist(Tokens),
    /// Remove the stored tokens.
    ClearPersist,
    /// Tell the other tabs (with `crossTab`); each feeds the matching `Peer*` input.
    Broadcast(Broadcast),
}

/// A message for the other tabs of the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broadcast {
    /// This tab started a session: peers feed [`Input::PeerSession`].
    Session(Tokens),
    /// This tab adopted refreshed tokens: peers feed [`Input::PeerRefreshed`].
    Refreshed(Tokens),
    /// This tab logged out: peers feed [`Input::PeerLoggedOut`].
    LoggedOut,
}

/// An event for the app's listeners (`client.on(type, …)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `refresh`: new tokens were adopted.
    Refresh {
        /// The new access token.
        access_token: String,
        /// Its expiry on the local clock (ms since epoch), as `expiresAt`.
        expires_at_ms: u64,
        /// Whether this tab refreshed or adopted another tab's result.
        source: Source,
    },
    /// `logout`: the session ended. Exactly once per session.
    Logout {
        /// Why.
        reason: LogoutReason,
    },
    /// `error`: a refresh failed without ending the session.
    Error {
        /// What failed.
        error: Error,
        /// Whether the machine will try again by itself.
        will_retry: bool,
        /// When, from now.
        retry_in_ms: Option<u64>,
    },
}

/// Where adopted tokens came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// This tab's own refresh.
    SelfTab,
    /// Another tab.
    Peer,
    /// This tab's storage (told to listeners as `self`).
    Restored,
}

impl Source {
    /// The JS string: `"self"` or `"peer"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SelfTab | Self::Restored => "self",
            Self::Peer => "peer",
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutReason {
    /// `logout()` was called.
    User,
    /// The refresh endpoint definitively rejected the refresh token.
    RefreshRejected,
    /// The access token expired and the session cannot be refreshed.
    SessionExpired,
    /// The API called the access token invalid and the session cannot be refreshed.
    InvalidToken,
    /// Another tab logged out.
    Peer,
}

impl LogoutReason {
    /// The JS string used as `reason`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::RefreshRejected => "refresh_rejected",
            Self::SessionExpired => "session_expired",
            Self::InvalidToken => "invalid_token",
            Self::Peer => "peer",
        }
    }
}
