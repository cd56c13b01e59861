//! Turning frames into coded video: RGBA to planar YUV 4:2:0, H.264 from the bundled
//! encoder, segments drawn and encoded on their own, the system FFmpeg for the formats no
//! crate encodes, GIF and stills.

pub mod audio;
pub mod ffmpeg;
pub mod gif;
pub mod h264;
pub mod segment;
pub mod still;
pub mod x264;
pub mod yuv;

pub use audio::{encode_aac, EncodedAudio, AAC_FRAME_SAMPLES};
pub use ffmpeg::FfmpegOutput;
pub use ffmpeg::{Ffmpeg, FfmpegJob, FfmpegProfile, RawVideo};
pub use h264::{EncodedPicture, H264Encoder, H264Settings, SegmentEncoder};
pub use segment::{encode_segment, EncodedSegment};
pub use still::{encode_still, StillFormat, StillOptions};
pub use yuv::{rgba_to_i420, I420};

/// The encoders a server or command has, found once at start.
#[derive(Debug, Clone, Default)]
pub struct Encoders {
    /// The system FFmpeg, when it runs.
    pub ffmpeg: Option<Ffmpeg>,
    /// The H.264 encoder of every H.264 output.
    pub h264: H264Encoder,
}

impl Encoders {
    /// Looks for FFmpeg at `ffmpeg_program` (default: on the PATH); H.264 from the bundled
    /// encoder.
    pub fn locate(ffmpeg_program: Option<&std::path::Path>) -> Self {
        Self {
            ffmpeg: Ffmpeg::locate(ffmpeg_program),
            h264: H264Encoder::OpenH264,
        }
    }

    /// Chooses the H.264 encoder; x264 needs an FFmpeg that has it, checked here so that
    /// a misconfigured server fails at start rather than on a request.
    pub fn with_h264(mut self, encoder: H264Encoder) -> crate::Result<Self> {
        if encoder == H264Encoder::X264 {
            self.ffmpeg
                .as_ref()
                .ok_or_else(|| Ffmpeg::missing("x264 (h264_encoder = \"x264\")"))?
                .check_encoder(FfmpegProfile::X264AnnexB)?;
        }
        self.h264 = encoder;
        Ok(self)
    }

    /// H.264 settings for a canvas with the chosen encoder.
    pub fn h264_settings(&self, width: u32, height: u32) -> H264Settings {
        H264Settings::for_canvas(self.h264, width, height)
    }
}
