//! Turning frames into coded video: RGBA to planar YUV 4:2:0, H.264 from the bundled
//! encoder, segments drawn and encoded on their own, the system FFmpeg for the formats no
//! crate encodes, GIF and stills.

pub mod ffmpeg;
pub mod gif;
pub mod h264;
pub mod segment;
pub mod still;
pub mod yuv;

pub use ffmpeg::{Ffmpeg, FfmpegJob, FfmpegProfile, RawVideo};
pub use h264::{EncodedPicture, H264Settings, SegmentEncoder};
pub use segment::{encode_segment, EncodedSegment};
pub use still::{encode_still, StillFormat, StillOptions};
pub use yuv::{rgba_to_i420, I420};

/// The encoders a server or command has, found once at start.
#[derive(Debug, Clone, Default)]
pub struct Encoders {
    /// The system FFmpeg, when it runs.
    pub ffmpeg: Option<Ffmpeg>,
}

impl Encoders {
    /// Looks for FFmpeg at `ffmpeg_program` (default: on the PATH).
    pub fn locate(ffmpeg_program: Option<&std::path::Path>) -> Self {
        Self {
            ffmpeg: Ffmpeg::locate(ffmpeg_program),
        }
    }
}
