//! Fragmented MP4 (ISO/IEC 14496-12, CMAF-style) for one H.264 video track: an init
//! segment that describes the track, and one media fragment per segment. An init segment
//! followed by fragments in order is a complete MP4 that players read while it downloads;
//! HLS and DASH reference the same pieces.
//!
//! ```text
//! init:     ftyp  moov ─ mvhd
//!                      ├ trak ─ tkhd
//!                      │      └ mdia ─ mdhd, hdlr
//!                      │             └ minf ─ vmhd, dinf ─ dref
//!                      │                    └ stbl ─ stsd ─ avc1 ─ avcC
//!                      │                           └ stts, stsc, stsz, stco (empty)
//!                      └ mvex ─ trex
//! fragment: moof ─ mfhd
//!                └ traf ─ tfhd, tfdt, trun
//!           mdat (length-prefixed NAL units)
//! ```
//!
//! The media timescale is the frame rate's numerator and every sample lasts its
//! denominator, so times are exact at rates such as 30000/1001.

use super::isobmff::{boxed, ftyp, full_box, mvhd, u32_be, video_trak, TRACK_ID};
use crate::encode::EncodedPicture;
use crate::movie::FrameRate;

/// The init segment for a `width` x `height` H.264 track at `fps`.
pub fn init_segment(width: u32, height: u32, fps: FrameRate, sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ftyp(
        &mut out,
        b"iso6",
        &[b"iso6", b"cmfc", b"isom", b"avc1", b"mp41"],
    );
    boxed(&mut out, b"moov", |o| {
        // Duration unknown: fragments follow.
        mvhd(o, fps, 0);
        let track = super::isobmff::VideoTrack {
            width,
            height,
            fps,
            frames: 0,
            sps,
            pps,
        };
        video_trak(o, &track, |o| {
            for kind in [b"stts", b"stsc", b"stco"] {
                full_box(o, kind, 0, 0, |o| u32_be(o, 0));
            }
            full_box(o, b"stsz", 0, 0, |o| {
                u32_be(o, 0);
                u32_be(o, 0);
            });
        });
        boxed(o, b"mvex", |o| {
            full_box(o, b"trex", 0, 0, |o| {
                u32_be(o, TRACK_ID);
                u32_be(o, 1); // sample description index
                u32_be(o, 0);
                u32_be(o, 0);
                u32_be(o, 0);
            });
        });
    });
    out
}

/// Sample flags: a sync sample depends on no other; the rest do and are not sync samples.
const SYNC_SAMPLE: u32 = 0x0200_0000;
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

/// One media fragment: the pictures of segment `sequence` (0-based), whose first frame is
/// `first_frame` of the movie.
pub fn media_fragment(
    sequence: u32,
    first_frame: u64,
    fps: FrameRate,
    pictures: &[EncodedPicture],
) -> Vec<u8> {
    let samples: Vec<Vec<u8>> = pictures.iter().map(super::isobmff::sample).collect();

    let mut out = Vec::new();
    let mut data_offset_at = 0;
    boxed(&mut out, b"moof", |o| {
        full_box(o, b"mfhd", 0, 0, |o| u32_be(o, sequence + 1));
        boxed(o, b"traf", |o| {
            // Default base is moof: data offsets count from the start of this moof.
            full_box(o, b"tfhd", 0, 0x02_0000, |o| u32_be(o, TRACK_ID));
            full_box(o, b"tfdt", 1, 0, |o| {
                o.extend_from_slice(&(first_frame * u64::from(fps.den)).to_be_bytes())
            });
            // Data offset, then per sample: duration, size and flags.
            full_box(o, b"trun", 0, 0x01 | 0x100 | 0x200 | 0x400, |o| {
                u32_be(o, samples.len() as u32);
                data_offset_at = o.len();
                u32_be(o, 0);
                for (sample, picture) in samples.iter().zip(pictures) {
                    u32_be(o, fps.den);
                    u32_be(o, sample.len() as u32);
                    u32_be(
                        o,
                        if picture.is_key {
                            SYNC_SAMPLE
                        } else {
                            NON_SYNC_SAMPLE
                        },
                    );
                }
            });
        });
    });
    // The first sample starts right after the mdat header.
    let data_offset = (out.len() + 8) as u32;
    out[data_offset_at..data_offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    boxed(&mut out, b"mdat", |o| {
        for sample in &samples {
            o.extend_from_slice(sample);
        }
    });
    out
}
