//! The segment cache: encoded segments kept in memory by what shapes their bytes, shared
//! by every request, mode and token that needs them, and rendered once however many ask.
//!
//! ```text
//! (stream, index) ──▶ key ──▶ cached? ──yes──▶ segment
//!                               │no
//!                               ▼
//!            being rendered? ──yes──▶ wait for that render (single flight)
//!                 │no
//!                 ▼
//!   render permit (one per core) ─▶ draw + encode on a blocking thread ─▶ cache
//! ```
//!
//! A key covers the format version, the movie's content digest, the encoder and its
//! settings, the segment's frames and the values of the params those frames read, so a
//! segment that reads no param is rendered once for every token.
//!
//! A render waiting for its permit is dropped when every asker has given up. Once it
//! holds a permit it runs on a blocking thread to the end of its segment whoever still
//! waits, keeping the permit, and puts the segment in the cache itself: the waste is
//! bounded to one segment per core, and a segment is never rendered twice at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared, WeakShared};
use tokio::sync::Semaphore;

use super::content_etag;
use crate::container::fmp4;
use crate::encode::x264::encode_segments_x264;
use crate::encode::{encode_segment, EncodedSegment, Encoders, Ffmpeg, H264Encoder, H264Settings};
use crate::error::{Error, Result};
use crate::render::{Progress, Renderer};
use crate::segment::{Segment, SegmentKey, SegmentPlan};

/// One encoded segment and its CMAF media fragment, as HLS and DASH serve it.
#[derive(Debug)]
pub struct CachedSegment {
    pub encoded: EncodedSegment,
    pub fragment: Bytes,
    /// The fragment's entity tag.
    pub etag: String,
}

impl CachedSegment {
    fn weight(&self) -> u32 {
        let pictures: usize = self
            .encoded
            .pictures
            .iter()
            .flat_map(|p| &p.nal_units)
            .map(Vec::len)
            .sum();
        u32::try_from(pictures + self.fragment.len()).unwrap_or(u32::MAX)
    }
}

/// What a segment is cut from: a bound movie ready to draw, and the keys of its segments.
#[derive(Debug)]
pub struct SegmentSource {
    pub renderer: Renderer,
    pub plan: SegmentPlan,
    pub settings: H264Settings,
    pub keys: Vec<SegmentKey>,
    /// The movie's whole sound as AAC, encoded on first use (`None`: a silent movie).
    pub sound: tokio::sync::OnceCell<Option<Arc<crate::encode::EncodedAudio>>>,
}

/// Counters of the cache, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentStats {
    /// Segments drawn and encoded.
    pub rendered: u64,
    /// Frames drawn for them.
    pub frames: u64,
    /// Requests answered from memory.
    pub hits: u64,
    /// Bytes held.
    pub bytes: u64,
}

type SharedSegment = Shared<BoxFuture<'static, Result<Arc<CachedSegment>>>>;

/// A render in flight. While it waits for a permit only its askers keep it alive, so it
/// goes when they do; once started it lives until its thread ends.
enum InFlight {
    Waiting(WeakShared<BoxFuture<'static, Result<Arc<CachedSegment>>>>),
    Started(SharedSegment),
}

impl InFlight {
    fn join(&self) -> Option<SharedSegment> {
        match self {
            Self::Waiting(weak) => weak.upgrade(),
            Self::Started(started) => Some(started.clone()),
        }
    }
}

/// Encoded segments by key, weighed by bytes.
pub struct SegmentCache {
    inner: Arc<Inner>,
}

struct Inner {
    segments: moka::sync::Cache<SegmentKey, Arc<CachedSegment>>,
    /// Renders asked for and not finished, by key: the single flight.
    in_flight: Mutex<HashMap<SegmentKey, InFlight>>,
    permits: Arc<Semaphore>,
    encoders: Encoders,
    /// Draws the frames of x264 segments, which go through one FFmpeg process each.
    pool: Arc<rayon::ThreadPool>,
    rendered: AtomicU64,
    frames: AtomicU64,
    hits: AtomicU64,
}

impl std::fmt::Debug for SegmentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentCache")
            .field("entries", &self.inner.segments.entry_count())
            .field("bytes", &self.inner.segments.weighted_size())
            .finish_non_exhaustive()
    }
}

impl SegmentCache {
    /// A cache of at most `budget_bytes` that renders at most `renders_at_once` segments
    /// side by side.
    pub fn new(
        budget_bytes: u64,
        encoders: Encoders,
        pool: Arc<rayon::ThreadPool>,
        renders_at_once: usize,
    ) -> Self {
        let segments = moka::sync::Cache::builder()
            .weigher(|_, segment: &Arc<CachedSegment>| segment.weight())
            .max_capacity(budget_bytes)
            .build();
        Self {
            inner: Arc::new(Inner {
                segments,
                in_flight: Mutex::new(HashMap::new()),
                permits: Arc::new(Semaphore::new(renders_at_once.max(1))),
                encoders,
                pool,
                rendered: AtomicU64::new(0),
                frames: AtomicU64::new(0),
                hits: AtomicU64::new(0),
            }),
        }
    }

    pub fn stats(&self) -> SegmentStats {
        let inner = &self.inner;
        SegmentStats {
            rendered: inner.rendered.load(Ordering::Relaxed),
            frames: inner.frames.load(Ordering::Relaxed),
            hits: inner.hits.load(Ordering::Relaxed),
            bytes: inner.segments.weighted_size(),
        }
    }

    /// The encoder name that segment keys carry: segments are always encoded on their own,
    /// which for x264 gives other bytes than one process over a whole output.
    pub fn encoder_name(&self, settings: &H264Settings) -> String {
        let ffmpeg = self.inner.encoders.ffmpeg.as_ref().map(Ffmpeg::version);
        format!("{}-alone", settings.cache_name(ffmpeg))
    }

    /// Whether the segment of `key` is in memory.
    pub fn contains(&self, key: &SegmentKey) -> bool {
        self.inner.segments.contains_key(key)
    }

    /// Segment `index` of `source`, from memory or rendered once for every concurrent
    /// asker.
    pub async fn get(&self, source: &Arc<SegmentSource>, index: u32) -> Result<Arc<CachedSegment>> {
        let key = *source
            .keys
            .get(index as usize)
            .ok_or_else(|| Error::not_found(format!("the stream has no segment {index}")))?;
        if let Some(hit) = self.inner.segments.get(&key) {
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        let render = {
            let mut in_flight = lock(&self.inner.in_flight);
            // Checked again under the lock: a render may have just finished.
            if let Some(hit) = self.inner.segments.get(&key) {
                return Ok(hit);
            }
            match in_flight.get(&key).and_then(InFlight::join) {
                Some(render) => render,
                None => {
                    let render = render(Arc::clone(&self.inner), Arc::clone(source), index, key)
                        .boxed()
                        .shared();
                    let weak = render
                        .downgrade()
                        .ok_or_else(|| Error::internal("a new render has no handle"))?;
                    in_flight.insert(key, InFlight::Waiting(weak));
                    render
                }
            }
        };
        render.await
    }

    /// Starts rendering segments `indices` of `source` in the background if they are not
    /// cached, so that a player's next requests find them ready.
    pub fn prefetch(&self, source: &Arc<SegmentSource>, indices: std::ops::Range<u32>) {
        for index in indices.filter(|&i| (i as usize) < source.keys.len()) {
            if self.contains(&source.keys[index as usize]) {
                continue;
            }
            let (cache, source) = (self.clone_handle(), Arc::clone(source));
            tokio::spawn(async move {
                if let Err(e) = cache.get(&source, index).await {
                    tracing::debug!(segment = index, error = %e, "prefetch failed");
                }
            });
        }
    }

    fn clone_handle(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Removes the entry of a render that every asker gave up before it started (unless a
/// newer render of the key has taken its place).
struct Unstarted {
    inner: Arc<Inner>,
    key: SegmentKey,
    armed: bool,
}

impl Drop for Unstarted {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut in_flight = lock(&self.inner.in_flight);
        let abandoned = matches!(in_flight.get(&self.key), Some(InFlight::Waiting(weak)) if weak.upgrade().is_none());
        if abandoned {
            in_flight.remove(&self.key);
        }
    }
}

/// Waits for a permit, then draws and encodes the segment on a blocking thread that
/// keeps the permit, caches the segment and ends the single flight itself.
async fn render(
    inner: Arc<Inner>,
    source: Arc<SegmentSource>,
    index: u32,
    key: SegmentKey,
) -> Result<Arc<CachedSegment>> {
    let mut unstarted = Unstarted {
        inner: Arc::clone(&inner),
        key,
        armed: true,
    };
    let permit = Arc::clone(&inner.permits)
        .acquire_owned()
        .await
        .map_err(|_| Error::internal("segment renders have stopped"))?;
    let worker = Arc::clone(&inner);
    // The thread's entry is put in place under the lock it takes to remove it, so it is
    // never removed before it is there.
    let started = {
        let mut in_flight = lock(&inner.in_flight);
        let job = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // A panic is an error for this render alone: the key must leave the flight.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                encode_cached(&worker, &source, index)
            }))
            .unwrap_or_else(|_| Err(Error::internal(format!("segment {index} render panicked"))));
            if let Ok(segment) = &result {
                worker.segments.insert(key, Arc::clone(segment));
            }
            // Cached first, then out of flight: an asker in between finds one or the other.
            lock(&worker.in_flight).remove(&key);
            result
        });
        let started = job
            .map(|joined| {
                joined
                    .unwrap_or_else(|e| Err(Error::internal(format!("segment render thread: {e}"))))
            })
            .boxed()
            .shared();
        in_flight.insert(key, InFlight::Started(started.clone()));
        unstarted.armed = false;
        started
    };
    started.await
}

fn encode_cached(inner: &Inner, source: &SegmentSource, index: u32) -> Result<Arc<CachedSegment>> {
    let segment = &source.plan.segments[index as usize];
    let encoded = encode_alone(source, segment, inner.encoders.ffmpeg.as_ref(), &inner.pool)?;
    let fps = source.renderer.timeline().fps;
    let fragment = Bytes::from(fmp4::media_fragment(
        encoded.index,
        encoded.first_frame,
        fps,
        &encoded.pictures,
    ));
    inner.rendered.fetch_add(1, Ordering::Relaxed);
    inner
        .frames
        .fetch_add(segment.frames.end - segment.frames.start, Ordering::Relaxed);
    Ok(Arc::new(CachedSegment {
        etag: content_etag(&fragment),
        encoded,
        fragment,
    }))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The map stays consistent under a panic: each change is one insert or remove.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Encodes one segment with nothing before or after it.
fn encode_alone(
    source: &SegmentSource,
    segment: &Segment,
    ffmpeg: Option<&Ffmpeg>,
    pool: &rayon::ThreadPool,
) -> Result<EncodedSegment> {
    // Segment progress is not reported: a stream's progress is the segments it has.
    let progress = Progress::new(0);
    match source.settings.encoder {
        H264Encoder::OpenH264 => {
            encode_segment(&source.renderer, segment, source.settings, &progress)
        }
        H264Encoder::X264 => {
            let ffmpeg = ffmpeg.ok_or_else(|| Ffmpeg::missing("x264"))?;
            let alone = SegmentPlan {
                segments: vec![segment.clone()],
            };
            let mut encoded = encode_segments_x264(
                &source.renderer,
                &alone,
                source.settings,
                ffmpeg,
                pool,
                &progress,
            )?;
            encoded
                .pop()
                .ok_or_else(|| Error::internal("x264 gave no segment"))
        }
    }
}
