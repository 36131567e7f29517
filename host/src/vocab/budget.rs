//! One call's memory limit, as a budget that the guest and the host draw
//! from together: the guest's linear memory as it grows, the bodies the
//! host reads for it, and a reserve for the resources it holds in the
//! host (header sets, streams, requests), sized for the worst case of each.
//! Whatever the guest does, the host holds no more for it than its limit.

use std::sync::atomic::{AtomicU64, Ordering};

/// Most bytes one header set may hold, as wasmtime-wasi-http counts them
/// (its in-memory size, a little over the wire size). Proxies commonly cap
/// headers at 8 KiB on the wire.
pub(crate) const FIELD_MAP_BYTES: usize = 16 * 1024;

/// The most host memory one resource handle can stand for: a header set at
/// its limit, plus what the table and the resource itself take.
const HANDLE_BYTES: u64 = FIELD_MAP_BYTES as u64 + 1024;

/// The share of a call's memory reserved for its handles: an eighth.
const HANDLE_SHARE: u64 = 8;

/// Fewest and most handles a call may hold at once, whatever its memory.
const MIN_HANDLES: u64 = 32;
const MAX_HANDLES: u64 = 10_000;

#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    /// The handles the reserve pays for.
    handles: u64,
    /// Bytes drawn: the reserve, the guest's memory and the bodies held.
    used: AtomicU64,
}

impl MemoryBudget {
    /// A budget of `limit` bytes, the handles' reserve drawn from it.
    pub fn new(limit: u64) -> MemoryBudget {
        let handles = (limit / HANDLE_SHARE / HANDLE_BYTES).clamp(MIN_HANDLES, MAX_HANDLES);
        MemoryBudget {
            limit,
            handles,
            used: AtomicU64::new(handles * HANDLE_BYTES),
        }
    }

    /// How many resource handles the call may hold at once.
    pub fn handles(&self) -> usize {
        self.handles as usize
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Draw `bytes`, if that many are left.
    pub fn take(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|&after| after <= self.limit)
            })
            .is_ok()
    }

    /// Draw as many of `bytes` as are left; how many that was.
    pub fn take_up_to(&self, bytes: u64) -> u64 {
        let before = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                Some(used + bytes.min(self.limit.saturating_sub(used)))
            })
            .unwrap_or_else(|used| used);
        bytes.min(self.limit.saturating_sub(before))
    }

    /// Give back `bytes` drawn earlier.
    pub fn give_back(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_bodies_and_handles_share_one_limit() {
        let budget = MemoryBudget::new(16 << 20);
        assert_eq!(budget.handles() as u64, (2 << 20) / HANDLE_BYTES);
        let left = (16 << 20) - budget.handles() as u64 * HANDLE_BYTES;
        assert!(budget.take(left - 10));
        assert!(!budget.take(11));
        assert_eq!(budget.take_up_to(100), 10);
        budget.give_back(10);
        assert!(budget.take(10));
        // A tiny limit still has a few handles, all it can afford.
        assert_eq!(MemoryBudget::new(4096).handles(), 32);
        assert!(!MemoryBudget::new(4096).take(1));
    }
}
