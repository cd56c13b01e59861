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
//! segment that reads no param is rendered once for every token. A render that every
//! asker has given up on is dropped before it starts; one already drawing runs to the end
//! of its segment, which bounds the waste to one segment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
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

/// Encoded segments by key, weighed by bytes.
pub struct SegmentCache {
    segments: moka::future::Cache<SegmentKey, Arc<CachedSegment>>,
    permits: Arc<Semaphore>,
    encoders: Encoders,
    /// Draws the frames of x264 segments, which go through one FFmpeg process each.
    pool: Arc<rayon::ThreadPool>,
    rendered: Arc<AtomicU64>,
    frames: Arc<AtomicU64>,
    hits: AtomicU64,
}

impl std::fmt::Debug for SegmentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentCache")
            .field("entries", &self.segments.entry_count())
            .field("bytes", &self.segments.weighted_size())
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
        let segments = moka::future::Cache::builder()
            .weigher(|_, segment: &Arc<CachedSegment>| segment.weight())
            .max_capacity(budget_bytes)
            .build();
        Self {
            segments,
            permits: Arc::new(Semaphore::new(renders_at_once.max(1))),
            encoders,
            pool,
            rendered: Arc::new(AtomicU64::new(0)),
            frames: Arc::new(AtomicU64::new(0)),
            hits: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> SegmentStats {
        SegmentStats {
            rendered: self.rendered.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            bytes: self.segments.weighted_size(),
        }
    }

    /// The encoder name that segment keys carry: segments are always encoded on their own,
    /// which for x264 gives other bytes than one process over a whole output.
    pub fn encoder_name(&self, settings: &H264Settings) -> String {
        let ffmpeg = self.encoders.ffmpeg.as_ref().map(Ffmpeg::version);
        format!("{}-alone", settings.cache_name(ffmpeg))
    }

    /// Whether the segment of `key` is in memory.
    pub fn contains(&self, key: &SegmentKey) -> bool {
        self.segments.contains_key(key)
    }

    /// Segment `index` of `source`, from memory or rendered once for every concurrent
    /// asker.
    pub async fn get(&self, source: &Arc<SegmentSource>, index: u32) -> Result<Arc<CachedSegment>> {
        let key = *source
            .keys
            .get(index as usize)
            .ok_or_else(|| Error::not_found(format!("the stream has no segment {index}")))?;
        if let Some(hit) = self.segments.get(&key).await {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        let render = self.render(Arc::clone(source), index);
        self.segments
            .try_get_with(key, render)
            .await
            .map_err(|shared: Arc<Error>| (*shared).clone())
    }

    /// Starts rendering segments `indices` of `source` in the background if they are not
    /// cached, so that a player's next requests find them ready.
    pub fn prefetch(self: &Arc<Self>, source: &Arc<SegmentSource>, indices: std::ops::Range<u32>) {
        for index in indices.filter(|&i| (i as usize) < source.keys.len()) {
            if self.segments.contains_key(&source.keys[index as usize]) {
                continue;
            }
            let (cache, source) = (Arc::clone(self), Arc::clone(source));
            tokio::spawn(async move {
                if let Err(e) = cache.get(&source, index).await {
                    tracing::debug!(segment = index, error = %e, "prefetch failed");
                }
            });
        }
    }

    /// Draws and encodes one segment once a permit is free.
    fn render(
        &self,
        source: Arc<SegmentSource>,
        index: u32,
    ) -> impl std::future::Future<Output = Result<Arc<CachedSegment>>> + Send + 'static {
        let permits = Arc::clone(&self.permits);
        let (rendered, frames) = (Arc::clone(&self.rendered), Arc::clone(&self.frames));
        let ffmpeg = self.encoders.ffmpeg.clone();
        let pool = Arc::clone(&self.pool);
        async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|_| Error::internal("segment renders have stopped"))?;
            let segment = tokio::task::spawn_blocking(move || {
                let segment = &source.plan.segments[index as usize];
                let encoded = encode_alone(&source, segment, ffmpeg.as_ref(), &pool)?;
                let fps = source.renderer.timeline().fps;
                let fragment = Bytes::from(fmp4::media_fragment(
                    encoded.index,
                    encoded.first_frame,
                    fps,
                    &encoded.pictures,
                ));
                rendered.fetch_add(1, Ordering::Relaxed);
                frames.fetch_add(segment.frames.end - segment.frames.start, Ordering::Relaxed);
                Ok::<_, Error>(CachedSegment {
                    etag: content_etag(&fragment),
                    encoded,
                    fragment,
                })
            })
            .await
            .map_err(|e| Error::internal(format!("segment render thread: {e}")))??;
            Ok(Arc::new(segment))
        }
    }
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
