//! FLV (Adobe Flash Video File Format Specification, version 10.1) with one H.264 video
//! track, written front to back so that it streams: a header, an `onMetaData` script tag,
//! the AVC sequence header, one video tag per picture, and an end-of-sequence tag.
//!
//! ```text
//! "FLV" v1 flags=video  PreviousTagSize0
//! tag 18 onMetaData (AMF0: duration, width, height, framerate, videocodecid, ...)
//! tag 9  AVC sequence header (AVCDecoderConfigurationRecord)
//! tag 9  NALU ... one per picture, length-prefixed NAL units
//! tag 9  AVC end of sequence
//! ```
//!
//! Every tag is followed by its size (11 bytes of header plus the body). FLV timestamps are
//! whole milliseconds; each is rounded from the frame's exact time, so they never drift.
//! Pictures carry no reordering (no B-frames), so composition offsets are zero.

use super::isobmff::{avc_decoder_configuration, sample};
use crate::encode::EncodedPicture;
use crate::movie::FrameRate;

const TAG_VIDEO: u8 = 9;
const TAG_SCRIPT: u8 = 18;
/// CodecID 7 (AVC) in the low nibble of a video tag's first byte.
const CODEC_AVC: u8 = 7;
const FRAME_KEY: u8 = 1 << 4;
const FRAME_INTER: u8 = 2 << 4;
const AVC_SEQUENCE_HEADER: u8 = 0;
const AVC_NALU: u8 = 1;
const AVC_END_OF_SEQUENCE: u8 = 2;

/// What the file header and metadata say about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlvVideo {
    pub width: u32,
    pub height: u32,
    pub fps: FrameRate,
    pub frame_count: u64,
    pub bitrate_bps: u32,
}

/// The file header, the metadata tag and the AVC sequence header: everything before the
/// first picture.
pub fn header(video: &FlvVideo, sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"FLV\x01");
    out.push(0x01); // video only
    out.extend_from_slice(&9u32.to_be_bytes()); // header size
    out.extend_from_slice(&0u32.to_be_bytes()); // PreviousTagSize0

    let seconds = video.fps.seconds_at(video.frame_count as i64);
    let mut script = Vec::new();
    amf_string(&mut script, "onMetaData");
    script.push(0x08); // ECMA array
    let fields: [(&str, f64); 6] = [
        ("duration", seconds),
        ("width", f64::from(video.width)),
        ("height", f64::from(video.height)),
        ("framerate", video.fps.as_f64()),
        ("videocodecid", f64::from(CODEC_AVC)),
        ("videodatarate", f64::from(video.bitrate_bps) / 1000.0),
    ];
    script.extend_from_slice(&(fields.len() as u32).to_be_bytes());
    for (name, value) in fields {
        amf_key(&mut script, name);
        script.push(0x00); // number
        script.extend_from_slice(&value.to_be_bytes());
    }
    script.extend_from_slice(&[0, 0, 9]); // object end
    tag(&mut out, TAG_SCRIPT, 0, &script);

    let mut body = vec![FRAME_KEY | CODEC_AVC, AVC_SEQUENCE_HEADER, 0, 0, 0];
    body.extend_from_slice(&avc_decoder_configuration(sps, pps));
    tag(&mut out, TAG_VIDEO, 0, &body);
    out
}

/// The video tags of `pictures`, the first of which is frame `first_frame` of the movie.
pub fn picture_tags(first_frame: u64, fps: FrameRate, pictures: &[EncodedPicture]) -> Vec<u8> {
    let mut out = Vec::new();
    for (offset, picture) in pictures.iter().enumerate() {
        let frame_type = if picture.is_key {
            FRAME_KEY
        } else {
            FRAME_INTER
        };
        let mut body = vec![frame_type | CODEC_AVC, AVC_NALU, 0, 0, 0];
        body.extend_from_slice(&sample(picture));
        tag(
            &mut out,
            TAG_VIDEO,
            timestamp_ms(first_frame + offset as u64, fps),
            &body,
        );
    }
    out
}

/// The end-of-sequence tag after the last of `frame_count` frames.
pub fn end(frame_count: u64, fps: FrameRate) -> Vec<u8> {
    let mut out = Vec::new();
    let body = [FRAME_KEY | CODEC_AVC, AVC_END_OF_SEQUENCE, 0, 0, 0];
    tag(&mut out, TAG_VIDEO, timestamp_ms(frame_count, fps), &body);
    out
}

/// Frame `index`'s time in whole milliseconds, rounded to nearest. FLV timestamps wrap
/// after 2^32 ms (49 days), far beyond any movie.
fn timestamp_ms(index: u64, fps: FrameRate) -> u32 {
    let (num, den) = (u64::from(fps.num), u64::from(fps.den));
    ((index * den * 1000 + num / 2) / num) as u32
}

/// One tag: type, 24-bit body size, timestamp (24 bits plus an 8-bit extension), stream 0,
/// the body, and the tag's size after it.
fn tag(out: &mut Vec<u8>, kind: u8, timestamp_ms: u32, body: &[u8]) {
    let size = body.len() as u32;
    out.push(kind);
    out.extend_from_slice(&size.to_be_bytes()[1..]);
    out.extend_from_slice(&timestamp_ms.to_be_bytes()[1..]);
    out.push((timestamp_ms >> 24) as u8);
    out.extend_from_slice(&[0, 0, 0]); // stream id
    out.extend_from_slice(body);
    out.extend_from_slice(&(size + 11).to_be_bytes());
}

fn amf_key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
}

fn amf_string(out: &mut Vec<u8>, value: &str) {
    out.push(0x02);
    amf_key(out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_on_the_movie_clock() {
        let ntsc = FrameRate::new(30000, 1001).expect("rate");
        let stamps: Vec<u32> = (0..4).map(|i| timestamp_ms(i, ntsc)).collect();
        assert_eq!(stamps, [0, 33, 67, 100]);
        assert_eq!(timestamp_ms(30000, ntsc), 1_001_000);
    }

    #[test]
    fn every_tag_is_followed_by_its_size() {
        let picture = EncodedPicture {
            nal_units: vec![vec![0x65, 1, 2, 3]],
            is_key: true,
        };
        let fps = FrameRate::new(25, 1).expect("rate");
        let tags = picture_tags(3, fps, &[picture]);
        let body_size = u32::from_be_bytes([0, tags[1], tags[2], tags[3]]) as usize;
        assert_eq!(body_size, 5 + 4 + 4);
        let trailer = &tags[11 + body_size..];
        assert_eq!(trailer, (11 + body_size as u32).to_be_bytes());
        assert_eq!(&tags[4..7], &[0, 0, 120]); // frame 3 at 25 fps
    }
}
