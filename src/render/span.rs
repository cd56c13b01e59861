//! Rendering a span of frames on a bounded pool and handing them over in order.
//!
//! Up to `window` frames are in flight; finished frames wait in a reorder buffer until
//! every earlier one has been handed over, so memory stays bounded by the window and the
//! consumer (an encoder, a file writer) sees frames in order while the pool stays busy.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::mpsc;

use super::{Frame, Renderer};
use crate::error::{Error, Result};

/// Renders `frames` on `pool` and passes each to `sink` in order. Stops at the first error,
/// from rendering or from the sink.
pub fn render_span(
    renderer: &Renderer,
    frames: Range<u64>,
    pool: &rayon::ThreadPool,
    mut sink: impl FnMut(u64, Frame) -> Result<()>,
) -> Result<()> {
    let window = (pool.current_num_threads() * 2).max(2) as u64;
    let (tx, rx) = mpsc::channel::<(u64, Result<Frame>)>();
    pool.in_place_scope(|scope| {
        let mut next_spawn = frames.start;
        let mut next_emit = frames.start;
        let mut ready: BTreeMap<u64, Frame> = BTreeMap::new();
        let spawn_until = |limit: u64, next_spawn: &mut u64| {
            while *next_spawn < frames.end && *next_spawn < limit {
                let index = *next_spawn;
                let tx = tx.clone();
                scope.spawn(move |_| {
                    // A panic must not leave the consumer waiting for a frame forever.
                    let frame = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        renderer.render_frame(index)
                    }))
                    .unwrap_or_else(|_| {
                        Err(Error::internal(format!("drawing frame {index} panicked")))
                    });
                    // The receiver only goes away after an error; then results are moot.
                    let _ = tx.send((index, frame));
                });
                *next_spawn += 1;
            }
        };
        spawn_until(next_emit + window, &mut next_spawn);
        while next_emit < frames.end {
            let (index, frame) = next_frame(&rx, pool);
            ready.insert(index, frame?);
            while let Some(frame) = ready.remove(&next_emit) {
                sink(next_emit, frame)?;
                next_emit += 1;
            }
            spawn_until(next_emit + window, &mut next_spawn);
        }
        Ok(())
    })
}
/// The next drawn frame. A span rendered from a thread of `pool` itself (a render
/// installed in the pool) must not block that thread: with as many such spans as threads,
/// no thread would be left to draw. It runs the pool's jobs while it waits instead.
fn next_frame(
    rx: &mpsc::Receiver<(u64, Result<Frame>)>,
    pool: &rayon::ThreadPool,
) -> (u64, Result<Frame>) {
    const IN_FLIGHT: &str = "a frame is in flight while frames remain";
    if pool.current_thread_index().is_none() {
        return rx.recv().expect(IN_FLIGHT);
    }
    loop {
        match rx.try_recv() {
            Ok(drawn) => return drawn,
            Err(mpsc::TryRecvError::Disconnected) => panic!("{IN_FLIGHT}"),
            Err(mpsc::TryRecvError::Empty) => {
                if pool.yield_now() != Some(rayon::Yield::Executed) {
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
            }
        }
    }
}
