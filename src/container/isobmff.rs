//! Box writing shared by the MP4 flavours (ISO/IEC 14496-12): box framing, the movie
//! header, and the one H.264 video track every output carries. The sample table is left to
//! the caller: empty for fragmented MP4, complete for a progressive file.
//!
//! Times use the frame rate's numerator as timescale and its denominator as every sample's
//! duration, so they are exact at rates such as 30000/1001.

use crate::encode::EncodedPicture;
use crate::movie::FrameRate;

pub(crate) const TRACK_ID: u32 = 1;

/// Writes a box: size placeholder, type, body, then the real size.
pub(crate) fn boxed(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(kind);
    body(out);
    let size = u32::try_from(out.len() - start).expect("boxes stay under 4 GiB");
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: a box whose body starts with a version byte and 24 bits of flags.
pub(crate) fn full_box(
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

pub(crate) fn u16_be(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn u32_be(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn u64_be(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// The file type box.
pub(crate) fn ftyp(out: &mut Vec<u8>, major: &[u8; 4], compatible: &[&[u8; 4]]) {
    boxed(out, b"ftyp", |o| {
        o.extend_from_slice(major);
        u32_be(o, 0);
        for brand in compatible {
            o.extend_from_slice(*brand);
        }
    });
}

/// The identity transformation matrix of `mvhd` and `tkhd`.
fn matrix(out: &mut Vec<u8>) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        u32_be(out, v);
    }
}

/// Converts a frame count to a 64-bit duration in the `fps.num` timescale.
fn duration(fps: FrameRate, frames: u64) -> u64 {
    frames * u64::from(fps.den)
}

/// The movie header, version 1 (64-bit duration) in the `fps.num` timescale.
pub(crate) fn mvhd(out: &mut Vec<u8>, fps: FrameRate, frames: u64) {
    mvhd_in(out, fps.num, duration(fps, frames), TRACK_ID + 1);
}

/// The movie header in any timescale, naming the track id after the file's last.
pub(crate) fn mvhd_in(out: &mut Vec<u8>, timescale: u32, length: u64, next_track: u32) {
    full_box(out, b"mvhd", 1, 0, |o| {
        u64_be(o, 0); // creation time
        u64_be(o, 0); // modification time
        u32_be(o, timescale);
        u64_be(o, length);
        u32_be(o, 0x0001_0000); // rate 1.0
        u16_be(o, 0x0100); // volume 1.0
        o.extend_from_slice(&[0; 10]);
        matrix(o);
        o.extend_from_slice(&[0; 24]); // pre_defined
        u32_be(o, next_track);
    });
}

/// The AAC sound track: stereo at `sample_rate`, which is also its timescale.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AudioTrack {
    pub track_id: u32,
    pub sample_rate: u32,
    /// Zero for a fragmented file.
    pub samples: u64,
    /// The AudioSpecificConfig.
    pub config: [u8; 2],
    pub bitrate_bps: u32,
}

/// The `trak` box of the sound track; `tables` writes the sample table after `stsd`.
pub(crate) fn audio_trak(out: &mut Vec<u8>, track: &AudioTrack, tables: impl FnOnce(&mut Vec<u8>)) {
    boxed(out, b"trak", |o| {
        full_box(o, b"tkhd", 1, 0x3, |o| {
            u64_be(o, 0);
            u64_be(o, 0);
            u32_be(o, track.track_id);
            u32_be(o, 0);
            u64_be(o, track.samples);
            o.extend_from_slice(&[0; 8]);
            u16_be(o, 0); // layer
            u16_be(o, 1); // alternate group: sound
            u16_be(o, 0x0100); // volume 1.0
            u16_be(o, 0);
            matrix(o);
            u32_be(o, 0);
            u32_be(o, 0);
        });
        boxed(o, b"mdia", |o| {
            full_box(o, b"mdhd", 1, 0, |o| {
                u64_be(o, 0);
                u64_be(o, 0);
                u32_be(o, track.sample_rate);
                u64_be(o, track.samples);
                u16_be(o, 0x55c4); // language "und"
                u16_be(o, 0);
            });
            full_box(o, b"hdlr", 0, 0, |o| {
                u32_be(o, 0);
                o.extend_from_slice(b"soun");
                o.extend_from_slice(&[0; 12]);
                o.extend_from_slice(b"framecast sound\0");
            });
            boxed(o, b"minf", |o| {
                full_box(o, b"smhd", 0, 0, |o| u32_be(o, 0));
                dinf(o);
                boxed(o, b"stbl", |o| {
                    full_box(o, b"stsd", 0, 0, |o| {
                        u32_be(o, 1);
                        mp4a(o, track);
                    });
                    tables(o);
                });
            });
        });
    });
}

/// The audio sample entry with its elementary stream descriptor (ISO/IEC 14496-1 and
/// 14496-14).
fn mp4a(out: &mut Vec<u8>, track: &AudioTrack) {
    boxed(out, b"mp4a", |o| {
        o.extend_from_slice(&[0; 6]);
        u16_be(o, 1); // data reference index
        o.extend_from_slice(&[0; 8]);
        u16_be(o, 2); // channels
        u16_be(o, 16); // sample size
        u32_be(o, 0);
        u32_be(o, track.sample_rate << 16);
        full_box(o, b"esds", 0, 0, |o| {
            let mut specific = vec![0x05, track.config.len() as u8];
            specific.extend_from_slice(&track.config);
            let mut decoder = vec![0x40, 0x15, 0, 0, 0];
            decoder.extend_from_slice(&track.bitrate_bps.to_be_bytes());
            decoder.extend_from_slice(&track.bitrate_bps.to_be_bytes());
            decoder.extend_from_slice(&specific);
            let mut es = Vec::new();
            u16_be(&mut es, 0); // ES id
            es.push(0); // flags
            es.push(0x04);
            es.push(decoder.len() as u8);
            es.extend_from_slice(&decoder);
            es.extend_from_slice(&[0x06, 0x01, 0x02]); // SL config: predefined MP4
            o.push(0x03);
            o.push(es.len() as u8);
            o.extend_from_slice(&es);
        });
    });
}

/// What describes the video track: its size, rate and length, and the H.264 parameter
/// sets (without start codes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct VideoTrack<'a> {
    pub width: u32,
    pub height: u32,
    pub fps: FrameRate,
    /// Zero for a fragmented file, whose length is in its fragments.
    pub frames: u64,
    pub sps: &'a [u8],
    pub pps: &'a [u8],
}

/// The `trak` box of the video track; `tables` writes the sample table after `stsd`.
pub(crate) fn video_trak(
    out: &mut Vec<u8>,
    track: &VideoTrack<'_>,
    tables: impl FnOnce(&mut Vec<u8>),
) {
    let length = duration(track.fps, track.frames);
    boxed(out, b"trak", |o| {
        // Flags: enabled, in movie.
        full_box(o, b"tkhd", 1, 0x3, |o| {
            u64_be(o, 0);
            u64_be(o, 0);
            u32_be(o, TRACK_ID);
            u32_be(o, 0); // reserved
            u64_be(o, length);
            o.extend_from_slice(&[0; 8]);
            u16_be(o, 0); // layer
            u16_be(o, 0); // alternate group
            u16_be(o, 0); // volume: video
            u16_be(o, 0);
            matrix(o);
            u32_be(o, track.width << 16);
            u32_be(o, track.height << 16);
        });
        boxed(o, b"mdia", |o| {
            full_box(o, b"mdhd", 1, 0, |o| {
                u64_be(o, 0);
                u64_be(o, 0);
                u32_be(o, track.fps.num);
                u64_be(o, length);
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
                dinf(o);
                boxed(o, b"stbl", |o| {
                    full_box(o, b"stsd", 0, 0, |o| {
                        u32_be(o, 1);
                        avc1(o, track);
                    });
                    tables(o);
                });
            });
        });
    });
}

/// The data information box: samples are in this file.
fn dinf(o: &mut Vec<u8>) {
    boxed(o, b"dinf", |o| {
        full_box(o, b"dref", 0, 0, |o| {
            u32_be(o, 1);
            full_box(o, b"url ", 0, 1, |_| {});
        });
    });
}

/// The visual sample entry with its decoder configuration (ISO/IEC 14496-15).
fn avc1(out: &mut Vec<u8>, track: &VideoTrack<'_>) {
    let (sps, pps) = (track.sps, track.pps);
    boxed(out, b"avc1", |o| {
        o.extend_from_slice(&[0; 6]);
        u16_be(o, 1); // data reference index
        o.extend_from_slice(&[0; 16]);
        u16_be(o, track.width as u16);
        u16_be(o, track.height as u16);
        u32_be(o, 0x0048_0000); // 72 dpi
        u32_be(o, 0x0048_0000);
        u32_be(o, 0);
        u16_be(o, 1); // frames per sample
        o.extend_from_slice(&[0; 32]); // compressor name
        u16_be(o, 0x0018); // depth
        u16_be(o, 0xffff); // pre_defined -1
        boxed(o, b"avcC", |o| {
            o.extend_from_slice(&avc_decoder_configuration(sps, pps))
        });
    });
}

/// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15), also carried by FLV.
pub(crate) fn avc_decoder_configuration(sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut o = vec![1];
    o.extend_from_slice(sps.get(1..4).unwrap_or(&[66, 0xc0, 31])); // profile, compatibility, level
    o.push(0xff); // 4-byte NAL lengths
    o.push(0xe1); // one SPS
    u16_be(&mut o, sps.len() as u16);
    o.extend_from_slice(sps);
    o.push(1); // one PPS
    u16_be(&mut o, pps.len() as u16);
    o.extend_from_slice(pps);
    o
}

/// One sample: the picture's NAL units, each after its 4-byte length.
pub(crate) fn sample(picture: &EncodedPicture) -> Vec<u8> {
    let size = picture.nal_units.iter().map(|n| n.len() + 4).sum();
    let mut out = Vec::with_capacity(size);
    for nal in &picture.nal_units {
        u32_be(&mut out, nal.len() as u32);
        out.extend_from_slice(nal);
    }
    out
}
