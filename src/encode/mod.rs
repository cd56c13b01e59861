//! Turning frames into coded video: RGBA to planar YUV 4:2:0, H.264 from the bundled
//! encoder, and segments drawn and encoded on their own.

pub mod gif;
pub mod h264;
pub mod segment;
pub mod still;
pub mod yuv;

pub use h264::{EncodedPicture, H264Settings, SegmentEncoder};
pub use segment::{encode_segment, EncodedSegment};
pub use still::{encode_still, StillFormat, StillOptions};
pub use yuv::{rgba_to_i420, I420};
