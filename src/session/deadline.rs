//! Where a token's expiry falls on the machine's time line, and when to refresh it.
//!
//! The expiry is computed once, at receipt, from facts that do not depend on the local clock
//! being right: `expires_in` counts from the response, and `exp` is read against a measured
//! server time (`iat` or the response `Date`), not against `Date.now()`. Both measurements are
//! taken before the token reached us, so the result errs late by the response latency at most;
//! [`MIN_REMAINING_VALIDITY_MS`] absorbs that.

use super::clock::{add_signed, signed_diff};
use super::types::Tokens;

/// Default refresh margin (`refreshMargin` default of 60 s).
pub const DEFAULT_REFRESH_MARGIN_MS: u64 = 60_000;

/// Smallest configured margin: a token must stay good while it travels to the API, and hidden
/// tabs run timers up to seconds late.
pub const MIN_REFRESH_MARGIN_MS: u64 = 10_000;

/// A token with less validity left than this (or than half its lifetime, for very short ones)
/// is never handed out: it could expire on its way to the API.
pub const MIN_REMAINING_VALIDITY_MS: u64 = 5_000;

/// Milliseconds per second.
const MS: u64 = 1_000;

/// A token's deadlines on the machine's monotonic time line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadlines {
    /// When the token expires.
    pub(crate) expires_at: u64,
    /// From here on, `getAccessToken()` refreshes first.
    pub(crate) refresh_due: u64,
    /// From here on, the token is never handed out.
    pub(crate) usable_until: u64,
    /// Server time minus monotonic time, if this response measured it.
    pub(crate) offset: Option<i64>,
}

impl Deadlines {
    /// Computes the deadlines of `t`, received at monotonic time `received`.
    ///
    /// `assumed_offset` (server minus monotonic time) is used only when the response carries
    /// no time information at all (no `iat`, no `Date`, no `expires_in`): the last measured
    /// offset, or the local clock's.
    pub(crate) fn of(t: &Tokens, received: u64, margin_ms: u64, assumed_offset: i64) -> Self {
        let exp_ms = t.exp_s.saturating_mul(MS);
        // The latest server time known to have passed before receipt. Both are lower bounds of
        // the server clock at receipt; the larger is the tighter one (and `iat` can be old
        // when a server hands out a cached token).
        let server_s = match (t.iat_s, t.server_date_s) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let measured = server_s.map(|s| signed_diff(s.saturating_mul(MS), received));
        let by_expires_in = t
            .expires_in_s
            .map(|e| received.saturating_add(e.saturating_mul(MS)));
        let by_exp = match (measured, by_expires_in) {
            (Some(off), _) => Some(add_signed(exp_ms, off.saturating_neg())),
            (None, None) => Some(add_signed(exp_ms, assumed_offset.saturating_neg())),
            (None, Some(_)) => None,
        };
        // Both limits hold: a token is dead at the earlier one.
        let expires_at = match (by_exp, by_expires_in) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(received),
        };
        let half_life = expires_at.saturating_sub(received) / 2;
        let margin = margin_ms.max(MIN_REFRESH_MARGIN_MS).min(half_life);
        let remaining = MIN_REMAINING_VALIDITY_MS.min(half_life);
        // Without `iat`/`Date`, `exp - expires_in` is when the server issued the token.
        let offset = measured.or_else(|| {
            t.expires_in_s
                .map(|e| signed_diff(exp_ms.saturating_sub(e.saturating_mul(MS)), received))
        });
        Self {
            expires_at,
            refresh_due: expires_at.saturating_sub(margin),
            usable_until: expires_at.saturating_sub(remaining),
            offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_S: u64 = 1_700_000_000;
    const NOW: u64 = NOW_S * MS;
    const HOUR: u64 = 3_600_000;

    fn tokens(exp_s: u64) -> Tokens {
        Tokens {
            access_token: "a".into(),
            refresh_token: None,
            exp_s,
            iat_s: None,
            expires_in_s: None,
            received_at_ms: 0,
            server_date_s: None,
        }
    }

    #[test]
    fn expires_in_counts_from_receipt_whatever_the_local_clock_says() {
        let mut t = tokens(NOW_S + 3_600);
        t.expires_in_s = Some(3_600);
        // The local clock is 5 hours ahead: receipt at NOW + 5h.
        let d = Deadlines::of(&t, NOW + 5 * HOUR, 60_000, 0);
        assert_eq!(d.expires_at, NOW + 6 * HOUR);
        assert_eq!(d.refresh_due, NOW + 6 * HOUR - 60_000);
        assert_eq!(d.usable_until, NOW + 6 * HOUR - MIN_REMAINING_VALIDITY_MS);
        assert_eq!(
            d.offset,
            Some(-5 * HOUR as i64),
            "exp - expires_in gives the server time"
        );
    }

    #[test]
    fn iat_measures_the_server_clock() {
        let mut t = tokens(NOW_S + 600);
        t.iat_s = Some(NOW_S);
        // Local clock 3 hours behind.
        let d = Deadlines::of(&t, NOW - 3 * HOUR, 60_000, 0);
        assert_eq!(d.expires_at, NOW - 3 * HOUR + 600_000);
        assert_eq!(d.offset, Some(3 * HOUR as i64));
    }

    #[test]
    fn the_later_of_iat_and_date_wins() {
        // A cached token: issued 50 minutes ago, served now.
        let mut t = tokens(NOW_S + 600);
        t.iat_s = Some(NOW_S - 3_000);
        t.server_date_s = Some(NOW_S);
        let d = Deadlines::of(&t, NOW, 60_000, 0);
        assert_eq!(
            d.expires_at,
            NOW + 600_000,
            "not 50 minutes later than the truth"
        );
    }

    #[test]
    fn the_earlier_of_exp_and_expires_in_wins() {
        let mut t = tokens(NOW_S + 300);
        t.iat_s = Some(NOW_S);
        t.expires_in_s = Some(3_600);
        assert_eq!(Deadlines::of(&t, NOW, 60_000, 0).expires_at, NOW + 300_000);
        t.expires_in_s = Some(100);
        assert_eq!(Deadlines::of(&t, NOW, 60_000, 0).expires_at, NOW + 100_000);
    }

    #[test]
    fn without_server_time_the_assumed_offset_is_used() {
        let t = tokens(NOW_S + 600);
        assert_eq!(Deadlines::of(&t, NOW, 60_000, 0).expires_at, NOW + 600_000);
        let d = Deadlines::of(&t, NOW, 60_000, HOUR as i64);
        assert_eq!(d.expires_at, NOW + 600_000 - HOUR);
        assert_eq!(d.offset, None);
    }

    #[test]
    fn short_tokens_refresh_at_half_life_not_in_a_storm() {
        let mut t = tokens(NOW_S + 5);
        t.iat_s = Some(NOW_S);
        let d = Deadlines::of(&t, NOW, 60_000, 0);
        assert_eq!(d.refresh_due, NOW + 2_500);
        assert_eq!(d.usable_until, NOW + 2_500);
    }

    #[test]
    fn the_margin_has_a_floor() {
        let mut t = tokens(NOW_S + 3_600);
        t.iat_s = Some(NOW_S);
        let d = Deadlines::of(&t, NOW, 0, 0);
        assert_eq!(d.refresh_due, NOW + 3_600_000 - MIN_REFRESH_MARGIN_MS);
        assert!(d.refresh_due <= d.usable_until);
    }

    #[test]
    fn a_token_expired_at_issue_is_dead_on_receipt() {
        let mut t = tokens(NOW_S);
        t.iat_s = Some(NOW_S + 10);
        let d = Deadlines::of(&t, NOW, 60_000, 0);
        assert!(d.usable_until <= NOW && d.refresh_due <= NOW);
    }

    #[test]
    fn absurd_values_saturate() {
        let mut t = tokens(u64::MAX);
        t.expires_in_s = Some(u64::MAX);
        t.iat_s = Some(u64::MAX);
        let d = Deadlines::of(&t, u64::MAX, u64::MAX, i64::MIN);
        assert!(d.refresh_due <= d.usable_until && d.usable_until <= d.expires_at);
        let d = Deadlines::of(&tokens(0), 0, 0, i64::MAX);
        assert_eq!(d.expires_at, 0);
    }
}
