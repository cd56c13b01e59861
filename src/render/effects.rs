//! Pixel effects shared by layer kinds: drop shadows (a blurred, tinted copy of the
//! content's alpha) and ordered dithering.

use tiny_skia::{Pixmap, PixmapPaint};

use super::raster::{new_pixmap, Raster};
use crate::movie::timeline::ShadowSpec;

/// A 4x4 Bayer matrix scaled to 0..256, added to 8.8 fixed-point values before they are
/// cut to 8 bits.
pub(super) fn dither_offset(x: usize, y: usize) -> u32 {
    const BAYER: [[u32; 4]; 4] = [[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]];
    BAYER[y & 3][x & 3] * 16 + 8
}

/// Blurs an 8-bit channel in place with three box passes each way (close to a Gaussian
/// of standard deviation about `radius / 2`).
pub(super) fn blur_alpha(alpha: &mut [u8], width: usize, height: usize, radius: usize) {
    if radius == 0 || width == 0 || height == 0 {
        return;
    }
    let mut scratch = vec![0u8; alpha.len()];
    for _ in 0..3 {
        box_pass(alpha, &mut scratch, width, height, radius, true);
        box_pass(&scratch, alpha, width, height, radius, false);
    }
}

fn box_pass(
    src: &[u8],
    dst: &mut [u8],
    width: usize,
    height: usize,
    radius: usize,
    horizontal: bool,
) {
    let (lines, len, step, stride) = if horizontal {
        (height, width, 1, width)
    } else {
        (width, height, width, 1)
    };
    let window = (2 * radius + 1) as u32;
    for line in 0..lines {
        let base = line * stride;
        let at = |i: isize| -> u32 {
            if i < 0 || i as usize >= len {
                0
            } else {
                u32::from(src[base + i as usize * step])
            }
        };
        let mut sum: u32 = (-(radius as isize)..=radius as isize).map(at).sum();
        for i in 0..len {
            dst[base + i * step] = ((sum + window / 2) / window) as u8;
            sum += at(i as isize + radius as isize + 1);
            sum -= at(i as isize - radius as isize);
        }
    }
}

/// Puts a shadow under a raster, growing its pixmap so that the shadow fits.
pub(super) fn with_shadow(raster: Raster, shadow: ShadowSpec) -> Raster {
    let Some(content) = raster.pixmap.as_ref() else {
        return raster;
    };
    let scale = raster.scale;
    let blur_px = (shadow.blur as f32 * scale).max(0.0);
    let reach = (blur_px * 1.5).ceil();
    let (dx, dy) = (shadow.dx as f32 * scale, shadow.dy as f32 * scale);
    let left = reach + (-dx).max(0.0).ceil();
    let top = reach + (-dy).max(0.0).ceil();
    let right = reach + dx.max(0.0).ceil();
    let bottom = reach + dy.max(0.0).ceil();
    let (cw, ch) = (content.width() as f32, content.height() as f32);
    let Some(mut out) = new_pixmap(cw + left + right, ch + top + bottom) else {
        return raster;
    };

    let shadow_layer = tinted_alpha(
        content,
        &out,
        (left + dx).round() as i32,
        (top + dy).round() as i32,
        shadow,
        blur_px,
    );
    out.draw_pixmap(
        0,
        0,
        shadow_layer.as_ref(),
        &PixmapPaint::default(),
        tiny_skia::Transform::identity(),
        None,
    );
    out.draw_pixmap(
        left as i32,
        top as i32,
        content.as_ref(),
        &PixmapPaint::default(),
        tiny_skia::Transform::identity(),
        None,
    );
    Raster {
        pixmap: Some(out),
        origin: (raster.origin.0 + left, raster.origin.1 + top),
        ..raster
    }
}

/// The content's alpha placed at (x, y) in a pixmap the size of `like`, blurred and tinted.
fn tinted_alpha(
    content: &Pixmap,
    like: &Pixmap,
    x: i32,
    y: i32,
    shadow: ShadowSpec,
    blur_px: f32,
) -> Pixmap {
    let (w, h) = (like.width() as usize, like.height() as usize);
    let mut alpha = vec![0u8; w * h];
    let cw = content.width() as usize;
    for (row, chunk) in content.data().chunks_exact(cw * 4).enumerate() {
        let ty = row as i32 + y;
        if ty < 0 || ty as usize >= h {
            continue;
        }
        for (col, px) in chunk.chunks_exact(4).enumerate() {
            let tx = col as i32 + x;
            if tx >= 0 && (tx as usize) < w {
                alpha[ty as usize * w + tx as usize] = px[3];
            }
        }
    }
    blur_alpha(&mut alpha, w, h, (blur_px / 2.0).round() as usize);

    let mut out = like.clone();
    let c = shadow.color;
    for (px, a) in out.data_mut().chunks_exact_mut(4).zip(alpha) {
        let a = u32::from(a) * u32::from(c.a) / 255;
        px[0] = (u32::from(c.r) * a / 255) as u8;
        px[1] = (u32::from(c.g) * a / 255) as u8;
        px[2] = (u32::from(c.b) * a / 255) as u8;
        px[3] = a as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_spreads_and_keeps_the_mass() {
        let (w, h) = (21, 21);
        let mut alpha = vec![0u8; w * h];
        for y in 8..13 {
            for x in 8..13 {
                alpha[y * w + x] = 255;
            }
        }
        let before: u32 = alpha.iter().map(|&a| u32::from(a)).sum();
        blur_alpha(&mut alpha, w, h, 2);
        let after: u32 = alpha.iter().map(|&a| u32::from(a)).sum();
        assert!(alpha[10 * w + 5] > 0, "blur reaches outside the square");
        assert!(alpha[10 * w + 10] < 255, "the centre softens");
        assert!(
            (f64::from(after) / f64::from(before) - 1.0).abs() < 0.05,
            "{before} -> {after}"
        );
    }
}
