//! H.264 from the bundled OpenH264 encoder (built from source by the `openh264` crate, so
//! the default build needs no system library). It writes Constrained Baseline.
//!
//! One encoder per segment: the segment's first frame is an IDR picture and no later frame
//! refers across the segment's end, so every segment decodes on its own. Frame skipping and
//! scene-change key frames are off, so a segment of N frames yields exactly N pictures and
//! only one key frame; one thread, so the bytes are the same on every run.

use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate as EncoderFrameRate, FrameType,
    IntraFramePeriod, RateControlMode, VuiConfig,
};
use openh264::formats::YUVSlices;
use openh264::OpenH264API;

use super::yuv::I420;
use crate::error::{Error, Result};
use crate::movie::FrameRate;

/// Which encoder makes H.264.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum H264Encoder {
    /// The bundled OpenH264: Constrained Baseline, every segment encoded on its own.
    #[default]
    OpenH264,
    /// x264 through the system FFmpeg: High profile, better pictures for the bitrate.
    X264,
}

impl H264Encoder {
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenH264 => "openh264",
            Self::X264 => "x264",
        }
    }
}

/// Encoder settings; they are part of every segment's cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H264Settings {
    pub encoder: H264Encoder,
    pub bitrate_bps: u32,
}

impl H264Settings {
    /// 3 Mbit/s at 1280x720, scaled with the pixel count.
    pub fn for_canvas(encoder: H264Encoder, width: u32, height: u32) -> Self {
        let pixels = u64::from(width) * u64::from(height);
        let bitrate = 3_000_000 * pixels / (1280 * 720);
        Self {
            encoder,
            bitrate_bps: bitrate.clamp(200_000, 40_000_000) as u32,
        }
    }

    /// The settings as a cache-key component; `ffmpeg_version` names the build that runs
    /// x264, whose bytes may change from one build to the next.
    pub fn cache_name(&self, ffmpeg_version: Option<&str>) -> String {
        match (self.encoder, ffmpeg_version) {
            (H264Encoder::X264, Some(version)) => {
                format!("h264-x264-{}bps-{version}", self.bitrate_bps)
            }
            (encoder, _) => format!("h264-{}-{}bps", encoder.name(), self.bitrate_bps),
        }
    }
}

/// One encoded picture: its NAL units without start codes, parameter sets left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPicture {
    pub nal_units: Vec<Vec<u8>>,
    pub is_key: bool,
}

/// Encodes the frames of one segment.
pub struct SegmentEncoder {
    encoder: Encoder,
    width: u32,
    height: u32,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    frames_in: u64,
}

impl std::fmt::Debug for SegmentEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentEncoder")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("frames_in", &self.frames_in)
            .finish_non_exhaustive()
    }
}

const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;

impl SegmentEncoder {
    pub fn new(width: u32, height: u32, fps: FrameRate, settings: H264Settings) -> Result<Self> {
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(settings.bitrate_bps))
            .max_frame_rate(EncoderFrameRate::from_hz(fps.as_f64() as f32))
            .rate_control_mode(RateControlMode::Bitrate)
            .complexity(Complexity::Medium)
            .skip_frames(false)
            .scene_change_detect(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(0))
            .num_threads(1)
            // Tell players how the pixels were converted (BT.709, limited range).
            .vui(VuiConfig::bt709());
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| Error::internal(format!("h264 encoder did not start: {e}")))?;
        Ok(Self {
            encoder,
            width,
            height,
            sps: None,
            pps: None,
            frames_in: 0,
        })
    }

    /// Encodes the next frame of the segment.
    pub fn encode(&mut self, frame: &I420) -> Result<EncodedPicture> {
        if (frame.width, frame.height) != (self.width, self.height) {
            return Err(Error::internal(format!(
                "h264 encoder set up for {}x{}, given a {}x{} frame",
                self.width, self.height, frame.width, frame.height
            )));
        }
        let (w, h) = (frame.width as usize, frame.height as usize);
        let chroma = frame.chroma_width();
        let source = YUVSlices::new((&frame.y, &frame.u, &frame.v), (w, h), (w, chroma, chroma));
        let index = self.frames_in;
        let stream = self.encoder.encode(&source).map_err(|e| {
            Error::internal(format!(
                "h264 encoding of frame {index} of the segment failed: {e}"
            ))
        })?;
        self.frames_in += 1;

        let is_key = matches!(stream.frame_type(), FrameType::IDR | FrameType::I);
        let mut nal_units = Vec::new();
        for layer_index in 0..stream.num_layers() {
            let Some(layer) = stream.layer(layer_index) else {
                continue;
            };
            for nal_index in 0..layer.nal_count() {
                let Some(nal) = layer.nal_unit(nal_index) else {
                    continue;
                };
                let nal = strip_start_code(nal);
                match nal.first().map(|b| b & 0x1f) {
                    Some(NAL_SPS) => self.sps = Some(nal.to_vec()),
                    Some(NAL_PPS) => self.pps = Some(nal.to_vec()),
                    Some(_) => nal_units.push(nal.to_vec()),
                    None => {}
                }
            }
        }
        if nal_units.is_empty() {
            return Err(Error::internal(format!(
                "h264 encoder produced no picture for frame {index} of the segment"
            )));
        }
        Ok(EncodedPicture { nal_units, is_key })
    }

    /// The sequence and picture parameter sets, known once the first frame is encoded.
    pub fn parameter_sets(&self) -> Option<(&[u8], &[u8])> {
        Some((self.sps.as_deref()?, self.pps.as_deref()?))
    }
}

/// Drops an Annex B start code (`00 00 01` or `00 00 00 01`).
fn strip_start_code(nal: &[u8]) -> &[u8] {
    nal.strip_prefix(&[0, 0, 0, 1])
        .or_else(|| nal.strip_prefix(&[0, 0, 1]))
        .unwrap_or(nal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::yuv::rgba_to_i420;

    fn frame(shade: u8) -> I420 {
        let rgba: Vec<u8> = (0..64 * 48)
            .flat_map(|i| [shade, (i % 64) as u8 * 4, 100, 255])
            .collect();
        rgba_to_i420(&rgba, 64, 48)
    }

    #[test]
    fn a_segment_starts_with_its_only_key_frame() {
        let fps = FrameRate::new(30, 1).expect("rate");
        let mut encoder = SegmentEncoder::new(
            64,
            48,
            fps,
            H264Settings::for_canvas(H264Encoder::OpenH264, 64, 48),
        )
        .expect("encoder");
        let pictures: Vec<_> = (0..10)
            .map(|i| encoder.encode(&frame(i * 20)).expect("picture"))
            .collect();
        assert!(pictures[0].is_key);
        assert!(pictures[1..].iter().all(|p| !p.is_key));
        let (sps, pps) = encoder.parameter_sets().expect("parameter sets");
        assert_eq!((sps[0] & 0x1f, pps[0] & 0x1f), (7, 8));
    }

    #[test]
    fn same_frames_same_bytes() {
        let fps = FrameRate::new(25, 1).expect("rate");
        let encode = || {
            let mut encoder = SegmentEncoder::new(
                64,
                48,
                fps,
                H264Settings::for_canvas(H264Encoder::OpenH264, 64, 48),
            )
            .expect("encoder");
            (0..5)
                .map(|i| encoder.encode(&frame(i * 40)).expect("picture"))
                .collect::<Vec<_>>()
        };
        assert_eq!(encode(), encode());
    }
}
