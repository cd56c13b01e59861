//! RGBA to planar YUV 4:2:0 (I420), ITU-R BT.709 coefficients, limited (video) range:
//! luma 16-235, chroma 16-240. Video encoders take this layout, and giving it to them
//! directly costs far less than letting them convert RGBA.
//!
//! Integer arithmetic with 8 fractional bits in 16-bit lanes (which compiles to vector code
//! on any x86-64), so that every machine produces the same bytes; results are within one
//! step of the exact BT.709 values. Each chroma sample comes from the average of its 2x2
//! block of pixels (odd edges repeat the last row or column).

/// A frame in I420: a full-size luma plane, then quarter-size Cb and Cr planes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420 {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl I420 {
    pub fn chroma_width(&self) -> usize {
        (self.width as usize).div_ceil(2)
    }

    pub fn chroma_height(&self) -> usize {
        (self.height as usize).div_ceil(2)
    }
}

/// BT.709 limited-range coefficients, scaled by 2^8 and rounded so that luma weights sum
/// to 220 (white maps to 16 + 219) and chroma weights to 0 (greys carry no colour).
const Y_R: u16 = 47;
const Y_G: u16 = 157;
const Y_B: u16 = 16;
const U_R: i16 = -26;
const U_G: i16 = -86;
const U_B: i16 = 112;
const V_R: i16 = 112;
const V_G: i16 = -102;
const V_B: i16 = -10;

#[inline(always)]
fn luma(r: u8, g: u8, b: u8) -> u8 {
    (((Y_R * u16::from(r) + Y_G * u16::from(g) + Y_B * u16::from(b) + 128) >> 8) + 16) as u8
}

#[inline(always)]
fn chroma(r: i16, g: i16, b: i16, (kr, kg, kb): (i16, i16, i16)) -> u8 {
    (((kr * r + kg * g + kb * b + 128) >> 8) + 128) as u8
}

/// Converts an opaque RGBA frame (rows top to bottom, 4 bytes a pixel).
pub fn rgba_to_i420(rgba: &[u8], width: u32, height: u32) -> I420 {
    let (w, h) = (width as usize, height as usize);
    assert_eq!(
        rgba.len(),
        w * h * 4,
        "frame buffer does not match {width}x{height}"
    );
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = I420 {
        width,
        height,
        y: vec![0; w * h],
        u: vec![0; cw * ch],
        v: vec![0; cw * ch],
    };

    // One pass per pair of rows, while they sit in the L1 cache: the luma of both, their
    // vertical sums (a plain loop over bytes, vectorised), then pairs of those sums across.
    // Reading the frame once instead of twice matters: a 720p frame is larger than L2.
    let mut column_sums = vec![0u16; w * 4];
    for cy in 0..ch {
        let top = &rgba[2 * cy * w * 4..][..w * 4];
        let bottom = &rgba[(2 * cy + 1).min(h - 1) * w * 4..][..w * 4];
        for row in (2 * cy)..(2 * cy + 2).min(h) {
            let src = if row == 2 * cy { top } else { bottom };
            for (dst, px) in out.y[row * w..][..w].iter_mut().zip(src.chunks_exact(4)) {
                *dst = luma(px[0], px[1], px[2]);
            }
        }
        for ((sum, &t), &b) in column_sums.iter_mut().zip(top).zip(bottom) {
            *sum = u16::from(t) + u16::from(b);
        }
        let u_row = &mut out.u[cy * cw..][..cw];
        let v_row = &mut out.v[cy * cw..][..cw];

        // Whole 2x2 blocks, then a last column of single pixels when the width is odd.
        for ((u, v), pair) in u_row
            .iter_mut()
            .zip(v_row.iter_mut())
            .zip(column_sums.chunks_exact(8))
        {
            let average = |c: usize| ((pair[c] + pair[c + 4] + 2) >> 2) as i16;
            let (r, g, b) = (average(0), average(1), average(2));
            *u = chroma(r, g, b, (U_R, U_G, U_B));
            *v = chroma(r, g, b, (V_R, V_G, V_B));
        }
        if w % 2 == 1 {
            let last = &column_sums[(w - 1) * 4..];
            let average = |c: usize| ((last[c] + 1) >> 1) as i16;
            let (r, g, b) = (average(0), average(1), average(2));
            u_row[cw - 1] = chroma(r, g, b, (U_R, U_G, U_B));
            v_row[cw - 1] = chroma(r, g, b, (V_R, V_G, V_B));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn solid(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
        (0..width * height)
            .flat_map(|_| [rgb[0], rgb[1], rgb[2], 255])
            .collect()
    }

    #[test]
    fn reference_colours_match_bt709() {
        // (R, G, B) -> (Y, Cb, Cr), BT.709 limited range, rounded.
        let cases = [
            ([0, 0, 0], [16, 128, 128]),
            ([255, 255, 255], [235, 128, 128]),
            ([255, 0, 0], [63, 102, 240]),
            ([0, 255, 0], [173, 42, 26]),
            ([0, 0, 255], [32, 240, 118]),
            ([128, 128, 128], [126, 128, 128]),
        ];
        for (rgb, [y, u, v]) in cases {
            let frame = rgba_to_i420(&solid(4, 2, rgb), 4, 2);
            let got = [frame.y[0], frame.u[0], frame.v[0]];
            // Within one step of the exact values (8-bit fixed-point coefficients).
            assert!(
                got.iter().zip([y, u, v]).all(|(g, e)| g.abs_diff(e) <= 1),
                "{rgb:?}: {got:?}"
            );
            if rgb[0] == rgb[1] && rgb[1] == rgb[2] {
                assert_eq!(got, [y, u, v], "greys are exact");
            }
        }
    }

    #[test]
    fn odd_sizes_cover_every_pixel() {
        let frame = rgba_to_i420(&solid(5, 3, [255, 0, 0]), 5, 3);
        assert_eq!((frame.y.len(), frame.u.len(), frame.v.len()), (15, 6, 6));
        assert!(frame.u.iter().all(|&u| u == 102));
    }

    #[test]
    fn chroma_averages_its_block() {
        // Left column red, right column blue: chroma is the average of the two.
        let mut rgba = Vec::new();
        for _ in 0..2 {
            rgba.extend_from_slice(&[255, 0, 0, 255, 0, 0, 255, 255]);
        }
        let frame = rgba_to_i420(&rgba, 2, 2);
        let mixed = rgba_to_i420(&solid(2, 2, [128, 0, 128]), 2, 2);
        assert!(frame.u[0].abs_diff(mixed.u[0]) <= 1 && frame.v[0].abs_diff(mixed.v[0]) <= 1);
    }

    proptest! {
        #[test]
        fn stays_in_video_range(r: u8, g: u8, b: u8) {
            let frame = rgba_to_i420(&solid(2, 2, [r, g, b]), 2, 2);
            prop_assert!((16..=235).contains(&frame.y[0]));
            prop_assert!((16..=240).contains(&frame.u[0]));
            prop_assert!((16..=240).contains(&frame.v[0]));
        }
    }
}
