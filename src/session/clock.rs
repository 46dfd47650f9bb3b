//! The machine's own clock: the driver's readings turned into a time line that never runs
//! backwards and keeps counting real time when the wall clock is changed.
//!
//! Elapsed time between two inputs is the larger of the wall-clock step (`Date.now()`) and
//! the monotonic step (`performance.now()`, when the driver gives it). The wall clock counts
//! sleep on every platform; the monotonic clock counts real time when the wall clock is set
//! back. A wall clock set ahead counts as elapsed time (it looks exactly like a closed laptop
//! lid, and reading it as elapsed is the safe side: tokens are taken as older, never younger).
//! Without a monotonic reading, a wall clock set back counts as no time passing until the
//! next input.

/// One reading of the driver's clocks, given with every input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// `Date.now()`: milliseconds since the epoch on the local wall clock.
    pub wall_ms: u64,
    /// `performance.now()` truncated to ms, if available: never goes backwards. Only its steps
    /// between inputs are used.
    pub monotonic_ms: Option<u64>,
}

impl From<u64> for Now {
    /// A wall-clock reading alone.
    fn from(wall_ms: u64) -> Self {
        Self {
            wall_ms,
            monotonic_ms: None,
        }
    }
}

/// A monotonic time line fed with the driver's readings.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Clock {
    /// The last wall reading.
    local: u64,
    /// The last monotonic reading, if the driver gives them.
    monotonic: Option<u64>,
    /// The time line at the last reading.
    mono: u64,
    started: bool,
    /// How many steps forward the monotonic clock did not witness (see `observe`).
    jumps: u64,
}

/// A wall step longer than the monotonic step by more than this is a jump, not jitter.
const JUMP_TOLERANCE_MS: u64 = 1_000;

impl Clock {
    /// Records a reading and returns the time line's time for it.
    pub(crate) fn observe(&mut self, now: Now) -> u64 {
        let by_wall = self.peek(now.wall_ms);
        let by_monotonic = match (self.started, self.monotonic, now.monotonic_ms) {
            (true, Some(last), Some(m)) => self.mono.saturating_add(m.saturating_sub(last)),
            _ => by_wall,
        };
        let next = by_wall.max(by_monotonic);
        // A step the monotonic clock did not see may be the wall clock set ahead rather than
        // time passing: what was learned about the server's clock relative to the time line
        // may no longer hold.
        let step = next.saturating_sub(self.mono);
        let seen = by_monotonic.saturating_sub(self.mono);
        let unseen = match (self.started, self.monotonic, now.monotonic_ms) {
            // Without a monotonic clock a long step may be sleep or a jump: assume sleep, which
            // keeps the stricter estimate.
            (true, Some(_), Some(_)) => step.saturating_sub(seen) > JUMP_TOLERANCE_MS,
            _ => false,
        };
        if unseen {
            self.jumps = self.jumps.wrapping_add(1);
        }
        self.mono = next;
        self.local = now.wall_ms;
        self.monotonic = now.monotonic_ms;
        self.started = true;
        self.mono
    }

    /// The time line's time for a wall reading, without recording it.
    pub(crate) fn peek(&self, local_ms: u64) -> u64 {
        if !self.started {
            // The time line starts equal to the wall clock, so both agree until it is set back.
            local_ms
        } else {
            self.mono
                .saturating_add(local_ms.saturating_sub(self.local))
        }
    }

    /// Wall time minus time-line time at the last reading (0 until the wall clock went back).
    pub(crate) fn local_minus_mono(&self) -> i64 {
        signed_diff(self.local, self.mono)
    }

    /// How many forward jumps the monotonic clock did not witness so far.
    pub(crate) fn jumps(&self) -> u64 {
        self.jumps
    }

    /// The time line's time at the last reading.
    pub(crate) fn now(&self) -> u64 {
        self.mono
    }

    /// A time-line time expressed on the wall clock as of the last reading.
    pub(crate) fn local_of(&self, mono_ms: u64) -> u64 {
        add_signed(mono_ms, self.local_minus_mono())
    }
}

/// `a - b` as a signed number, saturating (times are far below 2^63 ms in practice).
pub(crate) fn signed_diff(a: u64, b: u64) -> i64 {
    let a = i64::try_from(a).unwrap_or(i64::MAX);
    let b = i64::try_from(b).unwrap_or(i64::MAX);
    a.saturating_sub(b)
}

/// `a + d`, saturating at 0 and `u64::MAX`.
pub(crate) fn add_signed(a: u64, d: i64) -> u64 {
    if d >= 0 {
        a.saturating_add(d.unsigned_abs())
    } else {
        a.saturating_sub(d.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall(c: &mut Clock, ms: u64) -> u64 {
        c.observe(Now::from(ms))
    }

    fn both(c: &mut Clock, wall_ms: u64, monotonic_ms: u64) -> u64 {
        c.observe(Now {
            wall_ms,
            monotonic_ms: Some(monotonic_ms),
        })
    }

    #[test]
    fn starts_on_the_wall_clock() {
        let mut c = Clock::default();
        assert_eq!(c.peek(5_000), 5_000);
        assert_eq!(wall(&mut c, 5_000), 5_000);
        assert_eq!(wall(&mut c, 7_000), 7_000);
        assert_eq!(c.local_of(9_000), 9_000);
    }

    #[test]
    fn wall_clock_set_back_is_no_time_passing() {
        let mut c = Clock::default();
        wall(&mut c, 10_000_000);
        // Set back one hour: the time line stays put...
        assert_eq!(wall(&mut c, 10_000_000 - 3_600_000), 10_000_000);
        // ...and then moves on with the wall clock.
        assert_eq!(wall(&mut c, 10_000_000 - 3_600_000 + 1_000), 10_001_000);
        // A deadline 5 s ahead on the time line is 5 s ahead on the new wall clock.
        assert_eq!(c.local_of(10_006_000), 10_000_000 - 3_600_000 + 6_000);
    }

    #[test]
    fn the_monotonic_clock_counts_real_time_across_a_wall_clock_set_back() {
        let mut c = Clock::default();
        both(&mut c, 10_000_000, 500);
        // Set back two hours, and one hour passed before the next input.
        assert_eq!(
            both(&mut c, 10_000_000 - 7_200_000 + 3_600_000, 3_600_500),
            13_600_000
        );
    }

    #[test]
    fn wall_clock_jumps_ahead_count_even_when_the_monotonic_clock_slept() {
        let mut c = Clock::default();
        both(&mut c, 1_000, 10);
        // Suspended two hours; this monotonic clock stopped meanwhile.
        assert_eq!(both(&mut c, 1_000 + 7_200_000, 20), 7_201_000);
        // A monotonic reading appearing or disappearing is harmless.
        assert_eq!(wall(&mut c, 7_202_000), 7_202_000);
        assert_eq!(both(&mut c, 7_203_000, 5), 7_203_000);
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(add_signed(5, -10), 0);
        assert_eq!(add_signed(u64::MAX, 10), u64::MAX);
        assert_eq!(signed_diff(u64::MAX, 0), i64::MAX);
        assert_eq!(signed_diff(0, u64::MAX), -i64::MAX);
    }
}
