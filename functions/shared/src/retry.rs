//! Capped exponential backoff with full jitter, bounded by the Lambda deadline.
//!
//! Attempt `n` (0-based) waits a uniformly random time in `[0, min(cap, base * 2^n)]`
//! ("full jitter"). Retrying stops when the attempts are used up, when the error is not
//! retryable, or when sleeping would leave less than the reserve before the deadline —
//! the function must keep enough time to answer Lambda.

use rand::Rng;
use std::future::Future;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    /// Total attempts including the first one.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(2),
            max_attempts: 5,
        }
    }
}

impl Backoff {
    /// The upper bound of the wait after failed attempt `attempt` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A full-jitter wait after failed attempt `attempt`.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt);
        if ceiling.is_zero() {
            return ceiling;
        }
        Duration::from_nanos(rng.random_range(0..=ceiling.as_nanos() as u64))
    }
}

/// The invocation deadline minus a reserve kept for answering.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    reserve: Duration,
}

impl Deadline {
    /// `reserve` before `at` is the last moment to start more work.
    pub fn new(at: Instant, reserve: Duration) -> Self {
        Self { at, reserve }
    }

    /// From now, `remaining` until the deadline.
    pub fn after(remaining: Duration, reserve: Duration) -> Self {
        Self::new(Instant::now() + remaining, reserve)
    }

    /// From Lambda's context deadline (ms since the epoch).
    pub fn from_epoch_millis(deadline_ms: u64, reserve: Duration) -> Self {
        let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms);
        let remaining = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Self::after(remaining, reserve)
    }

    /// From the invocation's context. A zero deadline (a test context) means 15 minutes.
    pub fn from_context(ctx: &lambda_runtime::Context, reserve: Duration) -> Self {
        if ctx.deadline == 0 {
            Self::after(Duration::from_secs(900), reserve)
        } else {
            Self::from_epoch_millis(ctx.deadline, reserve)
        }
    }

    /// Time left for work (before the reserve).
    pub fn remaining(&self) -> Duration {
        self.at
            .checked_duration_since(Instant::now())
            .unwrap_or(Duration::ZERO)
            .saturating_sub(self.reserve)
    }

    /// Whether waiting `wait` still leaves time for work.
    pub fn allows(&self, wait: Duration) -> bool {
        self.remaining() > wait
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    NotRetryable,
    AttemptsExhausted,
    Deadline,
}

/// The last error and why retrying stopped.
#[derive(Debug, thiserror::Error)]
#[error("{error} (after {attempts} attempt(s); {stopped:?})")]
pub struct RetryFailure<E: std::error::Error + 'static> {
    #[source]
    pub error: E,
    pub attempts: u32,
    pub stopped: StopReason,
}

/// Run `op` until it succeeds, it fails with an error `is_retryable` rejects, the attempts
/// are used up, or the deadline leaves no time for another wait.
pub async fn retry<T, E, F, Fut>(
    backoff: &Backoff,
    deadline: &Deadline,
    is_retryable: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, RetryFailure<E>>
where
    E: std::error::Error + 'static,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        let error = match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let attempts = attempt + 1;
        let stopped = if !is_retryable(&error) {
            Some(StopReason::NotRetryable)
        } else if attempts >= backoff.max_attempts {
            Some(StopReason::AttemptsExhausted)
        } else {
            None
        };
        if let Some(stopped) = stopped {
            return Err(RetryFailure {
                error,
                attempts,
                stopped,
            });
        }
        let wait = backoff.delay(attempt, &mut rand::rng());
        if !deadline.allows(wait) {
            return Err(RetryFailure {
                error,
                attempts,
                stopped: StopReason::Deadline,
            });
        }
        tracing::debug!(
            attempt = attempts,
            wait_ms = wait.as_millis() as u64,
            "retrying after backoff"
        );
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::cell::Cell;

    #[derive(Debug, thiserror::Error, PartialEq)]
    enum Flaky {
        #[error("throttled")]
        Throttled,
        #[error("forbidden")]
        Forbidden,
    }

    fn backoff() -> Backoff {
        Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_attempts: 6,
        }
    }

    #[test]
    fn ceiling_doubles_and_caps() {
        let b = backoff();
        let ceilings: Vec<u64> = (0..6).map(|a| b.ceiling(a).as_millis() as u64).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(
            b.ceiling(200),
            Duration::from_secs(1),
            "no overflow on huge attempts"
        );
    }

    #[test]
    fn delays_stay_within_the_full_jitter_range() {
        let b = backoff();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for attempt in 0..10 {
            let mut seen_low = false;
            for _ in 0..200 {
                let d = b.delay(attempt, &mut rng);
                assert!(
                    d <= b.ceiling(attempt),
                    "{d:?} > ceiling at attempt {attempt}"
                );
                seen_low |= d < b.ceiling(attempt) / 2;
            }
            assert!(
                seen_low,
                "full jitter reaches the lower half at attempt {attempt}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success() {
        let calls = Cell::new(0);
        let result = retry(
            &backoff(),
            &Deadline::after(Duration::from_secs(60), Duration::ZERO),
            |_| true,
            |_| {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 3 {
                        Err(Flaky::Throttled)
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(result, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_after_max_attempts() {
        let calls = Cell::new(0);
        let err = retry(
            &backoff(),
            &Deadline::after(Duration::from_secs(600), Duration::ZERO),
            |_| true,
            |_| {
                calls.set(calls.get() + 1);
                async { Err::<(), _>(Flaky::Throttled) }
            },
        )
        .await
        .unwrap_err();
        assert_eq!(calls.get(), 6);
        assert_eq!(err.attempts, 6);
        assert_eq!(err.stopped, StopReason::AttemptsExhausted);
        assert_eq!(err.error, Flaky::Throttled);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_non_retryable_errors() {
        let calls = Cell::new(0);
        let err = retry(
            &backoff(),
            &Deadline::after(Duration::from_secs(60), Duration::ZERO),
            |e| *e == Flaky::Throttled,
            |_| {
                calls.set(calls.get() + 1);
                async { Err::<(), _>(Flaky::Forbidden) }
            },
        )
        .await
        .unwrap_err();
        assert_eq!(calls.get(), 1);
        assert_eq!(err.stopped, StopReason::NotRetryable);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_before_the_deadline_reserve() {
        // 1.5 s to the deadline, 1 s of it reserved for answering: at most 0.5 s of waits.
        let deadline = Deadline::after(Duration::from_millis(1500), Duration::from_secs(1));
        let start = Instant::now();
        let b = Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_millis(200),
            max_attempts: 100,
        };
        let err = retry(
            &b,
            &deadline,
            |_| true,
            |_| async { Err::<(), _>(Flaky::Throttled) },
        )
        .await
        .unwrap_err();
        assert_eq!(err.stopped, StopReason::Deadline);
        assert!(
            start.elapsed() <= Duration::from_millis(500),
            "waited {:?}",
            start.elapsed()
        );
        assert!(err.attempts > 1);
    }

    #[test]
    fn zero_context_deadline_means_fifteen_minutes() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let d =
                Deadline::from_context(&lambda_runtime::Context::default(), Duration::from_secs(1));
            assert!(d.remaining() > Duration::from_secs(890));
            let past = Deadline::from_epoch_millis(1, Duration::ZERO);
            assert_eq!(past.remaining(), Duration::ZERO);
            assert!(!past.allows(Duration::ZERO));
        });
    }
}
