//! Drawing frames. A [`Renderer`] holds a bound timeline and its assets and turns a frame
//! index into pixels; nothing it draws depends on any other frame, so frames can be drawn
//! in any order, on any thread, and always come out the same.
//!
//! ```text
//! frame n -> scenes at n (one, or two in a transition)
//!         -> per scene: static prefix (background + layers that never change, drawn once)
//!                       + the remaining layers, each a cached raster placed by its transform
//!         -> transition mix -> Frame
//! ```

pub mod audio;
mod composite;
mod effects;
mod progress;
mod raster;
mod span;
pub mod text;
mod transition;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use tiny_skia::Pixmap;

pub use progress::Progress;
pub use span::render_span;

use crate::assets::{fonts, Assets, Clip, Picture, SoundFile};
use crate::error::{Error, Result};
use crate::movie::format::BlendMode;
use crate::movie::timeline::{Content, PlacedLayer, PlacedScene, Transform, VideoSpec};
use crate::movie::Timeline;
use raster::Raster;
use text::TextEngine;

/// One drawn frame: opaque RGBA, 8 bits per channel, rows top to bottom.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pixmap: Pixmap,
}

impl Frame {
    pub fn width(&self) -> u32 {
        self.pixmap.width()
    }

    pub fn height(&self) -> u32 {
        self.pixmap.height()
    }

    /// The pixels as RGBA. Frames are opaque, so premultiplied and straight alpha agree.
    pub fn rgba(&self) -> &[u8] {
        self.pixmap.data()
    }

    /// Encodes the frame as PNG.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        self.pixmap
            .encode_png()
            .map_err(|e| Error::internal(format!("png encoding failed: {e}")))
    }
}

/// Rasters of one layer by box size; sizes change only when width or height animate.
type RasterCache = Mutex<HashMap<(u32, u32), Arc<Raster>>>;

/// How many sizes of one layer are kept before the cache is emptied.
const RASTER_CACHE_SIZES: usize = 64;

/// The part of a scene that is the same in every frame: the backgrounds and the first
/// `layer_count` layers, already composited.
#[derive(Debug)]
struct StaticPrefix {
    layer_count: usize,
    pixmap: Pixmap,
}

/// Draws the frames of one bound timeline.
#[derive(Debug)]
pub struct Renderer {
    timeline: Arc<Timeline>,
    pictures: BTreeMap<String, Picture>,
    clips: BTreeMap<String, Arc<Clip>>,
    sounds: BTreeMap<String, Arc<SoundFile>>,
    text: Mutex<TextEngine>,
    rasters: Vec<Vec<RasterCache>>,
    prefixes: Vec<OnceLock<StaticPrefix>>,
}

impl Renderer {
    /// Prepares a renderer; fails when the movie names a font family that no font provides.
    pub fn new(timeline: Timeline, assets: Assets) -> Result<Self> {
        let engine = TextEngine::new(fonts::font_system(assets.fonts));
        for (scene, layer) in timeline
            .scenes
            .iter()
            .flat_map(|s| s.layers.iter().map(move |l| (s, l)))
        {
            if let Content::Text(spec) = &layer.content {
                if !engine.has_family(&spec.family) {
                    return Err(Error::invalid_movie(format!(
                        "scenes[{}]: font family {:?} is neither bundled ({}) nor in the movie's fonts",
                        scene.source_index,
                        spec.family,
                        fonts::bundled_families().join(", ")
                    )));
                }
            }
        }
        let rasters = timeline
            .scenes
            .iter()
            .map(|s| s.layers.iter().map(|_| RasterCache::default()).collect())
            .collect();
        let prefixes = timeline.scenes.iter().map(|_| OnceLock::new()).collect();
        Ok(Self {
            timeline: Arc::new(timeline),
            pictures: assets.pictures,
            clips: assets.clips,
            sounds: assets.sounds,
            text: Mutex::new(engine),
            rasters,
            prefixes,
        })
    }

    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Whether the movie has sound to mix: a placed sound whose file has samples. A clip
    /// without a sound stream adds none, so a movie of silent footage stays video-only.
    pub fn has_audio(&self) -> bool {
        self.timeline.audio.iter().any(|sound| {
            sound
                .source
                .as_ref()
                .and_then(|source| self.sounds.get(source))
                .is_some_and(|file| file.frames() > 0)
        })
    }

    /// Interleaved stereo samples `samples` of the movie's sound (see [`audio::mix`]).
    pub fn mix(&self, samples: std::ops::Range<u64>) -> Vec<f32> {
        audio::mix(&self.timeline, &self.sounds, samples)
    }

    /// Draws frame `frame_index` (0-based).
    pub fn render_frame(&self, frame_index: u64) -> Result<Frame> {
        let timeline = &self.timeline;
        if frame_index >= timeline.frame_count {
            return Err(Error::invalid_param(format!(
                "frame {frame_index} is past the end of the movie ({} frames)",
                timeline.frame_count
            )));
        }
        let n = frame_index as i64;
        let active: Vec<(usize, &PlacedScene)> = timeline.scenes_at(n).collect();
        let pixmap = match active[..] {
            [] => self.blank()?,
            [(index, scene)] => self.draw_scene(index, scene, n - scene.start_frame)?,
            [(a_index, a), (b_index, b), ..] => {
                let outgoing = self.draw_scene(a_index, a, n - a.start_frame)?;
                let incoming = self.draw_scene(b_index, b, n - b.start_frame)?;
                let transition = b
                    .transition
                    .expect("overlapping scenes come from a transition");
                let progress = transition
                    .easing
                    .apply((n - b.start_frame) as f64 / transition.frame_count as f64);
                transition::mix(
                    outgoing,
                    incoming,
                    transition,
                    progress as f32,
                    timeline.background,
                )
            }
        };
        Ok(Frame { pixmap })
    }

    fn blank(&self) -> Result<Pixmap> {
        let mut pixmap = Pixmap::new(self.timeline.width, self.timeline.height)
            .ok_or_else(|| Error::internal("canvas has no pixels"))?;
        pixmap.fill(self.timeline.background.to_skia());
        Ok(pixmap)
    }

    fn draw_scene(&self, index: usize, scene: &PlacedScene, frame_in_scene: i64) -> Result<Pixmap> {
        let prefix = self.prefixes[index].get_or_init(|| self.static_prefix(index, scene));
        let mut pixmap = prefix.pixmap.clone();
        for (layer_index, layer) in scene.layers.iter().enumerate().skip(prefix.layer_count) {
            if layer.is_visible_at(frame_in_scene) {
                let state = layer.transform_at(frame_in_scene, self.timeline.fps);
                if let Content::Video(spec) = &layer.content {
                    self.draw_video(&mut pixmap, layer, spec, &state, frame_in_scene)?;
                } else {
                    self.draw_layer(&mut pixmap, index, layer_index, layer, &state);
                }
            }
        }
        Ok(pixmap)
    }

    /// Composites the backgrounds and the leading layers that never change.
    fn static_prefix(&self, index: usize, scene: &PlacedScene) -> StaticPrefix {
        let mut pixmap = Pixmap::new(self.timeline.width, self.timeline.height)
            .expect("validated canvas sizes are non-zero");
        pixmap.fill(self.timeline.background.to_skia());
        if let Some(color) = scene.background {
            let rect =
                tiny_skia::Rect::from_xywh(0.0, 0.0, pixmap.width() as f32, pixmap.height() as f32)
                    .expect("canvas rect is valid");
            pixmap.fill_rect(
                rect,
                &raster::solid_paint(color),
                tiny_skia::Transform::identity(),
                None,
            );
        }
        let mut layer_count = 0;
        for (layer_index, layer) in scene.layers.iter().enumerate() {
            if !layer.is_static_over(scene.frame_count) {
                break;
            }
            let state = layer.transform_at(0, self.timeline.fps);
            self.draw_layer(&mut pixmap, index, layer_index, layer, &state);
            layer_count += 1;
        }
        tracing::debug!(
            scene = scene.source_index,
            layer_count,
            "static prefix drawn"
        );
        StaticPrefix {
            layer_count,
            pixmap,
        }
    }

    fn draw_layer(
        &self,
        target: &mut Pixmap,
        scene: usize,
        index: usize,
        layer: &PlacedLayer,
        state: &Transform,
    ) {
        if state.opacity <= 0.0 || state.scale <= 0.0 {
            return;
        }
        let raster = self.raster(scene, index, layer, state);
        place(target, &raster, state, layer.blend);
    }

    /// Draws the clip frame a video layer shows at `frame_in_scene`, decoded at the size
    /// of the layer's box.
    fn draw_video(
        &self,
        target: &mut Pixmap,
        layer: &PlacedLayer,
        spec: &VideoSpec,
        state: &Transform,
        frame_in_scene: i64,
    ) -> Result<()> {
        if state.opacity <= 0.0 || state.scale <= 0.0 {
            return Ok(());
        }
        let Some(clip) = spec.source.as_ref().and_then(|s| self.clips.get(s)) else {
            return Ok(());
        };
        let (cw, ch) = (f64::from(clip.info.width), f64::from(clip.info.height));
        let (w, h) = match (state.width, state.height) {
            (Some(w), Some(h)) => (w, h),
            (Some(w), None) => (w, w * ch / cw),
            (None, Some(h)) => (h * cw / ch, h),
            (None, None) => (cw, ch),
        };
        let (pw, ph) = (w.round().clamp(1.0, 8192.0), h.round().clamp(1.0, 8192.0));
        let fps = self.timeline.fps;
        let seconds =
            (frame_in_scene - layer.start_frame) as f64 * f64::from(fps.den) / f64::from(fps.num);
        let info = &clip.info;
        let index = spec.clip_frame(seconds, (info.fps_num, info.fps_den), info.frame_count);
        let picture = clip.frame(index, pw as u32, ph as u32, spec.fit)?;
        let raster = Raster {
            pixmap: Some((*picture).clone()),
            origin: (0.0, 0.0),
            scale: (pw / w.max(1e-3)) as f32,
            box_w: w as f32,
            box_h: h as f32,
            halves: OnceLock::new(),
        };
        place(target, &raster, state, layer.blend);
        Ok(())
    }
}

/// Places a raster in the frame by the layer's transform, opacity and blend mode.
fn place(target: &mut Pixmap, raster: &Raster, state: &Transform, blend: BlendMode) {
    {
        let Some((pixmap, halvings)) = raster.level(state.scale as f32) else {
            return;
        };
        // Raster pixels (of the chosen level) to layer pixels to frame pixels.
        let level_scale = 2f32.powi(halvings) / raster.scale;
        let placement = tiny_skia::Transform::from_translate(state.x as f32, state.y as f32)
            .pre_rotate(state.rotation_deg as f32)
            .pre_scale(state.scale as f32, state.scale as f32)
            .pre_translate(
                -(state.anchor_x as f32) * raster.box_w,
                -(state.anchor_y as f32) * raster.box_h,
            )
            .pre_scale(level_scale, level_scale)
            .pre_translate(
                -raster.origin.0 / 2f32.powi(halvings),
                -raster.origin.1 / 2f32.powi(halvings),
            );
        composite::draw(target, pixmap, placement, state.opacity as f32, blend);
    }
}

impl Renderer {
    /// The layer's content at the state's size, drawn on first use.
    fn raster(
        &self,
        scene: usize,
        index: usize,
        layer: &PlacedLayer,
        state: &Transform,
    ) -> Arc<Raster> {
        // Sizes are quantised to a quarter pixel, and content is drawn at the quantised
        // size, so a raster depends only on its key, never on which frame asked first.
        let size_key = |v: Option<f64>| v.map_or(u32::MAX, |v| (v.max(0.0) * 4.0).round() as u32);
        let key = (size_key(state.width), size_key(state.height));
        let cache = &self.rasters[scene][index];
        if let Some(raster) = lock(cache).get(&key) {
            return raster.clone();
        }

        let size = |k: u32| (k != u32::MAX).then(|| k as f32 / 4.0);
        let raster = Arc::new(self.draw_content(layer, size(key.0), size(key.1)));
        tracing::trace!(
            scene,
            layer = index,
            width = key.0,
            height = key.1,
            "layer drawn"
        );
        let mut cache = lock(cache);
        if cache.len() >= RASTER_CACHE_SIZES {
            cache.clear();
        }
        cache.entry(key).or_insert(raster).clone()
    }

    fn draw_content(&self, layer: &PlacedLayer, width: Option<f32>, height: Option<f32>) -> Raster {
        let (canvas_w, canvas_h) = (self.timeline.width as f32, self.timeline.height as f32);
        let max_scale = layer.max_scale() as f32;
        match &layer.content {
            Content::Solid(color) => raster::solid(
                *color,
                width.unwrap_or(canvas_w),
                height.unwrap_or(canvas_h),
            ),
            Content::Gradient(spec) => {
                raster::gradient(spec, width.unwrap_or(canvas_w), height.unwrap_or(canvas_h))
            }
            Content::Shape(spec) => {
                let (w, h) = (width.unwrap_or(0.0), height.unwrap_or(0.0));
                raster::shape(spec, w, h, sharp_scale(max_scale, w, h))
            }
            Content::Image { source, fit } => {
                match source.as_ref().and_then(|s| self.pictures.get(s)) {
                    Some(picture) => {
                        let (pw, ph) = (picture.width() as f32, picture.height() as f32);
                        let (w, h) = match (width, height) {
                            (Some(w), Some(h)) => (w, h),
                            (Some(w), None) => (w, w * ph / pw),
                            (None, Some(h)) => (h * pw / ph, h),
                            (None, None) => (pw, ph),
                        };
                        raster::picture(picture, *fit, w, h, sharp_scale(max_scale, w, h))
                    }
                    None => Raster::empty(width.unwrap_or(0.0), height.unwrap_or(0.0)),
                }
            }
            // Clips change every frame; `draw_video` draws them without this cache.
            Content::Video(_) => Raster::empty(width.unwrap_or(0.0), height.unwrap_or(0.0)),
            Content::Text(spec) => {
                // Without a box the extent is known only after layout; the raster limits
                // still apply when it is drawn.
                let scale = sharp_scale(max_scale, width.unwrap_or(1.0), height.unwrap_or(1.0));
                lock(&self.text).raster(spec, width, height, scale)
            }
        }
    }
}

/// The scale to draw content at: the largest it is shown at (so zooms stay sharp), at most
/// 4, and small enough that a `width` x `height` box stays within the raster limits.
fn sharp_scale(max_scale: f32, width: f32, height: f32) -> f32 {
    let (w, h) = (width.max(1.0), height.max(1.0));
    max_scale
        .clamp(1.0, 4.0)
        .min(raster::MAX_RASTER_SIDE / w.max(h))
        .min((raster::MAX_RASTER_PIXELS / (w * h)).sqrt())
        .max(1.0)
}

/// Locks a cache or engine, recovering it if a panicking render held it: the data inside
/// is only ever replaced whole, so it is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
