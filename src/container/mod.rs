//! Containers written by the project: fragmented MP4 (CMAF) segments, the faststart MP4
//! stitched from them, the HLS playlists and DASH MPD that reference them, and FLV.

pub mod dash;
pub mod flv;
pub mod fmp4;
pub mod hls;
mod isobmff;
pub mod mp4;

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
