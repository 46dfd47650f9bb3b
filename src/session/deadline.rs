//! When to refresh a token and until when to hand it out, on the machine's time line.
//!
//! The expiry itself is placed by the session from the token's signed `exp` (or the shorter
//! `expires_in` of its answer) read against the estimated server clock, never from the token's
//! own `iat`; this module only derives the two deadlines before it.

/// Default refresh margin (`refreshMargin` default of 60 s).
pub const DEFAULT_REFRESH_MARGIN_MS: u64 = 60_000;

/// Smallest configured margin: a token must stay good while it travels to the API, and hidden
/// tabs run timers up to seconds late.
pub const MIN_REFRESH_MARGIN_MS: u64 = 10_000;

/// A token with less validity left than this (or than half its lifetime, for very short ones)
/// is never handed out: it could expire on its way to the API.
pub const MIN_REMAINING_VALIDITY_MS: u64 = 5_000;

/// A token's deadlines on the machine's monotonic time line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadlines {
    /// When the token expires.
    pub(crate) expires_at: u64,
    /// From here on, `getAccessToken()` refreshes first.
    pub(crate) refresh_due: u64,
    /// From here on, the token is never handed out.
    pub(crate) usable_until: u64,
}

impl Deadlines {
    /// The deadlines of a token received at `received` that expires at `expires_at` (both on
    /// the time line). The margin is at most half the lifetime left at receipt, so short tokens
    /// refresh at half-life instead of in a storm.
    pub(crate) fn of(expires_at: u64, received: u64, margin_ms: u64) -> Self {
        let half_life = expires_at.saturating_sub(received) / 2;
        let margin = margin_ms.max(MIN_REFRESH_MARGIN_MS).min(half_life);
        let remaining = MIN_REMAINING_VALIDITY_MS.min(half_life);
        Self {
            expires_at,
            refresh_due: expires_at.saturating_sub(margin),
            usable_until: expires_at.saturating_sub(remaining),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn margins() {
        let d = Deadlines::of(NOW + 3_600_000, NOW, 60_000);
        assert_eq!(d.refresh_due, NOW + 3_600_000 - 60_000);
        assert_eq!(d.usable_until, NOW + 3_600_000 - MIN_REMAINING_VALIDITY_MS);
    }

    #[test]
    fn short_tokens_refresh_at_half_life_not_in_a_storm() {
        let d = Deadlines::of(NOW + 5_000, NOW, 60_000);
        assert_eq!(d.refresh_due, NOW + 2_500);
        assert_eq!(d.usable_until, NOW + 2_500);
    }

    #[test]
    fn the_margin_has_a_floor() {
        let d = Deadlines::of(NOW + 3_600_000, NOW, 0);
        assert_eq!(d.refresh_due, NOW + 3_600_000 - MIN_REFRESH_MARGIN_MS);
        assert!(d.refresh_due <= d.usable_until);
    }

    #[test]
    fn expired_on_receipt_is_dead() {
        let d = Deadlines::of(NOW - 1, NOW, 60_000);
        assert!(d.usable_until <= NOW && d.refresh_due <= NOW);
        let d = Deadlines::of(u64::MAX, 0, u64::MAX);
        assert!(d.refresh_due <= d.usable_until && d.usable_until <= d.expires_at);
    }
}
