//! Animated GIF: one palette for the whole movie, and frames that carry only what changed.
//!
//! - The palette (255 colours) is learnt by NeuQuant from frames spread over the movie;
//!   the 256th entry is transparent.
//! - Pixels map to the palette through a 64x64x64 lookup table, without dithering: a
//!   pixel that did not change maps to the same index in every frame, so it compresses
//!   away, and nothing shimmers from frame to frame (`BENCHMARKS.md` has the measurements
//!   behind this choice).
//! - Every frame after the first is cropped to the box of changed pixels, and unchanged
//!   pixels inside the box are transparent over the previous frame.
//! - Delays are in hundredths of a second, rounded on the movie's clock rather than per
//!   frame, so 30 fps alternates 3 and 4 and never drifts.

use std::borrow::Cow;
use std::io::Write;

use color_quant::NeuQuant;
use gif::{DisposalMethod, Encoder, Repeat};

use crate::error::{Error, Result};
use crate::movie::FrameRate;

const TRANSPARENT: u8 = 255;
/// NeuQuant's sampling factor over the pixels it is given: 1 learns from every one.
const SAMPLE_FACTOR: i32 = 4;

/// A palette and the table that maps colours to it.
#[derive(Clone)]
pub struct GifPalette {
    rgb: Vec<u8>,
    /// Palette index of every colour with 6 bits per channel.
    table: Vec<u8>,
}

impl std::fmt::Debug for GifPalette {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GifPalette")
            .field("colors", &(self.rgb.len() / 3))
            .finish()
    }
}

impl GifPalette {
    /// Learns a palette from sample frames (opaque RGBA).
    pub fn learn(samples: &[&[u8]]) -> Self {
        // Every seventh pixel of every sample: more frames teach more colours (transitions
        // mix scenes) for the same learning time.
        let pixels: Vec<u8> = samples
            .iter()
            .flat_map(|s| s.chunks_exact(4).step_by(7).flatten().copied())
            .collect();
        let quant = NeuQuant::new(SAMPLE_FACTOR, 255, &pixels);
        let rgb = quant.color_map_rgb();
        let colors: Vec<[i32; 3]> = rgb
            .chunks_exact(3)
            .map(|c| [i32::from(c[0]), i32::from(c[1]), i32::from(c[2])])
            .collect();
        let mut table = vec![0; 1 << 18];
        for (key, slot) in table.iter_mut().enumerate() {
            // The centre of the 4x4x4 cell.
            let target = [
                ((key >> 12) as i32) * 4 + 2,
                (((key >> 6) & 63) as i32) * 4 + 2,
                ((key & 63) as i32) * 4 + 2,
            ];
            let nearest = colors
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| {
                    let d = [c[0] - target[0], c[1] - target[1], c[2] - target[2]];
                    // Weighted towards green, as the eye is.
                    2 * d[0] * d[0] + 4 * d[1] * d[1] + 3 * d[2] * d[2]
                })
                .map_or(0, |(i, _)| i);
            *slot = nearest as u8;
        }
        Self { rgb, table }
    }

    /// Maps an RGBA frame to palette indices.
    fn map(&self, rgba: &[u8]) -> Vec<u8> {
        rgba.chunks_exact(4)
            .map(|p| {
                let channel = |v: u8| usize::from(v >> 2);
                self.table[(channel(p[0]) << 12) | (channel(p[1]) << 6) | channel(p[2])]
            })
            .collect()
    }

    /// The palette as 256 RGB entries (the last one, transparent, black).
    fn entries(&self) -> Vec<u8> {
        let mut rgb = self.rgb.clone();
        rgb.resize(256 * 3, 0);
        rgb
    }
}

/// Writes frames, in order, as an endlessly looping GIF.
pub struct GifWriter<W: Write> {
    encoder: Encoder<W>,
    palette: GifPalette,
    width: usize,
    height: usize,
    fps: FrameRate,
    previous: Option<Vec<u8>>,
    frames: u64,
}

impl<W: Write> std::fmt::Debug for GifWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GifWriter")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

fn gif_error(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("gif writing failed: {e}"))
}

impl<W: Write> GifWriter<W> {
    pub fn new(
        out: W,
        width: u32,
        height: u32,
        fps: FrameRate,
        palette: GifPalette,
    ) -> Result<Self> {
        let (w, h) = (
            u16::try_from(width).map_err(|_| gif_too_large(width, height))?,
            u16::try_from(height).map_err(|_| gif_too_large(width, height))?,
        );
        let mut encoder = Encoder::new(out, w, h, &palette.entries()).map_err(gif_error)?;
        encoder.set_repeat(Repeat::Infinite).map_err(gif_error)?;
        Ok(Self {
            encoder,
            palette,
            width: width as usize,
            height: height as usize,
            fps,
            previous: None,
            frames: 0,
        })
    }

    /// Hundredths of a second from the movie's start to frame `index`.
    fn centiseconds(&self, index: u64) -> u64 {
        let (num, den) = (u64::from(self.fps.num), u64::from(self.fps.den));
        (index * den * 100 + num / 2) / num
    }

    /// Adds the next frame (opaque RGBA).
    pub fn write_frame(&mut self, rgba: &[u8]) -> Result<()> {
        let indices = self.palette.map(rgba);
        let delay =
            (self.centiseconds(self.frames + 1) - self.centiseconds(self.frames)).max(1) as u16;
        let (mut left, mut top, mut right, mut bottom) = (0, 0, self.width, self.height);
        let mut buffer = Cow::Borrowed(indices.as_slice());
        let mut transparent = None;
        if let Some(previous) = &self.previous {
            let changed = |i: usize| indices[i] != previous[i];
            let rows: Vec<usize> = (0..self.height)
                .filter(|&y| (0..self.width).any(|x| changed(y * self.width + x)))
                .collect();
            match (rows.first(), rows.last()) {
                (Some(&first), Some(&last)) => {
                    top = first;
                    bottom = last + 1;
                    left = (0..self.width)
                        .find(|&x| (top..bottom).any(|y| changed(y * self.width + x)))
                        .unwrap_or(0);
                    right = (0..self.width)
                        .rfind(|&x| (top..bottom).any(|y| changed(y * self.width + x)))
                        .map_or(self.width, |x| x + 1);
                }
                // Nothing changed: one transparent pixel carries the delay.
                _ => (left, top, right, bottom) = (0, 0, 1, 1),
            }
            let mut cropped = Vec::with_capacity((right - left) * (bottom - top));
            for y in top..bottom {
                for x in left..right {
                    let i = y * self.width + x;
                    cropped.push(if changed(i) { indices[i] } else { TRANSPARENT });
                }
            }
            buffer = Cow::Owned(cropped);
            transparent = Some(TRANSPARENT);
        }
        let frame = gif::Frame {
            delay,
            dispose: DisposalMethod::Keep,
            transparent,
            left: left as u16,
            top: top as u16,
            width: (right - left) as u16,
            height: (bottom - top) as u16,
            buffer,
            ..gif::Frame::default()
        };
        self.encoder.write_frame(&frame).map_err(gif_error)?;
        self.previous = Some(indices);
        self.frames += 1;
        Ok(())
    }

    /// Ends the file and hands back the writer.
    pub fn finish(self) -> Result<W> {
        self.encoder.into_inner().map_err(gif_error)
    }
}

fn gif_too_large(width: u32, height: u32) -> Error {
    Error::invalid_param(format!(
        "gif: a frame of {width}x{height} is larger than GIF allows (65535x65535)"
    ))
}
