//! Placing a layer raster on a frame: an affine transform sampled with bilinear filtering
//! (whole-pixel moves copy exactly), the layer's opacity, and a separable blend mode.
//!
//! Frames are always opaque (every scene starts from the opaque canvas background), so
//! blending assumes a destination alpha of 1; this keeps the formulas to a few integer
//! operations per channel. Samples outside the raster are transparent, which gives turned
//! and scaled layers soft one-pixel edges.

use tiny_skia::{Pixmap, Transform};

use crate::movie::format::BlendMode;

/// Draws `src` onto the opaque `dst` through `transform` (raster pixels to frame pixels).
pub(super) fn draw(
    dst: &mut Pixmap,
    src: &Pixmap,
    transform: Transform,
    opacity: f32,
    mode: BlendMode,
) {
    let opacity = (opacity.clamp(0.0, 1.0) * 256.0).round() as u32;
    if opacity == 0 {
        return;
    }
    let Some(bounds) = dst_bounds(dst, src, transform) else {
        return;
    };
    if is_whole_pixel_move(&transform) {
        let (dx, dy) = (transform.tx as i32, transform.ty as i32);
        with_mode!(mode, copy_translated(dst, src, dx, dy, bounds, opacity));
    } else if transform.kx == 0.0 && transform.ky == 0.0 && transform.sx > 0.0 && transform.sy > 0.0
    {
        with_mode!(mode, scale_separable(dst, src, transform, bounds, opacity));
    } else if let Some(inverse) = transform.invert() {
        with_mode!(mode, resample(dst, src, inverse, bounds, opacity));
    }
}

/// True when a transform moves by whole pixels and nothing else.
pub(super) fn is_whole_pixel_move(t: &Transform) -> bool {
    t.sx == 1.0
        && t.sy == 1.0
        && t.kx == 0.0
        && t.ky == 0.0
        && t.tx.fract() == 0.0
        && t.ty.fract() == 0.0
}

/// The frame pixels the transformed raster can touch: (x0, y0, x1, y1), end exclusive.
fn dst_bounds(dst: &Pixmap, src: &Pixmap, t: Transform) -> Option<(usize, usize, usize, usize)> {
    let (w, h) = (src.width() as f32, src.height() as f32);
    let corners = [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)]
        .map(|(x, y)| (t.sx * x + t.kx * y + t.tx, t.ky * x + t.sy * y + t.ty));
    let min_x = corners.iter().map(|c| c.0).fold(f32::MAX, f32::min).floor() - 1.0;
    let max_x = corners.iter().map(|c| c.0).fold(f32::MIN, f32::max).ceil() + 1.0;
    let min_y = corners.iter().map(|c| c.1).fold(f32::MAX, f32::min).floor() - 1.0;
    let max_y = corners.iter().map(|c| c.1).fold(f32::MIN, f32::max).ceil() + 1.0;
    let clamp_x = |v: f32| v.clamp(0.0, dst.width() as f32) as usize;
    let clamp_y = |v: f32| v.clamp(0.0, dst.height() as f32) as usize;
    let bounds = (
        clamp_x(min_x),
        clamp_y(min_y),
        clamp_x(max_x),
        clamp_y(max_y),
    );
    (bounds.0 < bounds.2 && bounds.1 < bounds.3).then_some(bounds)
}

fn copy_translated<const MODE: u8>(
    dst: &mut Pixmap,
    src: &Pixmap,
    dx: i32,
    dy: i32,
    (x0, y0, x1, y1): (usize, usize, usize, usize),
    opacity: u32,
) {
    let (sw, sh) = (src.width() as i32, src.height() as i32);
    let dw = dst.width() as usize;
    let x0 = x0.max(dx.max(0) as usize);
    let x1 = x1.min((dx + sw).max(0) as usize);
    if x0 >= x1 {
        return;
    }
    let src_data = src.data();
    let dst_data = dst.data_mut();
    for y in y0..y1 {
        let sy = y as i32 - dy;
        if sy < 0 || sy >= sh {
            continue;
        }
        let sx0 = (x0 as i32 - dx) as usize;
        let src_row = &src_data[(sy as usize * sw as usize + sx0) * 4..][..(x1 - x0) * 4];
        let dst_row = &mut dst_data[(y * dw + x0) * 4..(y * dw + x1) * 4];
        for (d, s) in dst_row.chunks_exact_mut(4).zip(src_row.chunks_exact(4)) {
            let s = u32::from_le_bytes(s.try_into().expect("four bytes per pixel"));
            if s != 0 {
                blend_packed::<MODE>(d, s, opacity);
            }
        }
    }
}

/// Calls `$f::<MODE>(args)` with the blend mode as a constant, so that every mode gets
/// its own loop without a per-pixel branch or call.
macro_rules! with_mode {
    ($mode:expr, $f:ident($($arg:expr),*)) => {
        match $mode {
            BlendMode::Normal => $f::<{ NORMAL }>($($arg),*),
            BlendMode::Multiply => $f::<{ MULTIPLY }>($($arg),*),
            BlendMode::Screen => $f::<{ SCREEN }>($($arg),*),
            BlendMode::Overlay => $f::<{ OVERLAY }>($($arg),*),
            BlendMode::Darken => $f::<{ DARKEN }>($($arg),*),
            BlendMode::Lighten => $f::<{ LIGHTEN }>($($arg),*),
            BlendMode::Add => $f::<{ ADD }>($($arg),*),
        }
    };
}
use with_mode;

const NORMAL: u8 = 0;
const MULTIPLY: u8 = 1;
const SCREEN: u8 = 2;
const OVERLAY: u8 = 3;
const DARKEN: u8 = 4;
const LIGHTEN: u8 = 5;
const ADD: u8 = 6;

/// Fixed-point scale of source coordinates: 16 fractional bits.
const FIXED_ONE: f32 = 65536.0;

fn resample<const MODE: u8>(
    dst: &mut Pixmap,
    src: &Pixmap,
    inverse: Transform,
    (x0, y0, x1, y1): (usize, usize, usize, usize),
    opacity: u32,
) {
    let (sw, sh) = (src.width() as i64, src.height() as i64);
    let stride = src.width() as usize * 4;
    let dw = dst.width() as usize;
    let src_data = src.data();
    let dst_data = dst.data_mut();
    let packed = |at: usize| {
        u32::from_le_bytes(
            src_data[at..at + 4]
                .try_into()
                .expect("four bytes per pixel"),
        )
    };
    let texel = |x: i64, y: i64| -> u32 {
        if x < 0 || y < 0 || x >= sw || y >= sh {
            0
        } else {
            packed(y as usize * stride + x as usize * 4)
        }
    };
    let step_u = (inverse.sx * FIXED_ONE) as i64;
    let step_v = (inverse.ky * FIXED_ONE) as i64;
    for y in y0..y1 {
        let py = y as f32 + 0.5;
        // Source position of the pixel centre, shifted so texel centres sit on integers.
        let u0 = inverse.sx * (x0 as f32 + 0.5) + inverse.kx * py + inverse.tx - 0.5;
        let v0 = inverse.ky * (x0 as f32 + 0.5) + inverse.sy * py + inverse.ty - 0.5;
        let (mut u, mut v) = ((u0 * FIXED_ONE) as i64, (v0 * FIXED_ONE) as i64);
        let row = &mut dst_data[(y * dw + x0) * 4..(y * dw + x1) * 4];
        for d in row.chunks_exact_mut(4) {
            let (ix, iy) = (u >> 16, v >> 16);
            if ix >= -1 && iy >= -1 && ix < sw && iy < sh {
                let (a, b, c, e) = if ix >= 0 && iy >= 0 && ix + 1 < sw && iy + 1 < sh {
                    let at = iy as usize * stride + ix as usize * 4;
                    (
                        packed(at),
                        packed(at + 4),
                        packed(at + stride),
                        packed(at + stride + 4),
                    )
                } else {
                    (
                        texel(ix, iy),
                        texel(ix + 1, iy),
                        texel(ix, iy + 1),
                        texel(ix + 1, iy + 1),
                    )
                };
                if a | b | c | e != 0 {
                    let wx = ((u >> 8) & 0xff) as u32;
                    let wy = ((v >> 8) & 0xff) as u32;
                    blend_packed::<MODE>(d, lerp(lerp(a, b, wx), lerp(c, e, wx), wy), opacity);
                }
            }
            u += step_u;
            v += step_v;
        }
    }
}

/// Scaling and moving without turning: each frame row blends two source rows into one
/// padded row (a loop over bytes that compiles to vector code), then samples that row
/// with per-column weights computed once. Gives the same result as bilinear sampling.
fn scale_separable<const MODE: u8>(
    dst: &mut Pixmap,
    src: &Pixmap,
    t: Transform,
    (x0, y0, x1, y1): (usize, usize, usize, usize),
    opacity: u32,
) {
    let (sw, sh) = (src.width() as i64, src.height() as i64);
    let stride = src.width() as usize * 4;
    let dw = dst.width() as usize;
    let fixed = |frame: usize, scale: f32, offset: f32| {
        (((frame as f32 + 0.5 - offset) / scale - 0.5) * FIXED_ONE) as i64
    };

    // Per column: the padded source pixel to the left and its weight. The padded row holds
    // one transparent pixel before the source row and two after it.
    let columns: Vec<(usize, u16)> = (x0..x1)
        .map(|x| {
            let u = fixed(x, t.sx, t.tx);
            let ix = u >> 16;
            if ix < -1 || ix >= sw {
                // Both neighbours are the right-hand padding: transparent.
                ((sw + 1) as usize, 0)
            } else {
                ((ix + 1) as usize, ((u >> 8) & 0xff) as u16)
            }
        })
        .collect();

    let transparent = vec![0u8; stride];
    let mut padded = vec![0u8; stride + 12];
    let src_data = src.data();
    let dst_data = dst.data_mut();
    for y in y0..y1 {
        let v = fixed(y, t.sy, t.ty);
        let iy = v >> 16;
        if iy < -1 || iy >= sh {
            continue;
        }
        let wy = ((v >> 8) & 0xff) as u16;
        let row = |r: i64| {
            if (0..sh).contains(&r) {
                &src_data[r as usize * stride..][..stride]
            } else {
                &transparent[..]
            }
        };
        let (upper, lower) = (row(iy), row(iy + 1));
        for ((out, &a), &b) in padded[4..4 + stride].iter_mut().zip(upper).zip(lower) {
            *out = ((u16::from(a) * (256 - wy) + u16::from(b) * wy + 128) >> 8) as u8;
        }

        let dst_row = &mut dst_data[(y * dw + x0) * 4..(y * dw + x1) * 4];
        for (d, &(at, wx)) in dst_row.chunks_exact_mut(4).zip(&columns) {
            let left =
                u32::from_le_bytes(padded[at * 4..at * 4 + 4].try_into().expect("four bytes"));
            let right = u32::from_le_bytes(
                padded[at * 4 + 4..at * 4 + 8]
                    .try_into()
                    .expect("four bytes"),
            );
            if left | right != 0 {
                blend_packed::<MODE>(d, lerp(left, right, u32::from(wx)), opacity);
            }
        }
    }
}

/// Interpolates two packed RGBA pixels by `w`/256, two channels per 16-bit lane pair.
#[inline(always)]
fn lerp(p: u32, q: u32, w: u32) -> u32 {
    const LANES: u32 = 0x00ff_00ff;
    let rb = ((p & LANES) * (256 - w) + (q & LANES) * w + 0x0080_0080) >> 8;
    let ag = (((p >> 8) & LANES) * (256 - w) + ((q >> 8) & LANES) * w + 0x0080_0080) >> 8;
    (rb & LANES) | ((ag & LANES) << 8)
}

/// Source-over of a packed premultiplied pixel scaled by `opacity`/256 onto an opaque one.
#[inline(always)]
fn blend_normal(d: &mut [u8], src: u32, opacity: u32) {
    let s = lerp(0, src, opacity);
    let keep = 256 - ((s >> 24) + (s >> 31));
    let dst = u32::from_le_bytes(d[..4].try_into().expect("four bytes per pixel"));
    let kept = lerp(0, dst, keep).to_le_bytes();
    let s = s.to_le_bytes();
    for ch in 0..3 {
        d[ch] = s[ch].saturating_add(kept[ch]);
    }
    d[3] = 255;
}

/// Divides by 255 with rounding, exactly for products of two bytes.
#[inline]
fn div255(x: u32) -> u32 {
    (x + 128 + ((x + 128) >> 8)) >> 8
}

/// Blends premultiplied `src` (scaled by `opacity`/256) onto the opaque pixel `d`.
#[inline(always)]
fn blend_pixel<const MODE: u8>(d: &mut [u8], src: [u8; 4], opacity: u32) {
    let sa = (u32::from(src[3]) * opacity + 128) >> 8;
    if sa == 0 {
        return;
    }
    let inv = 255 - sa;
    for ch in 0..3 {
        let cs = (u32::from(src[ch]) * opacity + 128) >> 8;
        let cb = u32::from(d[ch]);
        // With an opaque backdrop, each mode's premultiplied result is
        // cb * (1 - sa) + sa * B(Cs, Cb), simplified per mode.
        let out = match MODE {
            MULTIPLY => div255(cs * cb) + div255(cb * inv),
            SCREEN => cs + cb - div255(cs * cb),
            DARKEN => cs + cb - (cs * 255).max(cb * sa).div_ceil(255).min(cs + cb),
            LIGHTEN => cs + cb - (cs * 255).min(cb * sa).div_ceil(255).min(cs + cb),
            ADD => cs + cb,
            OVERLAY => {
                let mixed = if 2 * cb <= 255 {
                    div255(2 * cs * cb)
                } else {
                    sa.saturating_sub(div255(2 * (255 - cb) * (sa - cs.min(sa))))
                };
                mixed + div255(cb * inv)
            }
            _ => cs + div255(cb * inv),
        };
        d[ch] = out.min(255) as u8;
    }
    d[3] = 255;
}

/// Blends a packed premultiplied pixel onto an opaque one; opaque sources at full opacity
/// are stored directly.
#[inline(always)]
fn blend_packed<const MODE: u8>(d: &mut [u8], src: u32, opacity: u32) {
    if MODE == NORMAL {
        if opacity == 256 && src >> 24 == 255 {
            d.copy_from_slice(&src.to_le_bytes());
        } else {
            blend_normal(d, src, opacity);
        }
    } else {
        blend_pixel::<MODE>(d, src.to_le_bytes(), opacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixmap(w: u32, h: u32, rgba: [u8; 4]) -> Pixmap {
        let mut p = Pixmap::new(w, h).expect("pixmap");
        for px in p.data_mut().chunks_exact_mut(4) {
            px.copy_from_slice(&rgba);
        }
        p
    }

    #[test]
    fn whole_pixel_moves_copy_exactly() {
        let mut dst = pixmap(8, 8, [0, 0, 0, 255]);
        let src = pixmap(2, 2, [10, 20, 30, 255]);
        draw(
            &mut dst,
            &src,
            Transform::from_translate(3.0, 4.0),
            1.0,
            BlendMode::Normal,
        );
        let at = |x: usize, y: usize| dst.data()[(y * 8 + x) * 4..][..4].to_vec();
        assert_eq!(at(3, 4), [10, 20, 30, 255]);
        assert_eq!(at(4, 5), [10, 20, 30, 255]);
        assert_eq!(at(5, 5), [0, 0, 0, 255]);
        assert_eq!(at(2, 4), [0, 0, 0, 255]);
    }

    #[test]
    fn opacity_and_modes_match_their_formulas() {
        let cases = [
            (BlendMode::Normal, 1.0, [128, 128, 128]),
            (BlendMode::Multiply, 1.0, [128, 26, 0]),
            (BlendMode::Screen, 1.0, [255, 153, 128]),
            (BlendMode::Darken, 1.0, [128, 51, 0]),
            (BlendMode::Lighten, 1.0, [255, 128, 128]),
            (BlendMode::Add, 1.0, [255, 179, 128]),
            (BlendMode::Normal, 0.5, [191, 90, 64]),
        ];
        for (mode, opacity, expected) in cases {
            let mut dst = pixmap(1, 1, [255, 51, 0, 255]);
            let src = pixmap(1, 1, [128, 128, 128, 255]);
            draw(&mut dst, &src, Transform::identity(), opacity, mode);
            let got = &dst.data()[..3];
            for (g, e) in got.iter().zip(expected) {
                assert!(
                    g.abs_diff(e) <= 1,
                    "{mode:?} at {opacity}: got {got:?}, expected {expected:?}"
                );
            }
        }
    }

    #[test]
    fn half_pixel_moves_spread_over_two_pixels() {
        let mut dst = pixmap(4, 1, [0, 0, 0, 255]);
        let src = pixmap(1, 1, [200, 200, 200, 255]);
        draw(
            &mut dst,
            &src,
            Transform::from_translate(1.5, 0.0),
            1.0,
            BlendMode::Normal,
        );
        let row: Vec<u8> = dst.data().chunks_exact(4).map(|p| p[0]).collect();
        assert_eq!(row, [0, 100, 100, 0]);
    }
}
