//! The segment plan: every output is cut into segments, fixed spans of frames that each
//! start with a key frame and are encoded on their own, so that any segment can be
//! rendered alone, anywhere, and always gives the same bytes.
//!
//! ```text
//! frames  0 .... 15 ....... 45 ............... 105 ............... 165 .... 180
//!         | seg 0 | seg 1    | seg 2            | seg 3            | seg 4  |
//!          0.5 s    1 s        2 s                2 s                (the rest)
//! ```
//!
//! The first segment is short and the next ones double until they reach the regular
//! length, so that a player starts at once and each segment it waits for takes no longer
//! to draw than the ones before it take to play. Boundaries are placed at the running
//! total of these lengths, each rounded to the nearest frame on its own, so rates such
//! as 30000/1001 never drift. Each segment records the variables its frames read; its
//! cache key covers only their values, so segments that read no param are shared by
//! every binding.

use std::collections::BTreeSet;
use std::ops::Range;

use crate::movie::{Params, Timeline};

/// How outputs are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSettings {
    /// Length of the regular segments.
    pub duration_ms: u32,
    /// Length of the first segment; shorter than the rest so that playback starts sooner.
    /// The segments after it double in length until they reach `duration_ms`.
    pub first_duration_ms: u32,
}

impl Default for SegmentSettings {
    fn default() -> Self {
        Self {
            duration_ms: 2000,
            // Half a second draws and encodes in about 90 ms at 720p on one core, so a
            // stream can start almost at once (BENCHMARKS.md).
            first_duration_ms: 500,
        }
    }
}

/// One span of frames, encoded on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub index: u32,
    pub frames: Range<u64>,
    /// The variables whose values can change this segment's pixels.
    pub reads: BTreeSet<String>,
}

/// The segments of one bound timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentPlan {
    pub segments: Vec<Segment>,
}

impl SegmentPlan {
    pub fn new(timeline: &Timeline, settings: SegmentSettings) -> Self {
        let fps = timeline.fps;
        let total = timeline.frame_count as i64;
        let first_seconds = f64::from(settings.first_duration_ms.max(1)) / 1000.0;
        let step_seconds = f64::from(settings.duration_ms.max(1)) / 1000.0;

        let mut segments = Vec::new();
        let mut start = 0i64;
        let (mut end_seconds, mut length) = (0.0, first_seconds);
        while start < total {
            let index = segments.len() as u32;
            end_seconds += length;
            length = (length * 2.0).min(step_seconds);
            // At least one frame per segment, even at very low rates.
            let end = fps.frames_at(end_seconds).max(start + 1).min(total);
            let frames = start as u64..end as u64;
            segments.push(Segment {
                index,
                reads: timeline.variables_read(frames.clone()),
                frames,
            });
            start = end;
        }
        Self { segments }
    }

    /// The segment that holds `frame_index`.
    pub fn segment_of(&self, frame_index: u64) -> Option<&Segment> {
        let at = self
            .segments
            .partition_point(|s| s.frames.end <= frame_index);
        self.segments
            .get(at)
            .filter(|s| s.frames.contains(&frame_index))
    }
}

/// Bumped whenever any change to drawing or encoding changes output bytes, so that stale
/// cached segments are never served.
pub const FORMAT_VERSION: u32 = 2;

/// A cache key for one encoded segment: what shapes its bytes, and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentKey(pub [u8; 32]);

impl SegmentKey {
    /// `movie_digest` covers the movie file and the project assets it uses; `encoder`
    /// names the encoder and its settings (`"h264-openh264-3000k"`, say).
    pub fn new(movie_digest: &[u8; 32], encoder: &str, segment: &Segment, params: &Params) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&FORMAT_VERSION.to_le_bytes());
        hasher.update(movie_digest);
        field(&mut hasher, encoder.as_bytes());
        hasher.update(&segment.frames.start.to_le_bytes());
        hasher.update(&segment.frames.end.to_le_bytes());
        for name in &segment.reads {
            field(&mut hasher, name.as_bytes());
            let value = params
                .get(name)
                .map(|v| v.to_json().to_string())
                .unwrap_or_default();
            field(&mut hasher, value.as_bytes());
        }
        Self(*hasher.finalize().as_bytes())
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Hashes a length-prefixed field, so that adjacent fields cannot run into each other.
fn field(hasher: &mut blake3::Hasher, bytes: &[u8]) {
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}
