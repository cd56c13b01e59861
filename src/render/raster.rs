//! Drawing a layer's content once into its own pixmap (a [`Raster`]), at the resolution
//! the layer will need; the compositor then places it with a transform in every frame.
//! Solid fills, gradients, pictures and shapes live here; text in `text.rs`.

use std::sync::OnceLock;

use tiny_skia::{FillRule, FilterQuality, Paint, PathBuilder, Pixmap, PixmapPaint, Rect, Shader};

use super::effects::{dither_offset, with_shadow};
use crate::movie::color::Color;
use crate::movie::format::{Fit, GradientKind, ShapeKind};
use crate::movie::timeline::{GradientSpec, ShapeSpec};

/// A layer's content drawn into pixels.
///
/// The layer's box spans `box_w` by `box_h` layer pixels; in the pixmap it starts at
/// `origin` and each layer pixel is `scale` pixmap pixels. Ink may extend past the box
/// (shadows, strokes, overflowing text), which is why the origin is not always zero.
#[derive(Debug)]
pub struct Raster {
    pub pixmap: Option<Pixmap>,
    pub origin: (f32, f32),
    pub scale: f32,
    pub box_w: f32,
    pub box_h: f32,
    /// Box-filtered copies at 1/2 and 1/4 size, made when the raster is first shown at
    /// under half its drawn scale: bilinear sampling alone would skip pixels and shimmer.
    pub halves: OnceLock<Vec<Pixmap>>,
}

/// The largest side of any layer raster, in pixels.
pub(super) const MAX_RASTER_SIDE: f32 = 8192.0;
/// The most pixels one layer raster may hold (64 MiB of RGBA).
pub(super) const MAX_RASTER_PIXELS: f32 = 16_777_216.0;

impl Raster {
    /// The pixmap to sample for content shown at `shown_scale` pixmap pixels per layer
    /// pixel, and how many times it was halved.
    pub(super) fn level(&self, shown_scale: f32) -> Option<(&Pixmap, i32)> {
        let full = self.pixmap.as_ref()?;
        let mut halvings = 0;
        while halvings < 2 && shown_scale / self.scale * 2f32.powi(halvings) < 0.5 {
            halvings += 1;
        }
        if halvings == 0 {
            return Some((full, 0));
        }
        let halves = self.halves.get_or_init(|| {
            let half = halve(full);
            let quarter = halve(&half);
            vec![half, quarter]
        });
        Some((&halves[halvings as usize - 1], halvings))
    }

    /// A raster with nothing to draw.
    pub fn empty(box_w: f32, box_h: f32) -> Self {
        Self {
            pixmap: None,
            origin: (0.0, 0.0),
            scale: 1.0,
            box_w,
            box_h,
            halves: OnceLock::new(),
        }
    }
}

/// A transparent pixmap of at least one pixel, or `None` past the size limits (the layer
/// is then left out, with a warning: only an absurd movie gets there).
pub(super) fn new_pixmap(width: f32, height: f32) -> Option<Pixmap> {
    let w = width.ceil().max(1.0);
    let h = height.ceil().max(1.0);
    if w > MAX_RASTER_SIDE || h > MAX_RASTER_SIDE || w * h > MAX_RASTER_PIXELS {
        tracing::warn!(
            width = w,
            height = h,
            "layer raster over the size limit; not drawn"
        );
        return None;
    }
    Pixmap::new(w as u32, h as u32)
}

pub(super) fn solid_paint(color: Color) -> Paint<'static> {
    Paint {
        shader: Shader::SolidColor(color.to_skia()),
        anti_alias: true,
        ..Paint::default()
    }
}

pub(super) fn solid(color: Color, box_w: f32, box_h: f32) -> Raster {
    let mut pixmap = new_pixmap(box_w, box_h);
    if let Some(p) = pixmap.as_mut() {
        p.fill(color.to_skia());
    }
    Raster {
        pixmap,
        origin: (0.0, 0.0),
        scale: 1.0,
        box_w,
        box_h,
        halves: Default::default(),
    }
}

/// Entries in a gradient's colour table.
const RAMP_LEN: usize = 1024;

/// Premultiplied colours along the ramp, in 8.8 fixed point so that dithering can use
/// the fraction below one step.
fn ramp(spec: &GradientSpec) -> Vec<[u16; 4]> {
    (0..RAMP_LEN)
        .map(|i| {
            let t = i as f64 / (RAMP_LEN - 1) as f64;
            let next = spec.stops.partition_point(|(offset, _)| *offset <= t);
            let (c0, c1, f) = if next == 0 {
                (spec.stops[0].1, spec.stops[0].1, 0.0)
            } else if next == spec.stops.len() {
                let last = spec.stops[next - 1].1;
                (last, last, 0.0)
            } else {
                let (o0, c0) = spec.stops[next - 1];
                let (o1, c1) = spec.stops[next];
                let span = o1 - o0;
                (c0, c1, if span > 0.0 { (t - o0) / span } else { 0.0 })
            };
            // Mixed premultiplied, as CSS does: a fade to transparent keeps its hue.
            let premultiplied = |c: Color| {
                let alpha = f64::from(c.a) / 255.0;
                [
                    f64::from(c.r) * alpha,
                    f64::from(c.g) * alpha,
                    f64::from(c.b) * alpha,
                    f64::from(c.a),
                ]
            };
            let (p0, p1) = (premultiplied(c0), premultiplied(c1));
            let mix = |i: usize| (p0[i] + (p1[i] - p0[i]) * f) * 256.0;
            [mix(0) as u16, mix(1) as u16, mix(2) as u16, mix(3) as u16]
        })
        .collect()
}

/// Fills the box row by row from a colour table, with ordered dithering so that smooth
/// ramps do not band (8-bit steps turn into visible stripes after video encoding).
pub(super) fn gradient(spec: &GradientSpec, box_w: f32, box_h: f32) -> Raster {
    let Some(mut pixmap) = new_pixmap(box_w, box_h) else {
        return Raster::empty(box_w, box_h);
    };
    let table = ramp(spec);
    let (w, h) = (pixmap.width() as usize, pixmap.height() as usize);
    let (wf, hf) = (w as f64, h as f64);

    let angle = spec.angle_deg.to_radians();
    let (dx, dy) = (angle.cos(), angle.sin());
    // CSS gradient line length: the ramp reaches both corners.
    let line = (wf * dx.abs() + hf * dy.abs()).max(1e-6);
    let [cx, cy] = [spec.center[0] * wf, spec.center[1] * hf];
    let radius = (spec.radius * (wf * wf + hf * hf).sqrt() / 2.0).max(1e-6);

    let last = (RAMP_LEN - 1) as f64;
    let data = pixmap.data_mut();
    for y in 0..h {
        let py = y as f64 + 0.5;
        let row = &mut data[y * w * 4..(y + 1) * w * 4];
        for (x, px) in row.chunks_exact_mut(4).enumerate() {
            let pxf = x as f64 + 0.5;
            let t = match spec.kind {
                GradientKind::Linear => 0.5 + ((pxf - wf / 2.0) * dx + (py - hf / 2.0) * dy) / line,
                GradientKind::Radial => ((pxf - cx).powi(2) + (py - cy).powi(2)).sqrt() / radius,
            };
            let entry = table[(t.clamp(0.0, 1.0) * last) as usize];
            let bias = dither_offset(x, y);
            let alpha = ((u32::from(entry[3]) + bias) >> 8).min(255);
            for c in 0..3 {
                px[c] = ((u32::from(entry[c]) + bias) >> 8).min(alpha) as u8;
            }
            px[3] = alpha as u8;
        }
    }
    Raster {
        pixmap: Some(pixmap),
        origin: (0.0, 0.0),
        scale: 1.0,
        box_w,
        box_h,
        halves: Default::default(),
    }
}

/// Draws `picture` into the box by `fit`, at `scale` pixmap pixels per layer pixel.
pub(super) fn picture(picture: &Pixmap, fit: Fit, box_w: f32, box_h: f32, scale: f32) -> Raster {
    let Some(mut pixmap) = new_pixmap(box_w * scale, box_h * scale) else {
        return Raster::empty(box_w, box_h);
    };
    let (pw, ph) = (picture.width() as f32, picture.height() as f32);
    let (tw, th) = (pixmap.width() as f32, pixmap.height() as f32);
    let (sx, sy) = match fit {
        Fit::Fill => (tw / pw, th / ph),
        Fit::Cover => {
            let s = (tw / pw).max(th / ph);
            (s, s)
        }
        Fit::Contain => {
            let s = (tw / pw).min(th / ph);
            (s, s)
        }
    };
    let transform =
        tiny_skia::Transform::from_translate((tw - pw * sx) / 2.0, (th - ph * sy) / 2.0)
            .pre_scale(sx, sy);
    let quality = if sx < 1.0 || sy < 1.0 {
        FilterQuality::Bicubic
    } else {
        FilterQuality::Bilinear
    };
    let paint = PixmapPaint {
        quality,
        ..PixmapPaint::default()
    };
    pixmap.draw_pixmap(0, 0, picture.as_ref(), &paint, transform, None);
    Raster {
        pixmap: Some(pixmap),
        origin: (0.0, 0.0),
        scale,
        box_w,
        box_h,
        halves: Default::default(),
    }
}

/// Four cubic arcs make a quarter circle each; this is the control distance for radius 1.
const KAPPA: f32 = 0.552_284_8;

fn rounded_rect(w: f32, h: f32, r: f32) -> Option<tiny_skia::Path> {
    let r = r.min(w / 2.0).min(h / 2.0).max(0.0);
    if r <= 0.0 {
        return Rect::from_xywh(0.0, 0.0, w, h).map(PathBuilder::from_rect);
    }
    let k = r * KAPPA;
    let mut pb = PathBuilder::new();
    pb.move_to(r, 0.0);
    pb.line_to(w - r, 0.0);
    pb.cubic_to(w - r + k, 0.0, w, r - k, w, r);
    pb.line_to(w, h - r);
    pb.cubic_to(w, h - r + k, w - r + k, h, w - r, h);
    pb.line_to(r, h);
    pb.cubic_to(r - k, h, 0.0, h - r + k, 0.0, h - r);
    pb.line_to(0.0, r);
    pb.cubic_to(0.0, r - k, r - k, 0.0, r, 0.0);
    pb.close();
    pb.finish()
}

/// Draws a shape with its stroke centred on the outline, and its shadow.
pub(super) fn shape(spec: &ShapeSpec, box_w: f32, box_h: f32, scale: f32) -> Raster {
    let (w, h) = (box_w * scale, box_h * scale);
    // A shape with no area (a bar growing from zero width) draws nothing.
    if w < 0.01 || h < 0.01 {
        return Raster::empty(box_w, box_h);
    }
    let path = match spec.shape {
        ShapeKind::Rectangle => rounded_rect(w, h, 0.0),
        ShapeKind::RoundedRectangle => rounded_rect(w, h, spec.radius as f32 * scale),
        ShapeKind::Ellipse => Rect::from_xywh(0.0, 0.0, w, h).and_then(PathBuilder::from_oval),
    };
    let Some(path) = path else {
        return Raster::empty(box_w, box_h);
    };
    let pad = spec
        .stroke
        .map_or(0.0, |(_, width)| width as f32 * scale / 2.0)
        .ceil()
        + 1.0;
    let Some(mut pixmap) = new_pixmap(w + 2.0 * pad, h + 2.0 * pad) else {
        return Raster::empty(box_w, box_h);
    };
    let at = tiny_skia::Transform::from_translate(pad, pad);
    if let Some(fill) = spec.fill {
        pixmap.fill_path(&path, &solid_paint(fill), FillRule::Winding, at, None);
    }
    if let Some((color, width)) = spec.stroke.filter(|(_, width)| *width > 0.0) {
        let stroke = tiny_skia::Stroke {
            width: width as f32 * scale,
            ..Default::default()
        };
        pixmap.stroke_path(&path, &solid_paint(color), &stroke, at, None);
    }
    let raster = Raster {
        pixmap: Some(pixmap),
        origin: (pad, pad),
        scale,
        box_w,
        box_h,
        halves: Default::default(),
    };
    match spec.shadow {
        Some(shadow) => with_shadow(raster, shadow),
        None => raster,
    }
}

/// A half-size copy, each pixel the average of a 2x2 block (odd edges repeat).
fn halve(src: &Pixmap) -> Pixmap {
    let (w, h) = (src.width() as usize, src.height() as usize);
    let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
    let mut out =
        Pixmap::new(hw as u32, hh as u32).expect("half of a non-empty pixmap is non-empty");
    let data = src.data();
    let at =
        |x: usize, y: usize, c: usize| u16::from(data[(y.min(h - 1) * w + x.min(w - 1)) * 4 + c]);
    for (i, px) in out.data_mut().chunks_exact_mut(4).enumerate() {
        let (x, y) = (2 * (i % hw), 2 * (i / hw));
        for (c, value) in px.iter_mut().enumerate() {
            let sum = at(x, y, c) + at(x + 1, y, c) + at(x, y + 1, c) + at(x + 1, y + 1, c);
            *value = ((sum + 2) >> 2) as u8;
        }
    }
    out
}
