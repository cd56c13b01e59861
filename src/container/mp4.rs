//! Progressive MP4 with the index first ("faststart"), stitched from encoded segments
//! without re-encoding: the segments' pictures become one sample table, each segment one
//! chunk, and the samples follow in a single `mdat`.
//!
//! ```text
//! ftyp  moov ─ mvhd
//!            └ trak ─ ... stbl ─ stsd, stts, stss, stsc, stsz, stco|co64
//! mdat  segment 0's samples, segment 1's samples, ...
//! ```
//!
//! A player reads the index before the first sample arrives, so playback starts while the
//! file downloads and seeking works at once.

use std::io::{self, Write};

use super::isobmff::{boxed, ftyp, full_box, mvhd, sample, u32_be, u64_be, video_trak, VideoTrack};
use crate::encode::EncodedPicture;
use crate::movie::FrameRate;

/// The H.264 stream to write: parameter sets and the pictures of each segment in order.
#[derive(Debug, Clone, Copy)]
pub struct Mp4Video<'a> {
    pub width: u32,
    pub height: u32,
    pub fps: FrameRate,
    pub sps: &'a [u8],
    pub pps: &'a [u8],
    pub segments: &'a [&'a [EncodedPicture]],
}

/// Writes the whole file to `out`; returns its length.
pub fn write_progressive(out: &mut impl Write, video: &Mp4Video<'_>) -> io::Result<u64> {
    let samples: Vec<Vec<Vec<u8>>> = video
        .segments
        .iter()
        .map(|pictures| pictures.iter().map(sample).collect())
        .collect();
    let payload: u64 = samples.iter().flatten().map(|s| s.len() as u64).sum();
    let large_mdat = payload + 8 > u64::from(u32::MAX);
    let mdat_header = if large_mdat { 16 } else { 8 };

    // Offsets depend on the header's size, which depends only on whether they need 64 bits:
    // write with 32-bit offsets, and again with 64-bit ones if the last chunk lies beyond.
    let mut header = Vec::new();
    for wide in [false, true] {
        header = file_header(video, &samples, 0, wide);
        let base = header.len() as u64 + mdat_header;
        let last_chunk = payload - samples.last().map_or(0, |s| chunk_len(s));
        if !wide && base + last_chunk > u64::from(u32::MAX) {
            continue;
        }
        header = file_header(video, &samples, base, wide);
        break;
    }
    if large_mdat {
        u32_be(&mut header, 1);
        header.extend_from_slice(b"mdat");
        u64_be(&mut header, payload + 16);
    } else {
        u32_be(&mut header, (payload + 8) as u32);
        header.extend_from_slice(b"mdat");
    }
    out.write_all(&header)?;
    for sample in samples.iter().flatten() {
        out.write_all(sample)?;
    }
    Ok(header.len() as u64 + payload)
}

fn chunk_len(chunk: &[Vec<u8>]) -> u64 {
    chunk.iter().map(|s| s.len() as u64).sum()
}

/// `ftyp` and `moov`, with chunk offsets counted from `base`, the first sample's position.
fn file_header(video: &Mp4Video<'_>, chunks: &[Vec<Vec<u8>>], base: u64, wide: bool) -> Vec<u8> {
    let frames: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    let track = VideoTrack {
        width: video.width,
        height: video.height,
        fps: video.fps,
        frames,
        sps: video.sps,
        pps: video.pps,
    };
    let mut out = Vec::new();
    ftyp(&mut out, b"isom", &[b"isom", b"iso2", b"avc1", b"mp41"]);
    boxed(&mut out, b"moov", |o| {
        mvhd(o, video.fps, frames);
        video_trak(o, &track, |o| {
            // Every sample lasts one frame.
            full_box(o, b"stts", 0, 0, |o| {
                u32_be(o, 1);
                u32_be(o, frames as u32);
                u32_be(o, video.fps.den);
            });
            let keys: Vec<u32> = video
                .segments
                .iter()
                .flat_map(|pictures| pictures.iter())
                .enumerate()
                .filter(|(_, p)| p.is_key)
                .map(|(i, _)| i as u32 + 1)
                .collect();
            full_box(o, b"stss", 0, 0, |o| {
                u32_be(o, keys.len() as u32);
                for key in keys {
                    u32_be(o, key);
                }
            });
            // Runs of chunks with the same sample count.
            let mut runs: Vec<(u32, u32)> = Vec::new();
            for (index, chunk) in chunks.iter().enumerate() {
                let count = chunk.len() as u32;
                if runs.last().is_none_or(|&(_, c)| c != count) {
                    runs.push((index as u32 + 1, count));
                }
            }
            full_box(o, b"stsc", 0, 0, |o| {
                u32_be(o, runs.len() as u32);
                for (first_chunk, count) in runs {
                    u32_be(o, first_chunk);
                    u32_be(o, count);
                    u32_be(o, 1); // sample description index
                }
            });
            full_box(o, b"stsz", 0, 0, |o| {
                u32_be(o, 0);
                u32_be(o, frames as u32);
                for sample in chunks.iter().flatten() {
                    u32_be(o, sample.len() as u32);
                }
            });
            let mut offset = base;
            let offsets: Vec<u64> = chunks
                .iter()
                .map(|chunk| {
                    let at = offset;
                    offset += chunk_len(chunk);
                    at
                })
                .collect();
            if wide {
                full_box(o, b"co64", 0, 0, |o| {
                    u32_be(o, offsets.len() as u32);
                    for at in offsets {
                        u64_be(o, at);
                    }
                });
            } else {
                full_box(o, b"stco", 0, 0, |o| {
                    u32_be(o, offsets.len() as u32);
                    for at in offsets {
                        u32_be(o, at as u32);
                    }
                });
            }
        });
    });
    out
}
