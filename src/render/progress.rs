//! Counting frames as they finish, for progress bars and progress queries. Shared between
//! the threads that draw and encode; the count only grows.

use std::sync::atomic::{AtomicU64, Ordering};

/// Frames finished out of a total.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    pub fn new(total: u64) -> Self {
        Self {
            done: AtomicU64::new(0),
            total: AtomicU64::new(total),
        }
    }

    /// Records `frames` more finished frames.
    pub fn add(&self, frames: u64) {
        self.done.fetch_add(frames, Ordering::Relaxed);
    }

    /// Frames finished so far, never more than the total once one is set.
    pub fn done(&self) -> u64 {
        let done = self.done.load(Ordering::Relaxed);
        match self.total() {
            0 => done,
            total => done.min(total),
        }
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
}
