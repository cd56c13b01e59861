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

use crate::encode::EncodedPicture;
use crate::movie::FrameRate;

const TRACK_ID: u32 = 1;

/// Writes a box: size placeholder, type, body, then the real size.
fn boxed(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(kind);
    body(out);
    let size = u32::try_from(out.len() - start).expect("boxes stay under 4 GiB");
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: a box whose body starts with a version byte and 24 bits of flags.
fn full_box(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    boxed(out, kind, |out| {
        out.extend_from_slice(&((u32::from(version) << 24) | (flags & 0x00ff_ffff)).to_be_bytes());
        body(out);
    });
}

fn u16_be(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn u32_be(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// The identity transformation matrix of `mvhd` and `tkhd`.
fn matrix(out: &mut Vec<u8>) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        u32_be(out, v);
    }
}

/// The init segment for a `width` x `height` H.264 track at `fps`.
pub fn init_segment(width: u32, height: u32, fps: FrameRate, sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    boxed(&mut out, b"ftyp", |o| {
        o.extend_from_slice(b"iso6");
        u32_be(o, 0);
        for brand in [b"iso6", b"cmfc", b"isom", b"avc1", b"mp41"] {
            o.extend_from_slice(brand);
        }
    });
    boxed(&mut out, b"moov", |o| {
        full_box(o, b"mvhd", 0, 0, |o| {
            u32_be(o, 0); // creation time
            u32_be(o, 0); // modification time
            u32_be(o, 1000); // timescale
            u32_be(o, 0); // duration: unknown, fragments follow
            u32_be(o, 0x0001_0000); // rate 1.0
            u16_be(o, 0x0100); // volume 1.0
            o.extend_from_slice(&[0; 10]);
            matrix(o);
            o.extend_from_slice(&[0; 24]); // pre_defined
            u32_be(o, TRACK_ID + 1); // next track id
        });
        boxed(o, b"trak", |o| {
            full_box(o, b"tkhd", 0, 0x3, |o| {
                u32_be(o, 0);
                u32_be(o, 0);
                u32_be(o, TRACK_ID);
                u32_be(o, 0); // reserved
                u32_be(o, 0); // duration
                o.extend_from_slice(&[0; 8]);
                u16_be(o, 0); // layer
                u16_be(o, 0); // alternate group
                u16_be(o, 0); // volume: video
                u16_be(o, 0);
                matrix(o);
                u32_be(o, width << 16);
                u32_be(o, height << 16);
            });
            boxed(o, b"mdia", |o| {
                full_box(o, b"mdhd", 0, 0, |o| {
                    u32_be(o, 0);
                    u32_be(o, 0);
                    u32_be(o, fps.num);
                    u32_be(o, 0);
                    u16_be(o, 0x55c4); // language "und"
                    u16_be(o, 0);
                });
                full_box(o, b"hdlr", 0, 0, |o| {
                    u32_be(o, 0);
                    o.extend_from_slice(b"vide");
                    o.extend_from_slice(&[0; 12]);
                    o.extend_from_slice(b"framecast video\0");
                });
                boxed(o, b"minf", |o| {
                    full_box(o, b"vmhd", 0, 1, |o| o.extend_from_slice(&[0; 8]));
                    boxed(o, b"dinf", |o| {
                        full_box(o, b"dref", 0, 0, |o| {
                            u32_be(o, 1);
                            full_box(o, b"url ", 0, 1, |_| {});
                        });
                    });
                    boxed(o, b"stbl", |o| {
                        full_box(o, b"stsd", 0, 0, |o| {
                            u32_be(o, 1);
                            avc1(o, width, height, sps, pps);
                        });
                        for kind in [b"stts", b"stsc", b"stco"] {
                            full_box(o, kind, 0, 0, |o| u32_be(o, 0));
                        }
                        full_box(o, b"stsz", 0, 0, |o| {
                            u32_be(o, 0);
                            u32_be(o, 0);
                        });
                    });
                });
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

/// The visual sample entry with its decoder configuration (ISO/IEC 14496-15).
fn avc1(out: &mut Vec<u8>, width: u32, height: u32, sps: &[u8], pps: &[u8]) {
    boxed(out, b"avc1", |o| {
        o.extend_from_slice(&[0; 6]);
        u16_be(o, 1); // data reference index
        o.extend_from_slice(&[0; 16]);
        u16_be(o, width as u16);
        u16_be(o, height as u16);
        u32_be(o, 0x0048_0000); // 72 dpi
        u32_be(o, 0x0048_0000);
        u32_be(o, 0);
        u16_be(o, 1); // frames per sample
        o.extend_from_slice(&[0; 32]); // compressor name
        u16_be(o, 0x0018); // depth
        u16_be(o, 0xffff); // pre_defined -1
        boxed(o, b"avcC", |o| {
            o.push(1);
            o.extend_from_slice(&sps[1..4]); // profile, compatibility, level
            o.push(0xff); // 4-byte NAL lengths
            o.push(0xe1); // one SPS
            u16_be(o, sps.len() as u16);
            o.extend_from_slice(sps);
            o.push(1); // one PPS
            u16_be(o, pps.len() as u16);
            o.extend_from_slice(pps);
        });
    });
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
    let samples: Vec<Vec<u8>> = pictures
        .iter()
        .map(|picture| {
            let mut sample = Vec::new();
            for nal in &picture.nal_units {
                u32_be(&mut sample, nal.len() as u32);
                sample.extend_from_slice(nal);
            }
            sample
        })
        .collect();

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
