//! Containers written by the project. For now: fragmented MP4 (CMAF) for H.264.

pub mod fmp4;
