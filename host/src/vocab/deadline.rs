//! A call's deadline: fixed when the call starts, pushed back by the time
//! the call spends waiting for a person to answer a prompt, which is not the
//! skill's time to spend.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// The instant deadlines count from.
static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Shared by the call, its epoch callback and its consent broker.
#[derive(Debug, Clone)]
pub struct Deadline {
    /// Nanoseconds after `START`.
    at: Arc<AtomicU64>,
}

impl Deadline {
    pub fn after(timeout: Duration) -> Deadline {
        let at = (Instant::now() + timeout).saturating_duration_since(*START);
        Deadline {
            at: Arc::new(AtomicU64::new(at.as_nanos() as u64)),
        }
    }

    pub fn instant(&self) -> Instant {
        *START + Duration::from_nanos(self.at.load(Ordering::Relaxed))
    }

    pub fn has_passed(&self) -> bool {
        Instant::now() >= self.instant()
    }

    /// Push the deadline back by `by`.
    pub fn extend(&self, by: Duration) {
        self.at.fetch_add(by.as_nanos() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extends() {
        let deadline = Deadline::after(Duration::from_millis(50));
        assert!(!deadline.has_passed());
        let before = deadline.instant();
        deadline.extend(Duration::from_secs(1));
        assert_eq!(deadline.instant() - before, Duration::from_secs(1));
    }
}
