//! Retry delays after transient refresh failures: exponential backoff with full jitter, and the
//! small deterministic random generator that draws the jitter (seeded by the driver, so tests
//! and simulations replay exactly).

/// First backoff ceiling: the first retry comes within about a second.
pub const BACKOFF_BASE_MS: u64 = 1_000;

/// Default cap of the backoff ceiling: a session that keeps failing still retries every minute.
pub const DEFAULT_MAX_BACKOFF_MS: u64 = 60_000;

/// Floor added under the jitter: a failing endpoint is never hit twice back to back, even when
/// the jitter draws zero.
pub const MIN_RETRY_DELAY_MS: u64 = 500;

/// Largest `Retry-After` honoured (the one cap, also applied when the header is read): a wrong
/// header must not park a session for hours.
pub const MAX_RETRY_AFTER_MS: u64 = 300_000;

/// Doublings after which the ceiling stops growing (the cap is reached long before; this only
/// keeps the shift in range).
const MAX_BACKOFF_DOUBLINGS: u32 = 32;

/// SplitMix64: tiny, fast, and good enough for jitter (not for secrets).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..=max` (the modulo bias is irrelevant for jitter).
    pub(crate) fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(n) => self.next_u64() % n,
            None => self.next_u64(),
        }
    }
}

/// The backoff ceiling after `failures` consecutive failures (1 = the first failure):
/// `min(max_backoff, BACKOFF_BASE_MS * 2^(failures-1))`.
pub(crate) fn ceiling(failures: u32, max_backoff_ms: u64) -> u64 {
    let doublings = failures.saturating_sub(1).min(MAX_BACKOFF_DOUBLINGS);
    BACKOFF_BASE_MS
        .saturating_mul(1u64 << doublings)
        .min(max_backoff_ms)
}

/// The delay before the next attempt: `MIN_RETRY_DELAY_MS + random[0, ceiling]`, and at least
/// the server's `Retry-After` (capped at [`MAX_RETRY_AFTER_MS`]).
pub(crate) fn retry_delay(
    failures: u32,
    max_backoff_ms: u64,
    retry_after_ms: Option<u64>,
    rng: &mut Rng,
) -> u64 {
    let jittered = MIN_RETRY_DELAY_MS.saturating_add(rng.up_to(ceiling(failures, max_backoff_ms)));
    match retry_after_ms {
        Some(r) => jittered.max(r.min(MAX_RETRY_AFTER_MS)),
        None => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_the_cap() {
        assert_eq!(ceiling(1, 60_000), 1_000);
        assert_eq!(ceiling(2, 60_000), 2_000);
        assert_eq!(ceiling(6, 60_000), 32_000);
        assert_eq!(ceiling(7, 60_000), 60_000);
        assert_eq!(ceiling(u32::MAX, 60_000), 60_000);
        assert_eq!(ceiling(0, 60_000), 1_000);
    }

    #[test]
    fn delays_stay_in_the_jitter_window_and_spread() {
        let mut rng = Rng::new(7);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..2_000 {
            let d = retry_delay(4, 60_000, None, &mut rng);
            assert!((MIN_RETRY_DELAY_MS..=MIN_RETRY_DELAY_MS + 8_000).contains(&d));
            seen_low |= d < MIN_RETRY_DELAY_MS + 1_000;
            seen_high |= d > MIN_RETRY_DELAY_MS + 7_000;
        }
        assert!(seen_low && seen_high, "full jitter covers the whole window");
    }

    #[test]
    fn retry_after_is_a_lower_bound_with_a_cap() {
        let mut rng = Rng::new(1);
        assert!(retry_delay(1, 60_000, Some(30_000), &mut rng) >= 30_000);
        let d = retry_delay(1, 60_000, Some(86_400_000), &mut rng);
        assert!(
            d <= MAX_RETRY_AFTER_MS,
            "a day-long Retry-After is capped: {d}"
        );
        assert!(d >= MAX_RETRY_AFTER_MS);
    }

    #[test]
    fn same_seed_same_delays() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_eq!(Rng::new(0).up_to(u64::MAX), Rng::new(0).next_u64());
    }
}
