//! Containers written by the project: fragmented MP4 (CMAF) segments, the faststart MP4
//! stitched from them, the HLS playlists and DASH MPD that reference them, and FLV.

pub mod dash;
pub mod flv;
pub mod fmp4;
pub mod hls;
mod isobmff;
pub mod mp4;

/// The RFC 6381 codec string of AAC-LC.
pub const AAC_CODEC: &str = "mp4a.40.2";

use std::ops::Range;

use crate::movie::{FrameRate, Timeline};
use crate::segment::SegmentPlan;

/// What a playlist or manifest says about the one video stream: its size, rate, codec,
/// bitrate and segment boundaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub width: u32,
    pub height: u32,
    pub fps: FrameRate,
    /// The RFC 6381 codec string, such as `avc1.42c01f`.
    pub codecs: String,
    /// The encoder's target bitrate in bits per second.
    pub bitrate_bps: u32,
    /// The frames of each segment, in order.
    pub segments: Vec<Range<u64>>,
    /// The sound, when the movie has any.
    pub audio: Option<AudioInfo>,
}

/// What playlists say about the AAC sound track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioInfo {
    pub sample_rate: u32,
    pub bitrate_bps: u32,
    /// The AAC frames of each segment, in order (each `AAC_FRAME_SAMPLES` long).
    pub segments: Vec<Range<usize>>,
}

impl AudioInfo {
    /// The movie's sound cut at the boundaries of `plan`. Known before anything is
    /// encoded: frame *k* of the sound starts at sample `k * AAC_FRAME_SAMPLES`, and a
    /// segment holds the frames that start in it.
    pub fn for_plan(timeline: &Timeline, plan: &SegmentPlan) -> Self {
        let sample =
            |frame: u64| crate::movie::timeline::sample_at_frame(timeline.fps, frame as i64);
        let frames_from = |s: u64| s.div_ceil(crate::encode::AAC_FRAME_SAMPLES) as usize;
        Self {
            sample_rate: crate::movie::timeline::SAMPLE_RATE,
            bitrate_bps: crate::encode::audio::AAC_BITRATE_BPS,
            segments: plan
                .segments
                .iter()
                .map(|s| frames_from(sample(s.frames.start))..frames_from(sample(s.frames.end)))
                .collect(),
        }
    }

    /// The length of segment `index` in seconds.
    pub fn seconds(&self, index: usize) -> f64 {
        self.segments.get(index).map_or(0.0, |frames| {
            (frames.len() as u64 * crate::encode::AAC_FRAME_SAMPLES) as f64
                / f64::from(self.sample_rate)
        })
    }
}

impl StreamInfo {
    /// The stream of `plan`, encoded with parameter set `sps` at `bitrate_bps`.
    pub fn new(timeline: &Timeline, plan: &SegmentPlan, sps: &[u8], bitrate_bps: u32) -> Self {
        let codecs = match sps.get(1..4) {
            Some(&[profile, constraints, level]) => {
                format!("avc1.{profile:02x}{constraints:02x}{level:02x}")
            }
            _ => "avc1.42c01f".to_owned(),
        };
        Self {
            width: timeline.width,
            height: timeline.height,
            fps: timeline.fps,
            codecs,
            bitrate_bps,
            segments: plan.segments.iter().map(|s| s.frames.clone()).collect(),
            audio: None,
        }
    }

    /// The same stream with a sound track.
    pub fn with_audio(mut self, audio: Option<AudioInfo>) -> Self {
        self.audio = audio;
        self
    }

    /// The codec strings of every track: `avc1.42c01f,mp4a.40.2` with sound.
    pub fn all_codecs(&self) -> String {
        match self.audio {
            Some(_) => format!("{},{AAC_CODEC}", self.codecs),
            None => self.codecs.clone(),
        }
    }

    pub fn frame_count(&self) -> u64 {
        self.segments.last().map_or(0, |s| s.end)
    }

    /// The length of `frames` in seconds.
    pub fn seconds(&self, frames: u64) -> f64 {
        frames as f64 * f64::from(self.fps.den) / f64::from(self.fps.num)
    }

    /// A bound on the bitrate of any one segment, for players that budget bandwidth: the
    /// encoder aims at the target on average, and a segment can overshoot it.
    pub fn peak_bandwidth(&self) -> u64 {
        u64::from(self.bitrate_bps) * 2
    }
}
