//! Drawing and encoding one segment: frames from the renderer, converted to I420, through
//! a fresh H.264 encoder. Runs on the calling thread, so that segments can be encoded side
//! by side on separate cores.

use super::h264::{EncodedPicture, H264Settings, SegmentEncoder};
use super::yuv::rgba_to_i420;
use crate::error::{Error, Result};
use crate::render::{Progress, Renderer};
use crate::segment::Segment;

/// The pictures of one segment and the parameter sets that decode them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSegment {
    pub index: u32,
    pub first_frame: u64,
    pub pictures: Vec<EncodedPicture>,
    pub sps: Vec<u8>,
    pub pps: Vec<u8>,
}

/// Draws and encodes the frames of `segment`, counting each in `progress`.
pub fn encode_segment(
    renderer: &Renderer,
    segment: &Segment,
    settings: H264Settings,
    progress: &Progress,
) -> Result<EncodedSegment> {
    let timeline = renderer.timeline();
    let context = |e: Error| {
        e.context(format!(
            "segment {} (frames {:?})",
            segment.index, segment.frames
        ))
    };
    let mut encoder = SegmentEncoder::new(timeline.width, timeline.height, timeline.fps, settings)
        .map_err(context)?;
    let mut pictures = Vec::with_capacity((segment.frames.end - segment.frames.start) as usize);
    for index in segment.frames.clone() {
        let frame = renderer.render_frame(index).map_err(context)?;
        let yuv = rgba_to_i420(frame.rgba(), frame.width(), frame.height());
        pictures.push(encoder.encode(&yuv).map_err(context)?);
        progress.add(1);
    }
    let (sps, pps) = encoder
        .parameter_sets()
        .ok_or_else(|| context(Error::internal("h264 encoder gave no parameter sets")))?;
    Ok(EncodedSegment {
        index: segment.index,
        first_frame: segment.frames.start,
        sps: sps.to_vec(),
        pps: pps.to_vec(),
        pictures,
    })
}
