//! Turning frames into what encoders take. For now: RGBA to planar YUV 4:2:0.

pub mod yuv;

pub use yuv::{rgba_to_i420, I420};
