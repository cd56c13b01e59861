//! Text layers: shaping with cosmic-text (HarfBuzz-compatible shaping, bidirectional
//! layout, per-script font fallback), glyph outlines turned into one path, and that path
//! filled, outlined and shadowed. Text is drawn from outlines rather than cached glyph
//! bitmaps because a text layer is drawn once per binding, not once per frame, and
//! outlines give strokes and any scale for free.

use cosmic_text::{
    Attrs, Buffer, CacheKeyFlags, Family, FontSystem, Metrics, Shaping, Style, SwashCache, Weight,
    Wrap,
};
use tiny_skia::{FillRule, PathBuilder};

use super::effects::with_shadow;
use super::raster::{new_pixmap, solid_paint, Raster};
use crate::movie::format::{Align, Overflow, VerticalAlign};
use crate::movie::timeline::TextSpec;

/// The font system and the outline cache, used together under one lock.
#[derive(Debug)]
pub struct TextEngine {
    pub fonts: FontSystem,
    pub swash: SwashCache,
}

/// A glyph as shaped, for checks on coverage and order.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapedGlyph {
    /// Byte offset of the glyph's cluster in the text.
    pub cluster: usize,
    pub glyph_id: u16,
    pub x: f32,
    pub family: String,
}

/// One laid-out block of text.
struct Block {
    buffer: Buffer,
    width: f32,
    height: f32,
}

impl TextEngine {
    pub fn new(fonts: FontSystem) -> Self {
        Self {
            fonts,
            swash: SwashCache::new(),
        }
    }

    /// Whether a family is available (bundled or from the movie's fonts).
    pub fn has_family(&self, family: &str) -> bool {
        self.family_name(family).is_some()
    }

    /// The family's name as its fonts spell it (names match without regard to case).
    fn family_name(&self, family: &str) -> Option<String> {
        self.fonts.db().faces().find_map(|face| {
            face.families
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(family))
                .map(|(name, _)| name.clone())
        })
    }

    /// The face that best matches the requested family, weight and style, as attributes
    /// that name it exactly: the shaper only takes a family at a weight it really has, and
    /// would otherwise fall back to another family.
    fn resolve(&self, spec: &TextSpec) -> (String, Weight, Style) {
        let wanted_style = if spec.italic {
            Style::Italic
        } else {
            Style::Normal
        };
        let Some(family) = self.family_name(&spec.family) else {
            return (spec.family.clone(), Weight(spec.weight), wanted_style);
        };
        let query = cosmic_text::fontdb::Query {
            families: &[cosmic_text::fontdb::Family::Name(&family)],
            weight: Weight(spec.weight),
            stretch: cosmic_text::fontdb::Stretch::Normal,
            style: wanted_style,
        };
        match self
            .fonts
            .db()
            .query(&query)
            .and_then(|id| self.fonts.db().face(id))
        {
            Some(face) => (family, face.weight, face.style),
            None => (family, Weight(spec.weight), wanted_style),
        }
    }

    fn layout(
        &mut self,
        spec: &TextSpec,
        size_px: f32,
        wrap_width: Option<f32>,
        align: Option<cosmic_text::Align>,
    ) -> Block {
        let metrics = Metrics::new(size_px, size_px * spec.line_height as f32);
        let mut buffer = Buffer::new(&mut self.fonts, metrics);
        let (family, weight, style) = self.resolve(spec);
        let attrs = Attrs::new()
            .family(Family::Name(&family))
            .weight(weight)
            .style(style)
            .cache_key_flags(CacheKeyFlags::DISABLE_HINTING);
        let mut borrowed = buffer.borrow_with(&mut self.fonts);
        borrowed.set_size(wrap_width, None);
        // Shrinking must see a word that is too long for the box, not break it.
        borrowed.set_wrap(if spec.overflow == Overflow::Shrink {
            Wrap::Word
        } else {
            Wrap::WordOrGlyph
        });
        borrowed.set_text(&spec.text, &attrs, Shaping::Advanced, align);
        borrowed.shape_until_scroll(false);
        let (mut width, mut height) = (0.0f32, 0.0f32);
        for run in buffer.layout_runs() {
            width = width.max(run.line_w);
            height = height.max(run.line_top + run.line_height);
        }
        Block {
            buffer,
            width,
            height,
        }
    }

    /// Shapes `spec.text` on one line (no wrapping) and lists its glyphs.
    pub fn shape(&mut self, spec: &TextSpec) -> Vec<ShapedGlyph> {
        let block = self.layout(spec, spec.size_px as f32, None, None);
        let mut glyphs = Vec::new();
        for run in block.buffer.layout_runs() {
            for glyph in run.glyphs {
                let family = self
                    .fonts
                    .db()
                    .face(glyph.font_id)
                    .and_then(|face| face.families.first().map(|(name, _)| name.clone()))
                    .unwrap_or_default();
                glyphs.push(ShapedGlyph {
                    cluster: glyph.start,
                    glyph_id: glyph.glyph_id,
                    x: glyph.x,
                    family,
                });
            }
        }
        glyphs
    }

    /// Lays out at the requested size, or for `shrink`, at the largest size that fits.
    fn fitted(
        &mut self,
        spec: &TextSpec,
        box_w: Option<f32>,
        box_h: Option<f32>,
        scale: f32,
    ) -> (Block, f32) {
        let align = cosmic_align(spec.align);
        let wrap = box_w.map(|w| w * scale);
        let fits = |block: &Block| {
            wrap.is_none_or(|w| block.width <= w + 0.5)
                && box_h.is_none_or(|h| block.height <= h * scale + 0.5)
        };
        let full = spec.size_px as f32 * scale;
        let block = self.layout(spec, full, wrap, align);
        if spec.overflow != Overflow::Shrink || fits(&block) {
            return (block, full);
        }
        let (mut lo, mut hi) = ((spec.min_size_px as f32 * scale).min(full), full);
        let mut best = (self.layout(spec, lo, wrap, align), lo);
        for _ in 0..10 {
            if hi - lo < 0.25 * scale {
                break;
            }
            let mid = (lo + hi) / 2.0;
            let candidate = self.layout(spec, mid, wrap, align);
            if fits(&candidate) {
                lo = mid;
                best = (candidate, mid);
            } else {
                hi = mid;
            }
        }
        best
    }

    /// Draws a text layer; the box defaults to the text's extent.
    pub fn raster(
        &mut self,
        spec: &TextSpec,
        box_w: Option<f32>,
        box_h: Option<f32>,
        scale: f32,
    ) -> Raster {
        let (mut block, _size) = self.fitted(spec, box_w, box_h, scale);
        if box_w.is_none() && block.width > 0.0 {
            // Align lines against the widest one.
            let mut borrowed = block.buffer.borrow_with(&mut self.fonts);
            borrowed.set_size(Some(block.width.ceil()), None);
            borrowed.shape_until_scroll(false);
        }
        let layer_w = box_w.unwrap_or(block.width.ceil() / scale);
        let layer_h = box_h.unwrap_or(block.height.ceil() / scale);
        let offset_y = match spec.valign {
            VerticalAlign::Top => 0.0,
            VerticalAlign::Middle => (layer_h * scale - block.height) / 2.0,
            VerticalAlign::Bottom => layer_h * scale - block.height,
        };

        let Some(path) = self.outline(&block.buffer, offset_y) else {
            return Raster::empty(layer_w, layer_h);
        };
        let stroke_px = spec.stroke.map_or(0.0, |(_, w)| w as f32 * scale);
        let bounds = path.bounds();
        let pad = stroke_px.ceil() + 2.0;
        let (mut left, mut top) = ((bounds.left() - pad).floor(), (bounds.top() - pad).floor());
        let (mut right, mut bottom) = (
            (bounds.right() + pad).ceil(),
            (bounds.bottom() + pad).ceil(),
        );
        if spec.overflow == Overflow::Clip {
            left = left.max(0.0);
            top = top.max(0.0);
            right = right.min(layer_w * scale);
            bottom = bottom.min(layer_h * scale);
        }
        let Some(mut pixmap) = new_pixmap(right - left, bottom - top) else {
            return Raster::empty(layer_w, layer_h);
        };

        let at = tiny_skia::Transform::from_translate(-left, -top);
        if let Some((color, _)) = spec.stroke.filter(|(_, w)| *w > 0.0) {
            // Twice the width, under the fill: the outline grows outward only.
            let stroke = tiny_skia::Stroke {
                width: stroke_px * 2.0,
                line_join: tiny_skia::LineJoin::Round,
                ..Default::default()
            };
            pixmap.stroke_path(&path, &solid_paint(color), &stroke, at, None);
        }
        pixmap.fill_path(&path, &solid_paint(spec.color), FillRule::Winding, at, None);

        let raster = Raster {
            pixmap: Some(pixmap),
            origin: (-left, -top),
            scale,
            box_w: layer_w,
            box_h: layer_h,
            halves: Default::default(),
        };
        match spec.shadow {
            Some(shadow) => with_shadow(raster, shadow),
            None => raster,
        }
    }

    /// All glyph outlines of a laid-out buffer as one path in pixmap coordinates (y down).
    fn outline(&mut self, buffer: &Buffer, offset_y: f32) -> Option<tiny_skia::Path> {
        use cosmic_text::Command;
        let mut pb = PathBuilder::new();
        for run in buffer.layout_runs() {
            for glyph in run.glyphs {
                let physical = glyph.physical((0.0, 0.0), 1.0);
                let Some(commands) = self
                    .swash
                    .get_outline_commands(&mut self.fonts, physical.cache_key)
                else {
                    continue;
                };
                let ox = glyph.x + glyph.font_size * glyph.x_offset;
                let oy = run.line_y + glyph.y - glyph.font_size * glyph.y_offset + offset_y;
                let p = |x: f32, y: f32| (ox + x, oy - y);
                for command in commands.iter() {
                    match command {
                        Command::MoveTo(v) => {
                            let (x, y) = p(v.x, v.y);
                            pb.move_to(x, y);
                        }
                        Command::LineTo(v) => {
                            let (x, y) = p(v.x, v.y);
                            pb.line_to(x, y);
                        }
                        Command::QuadTo(c, v) => {
                            let ((cx, cy), (x, y)) = (p(c.x, c.y), p(v.x, v.y));
                            pb.quad_to(cx, cy, x, y);
                        }
                        Command::CurveTo(c1, c2, v) => {
                            let ((ax, ay), (bx, by), (x, y)) =
                                (p(c1.x, c1.y), p(c2.x, c2.y), p(v.x, v.y));
                            pb.cubic_to(ax, ay, bx, by, x, y);
                        }
                        Command::Close => pb.close(),
                    }
                }
            }
        }
        pb.finish()
    }
}

fn cosmic_align(align: Align) -> Option<cosmic_text::Align> {
    match align {
        Align::Start => None,
        Align::Left => Some(cosmic_text::Align::Left),
        Align::Center => Some(cosmic_text::Align::Center),
        Align::Right => Some(cosmic_text::Align::Right),
        Align::End => Some(cosmic_text::Align::End),
    }
}
