//! A movie bound to params: scenes chosen and placed on the frame axis, every variable
//! reference replaced by its value, animations ready to evaluate at any frame. The
//! renderer draws from a `Timeline` alone, so a frame is a pure function of
//! (movie, params, frame index).
//!
//! Scenes follow each other; a scene with a transition starts that many seconds before
//! the previous one ends, so the two overlap:
//!
//! ```text
//! scene A  |==========|
//! scene B         |xx=========|     xx: transition frames, both scenes drawn
//! ```

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use super::color::Color;
use super::easing::Easing;
use super::format::{
    Align, BlendMode, Direction, Fit, GradientKind, Keyframe, Layer, LayerKind, Movie, Overflow,
    Property, ShapeKind, TransitionKind, VerticalAlign,
};
use super::params::{Params, Value};
use super::rate::FrameRate;
use super::template::Bindable;
use super::validate::{condition_holds, property_range};

/// The movie, bound and laid out.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub width: u32,
    pub height: u32,
    pub fps: FrameRate,
    pub frame_count: u64,
    pub background: Color,
    pub scenes: Vec<PlacedScene>,
    /// Project font files to load before the bundled ones.
    pub fonts: Vec<String>,
    /// Sounds to mix, placed on the sample axis at [`SAMPLE_RATE`].
    pub audio: Vec<PlacedSound>,
    /// Variables that choose scenes, and the first frame whose content they can move.
    structure: Vec<String>,
    structure_from_frame: i64,
    background_reads: Option<String>,
    params: Arc<Params>,
}

/// A scene placed on the movie's frame axis.
#[derive(Debug, Clone)]
pub struct PlacedScene {
    /// Index in the movie's `scenes`, for messages.
    pub source_index: usize,
    pub start_frame: i64,
    pub frame_count: i64,
    /// The transition into this scene; `None` or zero frames for a cut.
    pub transition: Option<PlacedTransition>,
    pub background: Option<Color>,
    pub layers: Vec<PlacedLayer>,
    background_reads: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct PlacedTransition {
    pub kind: TransitionKind,
    pub frame_count: i64,
    pub direction: Direction,
    pub easing: Easing,
}

/// A layer with its values bound and its timing in frames relative to its scene.
#[derive(Debug, Clone)]
pub struct PlacedLayer {
    pub kind: LayerKind,
    pub start_frame: i64,
    pub end_frame: i64,
    pub base: Transform,
    pub blend: BlendMode,
    pub tracks: Vec<(Property, Track)>,
    pub content: Content,
    /// Variables this layer's pixels depend on.
    pub reads: BTreeSet<String>,
}

/// The animatable state of a layer at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub x: f64,
    pub y: f64,
    /// `None`: the content's natural size (image pixels, text extent, canvas).
    pub width: Option<f64>,
    pub height: Option<f64>,
    pub anchor_x: f64,
    pub anchor_y: f64,
    pub scale: f64,
    pub rotation_deg: f64,
    pub opacity: f64,
}

/// Keyframes of one property, times in seconds from the layer start.
#[derive(Debug, Clone)]
pub struct Track {
    keyframes: Vec<(f64, f64, Easing)>,
}

impl Track {
    fn new(keyframes: &[Keyframe]) -> Self {
        Self {
            keyframes: keyframes
                .iter()
                .map(|k| (k.t, k.value, k.easing.unwrap_or_default()))
                .collect(),
        }
    }

    /// The value at `t_seconds`: held before the first and after the last keyframe.
    pub fn value_at(&self, t_seconds: f64) -> f64 {
        let keyframes = &self.keyframes;
        let next = keyframes.partition_point(|&(t, _, _)| t <= t_seconds);
        if next == 0 {
            return keyframes[0].1;
        }
        if next == keyframes.len() {
            return keyframes[next - 1].1;
        }
        let (t0, v0, easing) = keyframes[next - 1];
        let (t1, v1, _) = keyframes[next];
        let progress = easing.apply((t_seconds - t0) / (t1 - t0));
        v0 + (v1 - v0) * progress
    }

    /// The largest value the track reaches, overshoot included (sampled).
    pub fn max_value(&self) -> f64 {
        let mut max = f64::MIN;
        for pair in self.keyframes.windows(2) {
            let (t0, t1) = (pair[0].0, pair[1].0);
            for step in 0..=32 {
                max = max.max(self.value_at(t0 + (t1 - t0) * f64::from(step) / 32.0));
            }
        }
        self.keyframes.iter().fold(max, |m, k| m.max(k.1))
    }

    pub fn is_constant(&self) -> bool {
        self.keyframes.iter().all(|k| k.1 == self.keyframes[0].1)
    }
}

/// What a layer draws, with every variable replaced by its value.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Solid(Color),
    Gradient(GradientSpec),
    Image { source: Option<String>, fit: Fit },
    Video(VideoSpec),
    Text(TextSpec),
    Shape(ShapeSpec),
}

/// Samples per second of every movie's sound.
pub const SAMPLE_RATE: u32 = 48_000;

/// A sound placed on the movie's sample axis: it plays samples `start..end` of the movie,
/// from `clip_in` seconds of its file, stopping or looping at `clip_out` (the file's end
/// when `None`), scaled by `gain` and by linear fades of `fade_in` and `fade_out` samples.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedSound {
    pub source: Option<String>,
    /// The sound of a video layer's clip, which may have none (then it is silence).
    pub from_clip: bool,
    /// The variable that names the source, if any.
    pub reads: Option<String>,
    pub start: u64,
    pub end: u64,
    pub clip_in: f64,
    pub clip_out: Option<f64>,
    pub looped: bool,
    pub gain: f64,
    pub fade_in: u64,
    pub fade_out: u64,
}

impl PlacedSound {
    /// The factor on the sound's samples at movie sample `at`.
    pub fn envelope(&self, at: u64) -> f64 {
        if at < self.start || at >= self.end {
            return 0.0;
        }
        let (into, left) = (at - self.start, self.end - at);
        let mut factor = self.gain;
        if into < self.fade_in {
            factor *= into as f64 / self.fade_in as f64;
        }
        if left <= self.fade_out {
            factor *= (left - 1) as f64 / self.fade_out as f64;
        }
        factor
    }
}

/// The movie sample at which frame `frame` starts, rounded to the nearest sample from
/// the exact time, so that boundaries never drift.
pub fn sample_at_frame(fps: FrameRate, frame: i64) -> u64 {
    let frame = frame.max(0) as u128;
    let (num, den) = (u128::from(fps.num.max(1)), u128::from(fps.den));
    ((frame * u128::from(SAMPLE_RATE) * den + num / 2) / num) as u64
}

fn samples_in(seconds: f64) -> u64 {
    (seconds.max(0.0) * f64::from(SAMPLE_RATE)).round() as u64
}

/// The sound of a video layer's clip, while the layer shows, when it plays at speed 1.
fn clip_sound(
    layer: &Layer,
    placed: &PlacedLayer,
    fps: FrameRate,
    scene_start_frame: i64,
    scene_end: u64,
) -> Option<PlacedSound> {
    let Content::Video(spec) = &placed.content else {
        return None;
    };
    let volume = layer.volume.unwrap_or(1.0);
    if spec.source.is_none() || volume <= 0.0 || (spec.speed - 1.0).abs() > 1e-9 {
        return None;
    }
    let start = sample_at_frame(fps, scene_start_frame + placed.start_frame).min(scene_end);
    let end = sample_at_frame(fps, scene_start_frame + placed.end_frame).clamp(start, scene_end);
    Some(PlacedSound {
        source: spec.source.clone(),
        from_clip: true,
        reads: layer
            .source
            .as_ref()
            .and_then(|s| s.variable().map(str::to_owned)),
        start,
        end,
        clip_in: spec.clip_in,
        clip_out: spec.clip_out,
        looped: spec.looped,
        gain: volume,
        fade_in: 0,
        fade_out: 0,
    })
}

fn place_sound(
    sound: &super::format::Sound,
    base: u64,
    limit: u64,
    params: &Params,
) -> PlacedSound {
    let (source, reads) = match &sound.source {
        Bindable::Fixed(path) => (Some(path.clone()), None),
        Bindable::Variable(name) => {
            let source = match params.get(name) {
                Some(Value::Source(source)) => source.clone(),
                _ => None,
            };
            (source, Some(name.clone()))
        }
    };
    let start = (base + samples_in(sound.start)).min(limit);
    let end = sound
        .end
        .map_or(limit, |end| base + samples_in(end))
        .clamp(start, limit);
    PlacedSound {
        source,
        from_clip: false,
        reads,
        start,
        end,
        clip_in: sound.clip_in.unwrap_or(0.0),
        clip_out: sound.clip_out,
        looped: sound.clip_loop,
        gain: sound.volume * 10f64.powf(sound.gain / 20.0),
        fade_in: samples_in(sound.fade_in),
        fade_out: samples_in(sound.fade_out),
    }
}

/// A clip and how it plays: from `clip_in` seconds, at `speed`, until `clip_out` (the
/// clip's end when `None`), then from `clip_in` again or holding the last frame.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoSpec {
    pub source: Option<String>,
    pub fit: Fit,
    pub clip_in: f64,
    pub clip_out: Option<f64>,
    pub looped: bool,
    pub speed: f64,
}

impl VideoSpec {
    /// The frame of the clip shown `seconds` after the layer starts, for a clip of
    /// `clip_frames` frames at `clip_fps` (numerator, denominator). Past `out` the clip
    /// starts again from `in` or holds the last frame before `out`.
    pub fn clip_frame(&self, seconds: f64, clip_fps: (u32, u32), clip_frames: u64) -> u64 {
        let rate = f64::from(clip_fps.0) / f64::from(clip_fps.1.max(1));
        // A hair of slack, so that 2/30 s at 30 fps is frame 2, not 1.
        let frame_at = |t: f64| (t.max(0.0) * rate + 1e-6).floor() as u64;
        let last = clip_frames.saturating_sub(1);
        let first = frame_at(self.clip_in).min(last);
        let end = self
            .clip_out
            .map_or(clip_frames, |out| {
                ((out * rate - 1e-6).ceil().max(0.0) as u64).min(clip_frames)
            })
            .max(first + 1);
        let length = end - first;
        let played = frame_at(seconds * self.speed);
        if self.looped {
            first + played % length
        } else {
            first + played.min(length - 1)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GradientSpec {
    pub kind: GradientKind,
    pub stops: Vec<(f64, Color)>,
    pub angle_deg: f64,
    pub center: [f64; 2],
    pub radius: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextSpec {
    pub text: String,
    pub family: String,
    pub size_px: f64,
    pub weight: u16,
    pub italic: bool,
    pub color: Color,
    pub align: Align,
    pub valign: VerticalAlign,
    pub line_height: f64,
    pub overflow: Overflow,
    pub min_size_px: f64,
    pub stroke: Option<(Color, f64)>,
    pub shadow: Option<ShadowSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShapeSpec {
    pub shape: ShapeKind,
    pub radius: f64,
    pub fill: Option<Color>,
    pub stroke: Option<(Color, f64)>,
    pub shadow: Option<ShadowSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShadowSpec {
    pub color: Color,
    pub dx: f64,
    pub dy: f64,
    pub blur: f64,
}

/// The bundled family used when a text layer names none.
pub const DEFAULT_FAMILY: &str = "Noto Sans";

impl Timeline {
    /// Binds `params` to `movie`, choosing and placing scenes. The movie is validated.
    pub fn new(movie: &Movie, params: Params) -> Self {
        let params = Arc::new(params);
        let lookup = |name: &str| params.get(name).cloned();
        let fps = movie.canvas.fps;

        let max_transition_frames = movie
            .scenes
            .iter()
            .filter_map(|s| s.transition.as_ref())
            .map(|t| fps.frames_at(t.duration))
            .max()
            .unwrap_or(0);

        let mut scenes: Vec<PlacedScene> = Vec::new();
        let mut audio = Vec::new();
        let mut structure = BTreeSet::new();
        let mut structure_from_frame = i64::MAX;
        let mut cursor = 0i64;
        for (index, scene) in movie.scenes.iter().enumerate() {
            if let Some(condition) = &scene.when {
                if structure_from_frame == i64::MAX {
                    structure_from_frame = (cursor - max_transition_frames).max(0);
                }
                structure.insert(condition_variable(condition).to_owned());
                if !condition_holds(movie, condition, lookup) {
                    continue;
                }
            }
            let frame_count = fps.frames_at(scene.duration).max(1);
            let transition = scene.transition.as_ref().and_then(|t| {
                let previous = scenes.last()?;
                // At most two scenes overlap: a transition may not reach back into the
                // previous scene's own incoming transition.
                let previous_alone =
                    previous.frame_count - previous.transition.map_or(0, |p| p.frame_count);
                let frames = fps
                    .frames_at(t.duration)
                    .min(frame_count - 1)
                    .min(previous_alone);
                (t.kind != TransitionKind::Cut && frames > 0).then_some(PlacedTransition {
                    kind: t.kind,
                    frame_count: frames,
                    direction: t.direction,
                    easing: t.easing.unwrap_or(Easing::Linear),
                })
            });
            let start_frame = cursor - transition.map_or(0, |t| t.frame_count);
            let layers: Vec<PlacedLayer> = scene
                .layers
                .iter()
                .map(|layer| place_layer(layer, fps, frame_count, &params))
                .collect();
            let (scene_start, scene_end) = (
                sample_at_frame(fps, start_frame),
                sample_at_frame(fps, start_frame + frame_count),
            );
            audio.extend(
                scene
                    .audio
                    .iter()
                    .map(|sound| place_sound(sound, scene_start, scene_end, &params)),
            );
            audio.extend(scene.layers.iter().zip(&layers).filter_map(
                |(layer, placed): (&Layer, &PlacedLayer)| {
                    clip_sound(layer, placed, fps, start_frame, scene_end)
                },
            ));
            scenes.push(PlacedScene {
                source_index: index,
                start_frame,
                frame_count,
                transition,
                background: scene.background.as_ref().map(|c| bind_color(c, &params)),
                background_reads: scene
                    .background
                    .as_ref()
                    .and_then(|c| c.variable().map(str::to_owned)),
                layers,
            });
            cursor = start_frame + frame_count;
        }

        let total_samples = sample_at_frame(fps, cursor);
        audio.extend(
            movie
                .audio
                .iter()
                .map(|sound| place_sound(sound, 0, total_samples, &params)),
        );
        audio.retain(|sound: &PlacedSound| sound.end > sound.start);

        Timeline {
            width: movie.canvas.width,
            height: movie.canvas.height,
            fps,
            frame_count: cursor.max(0) as u64,
            // Frames are opaque: a translucent colour from a param is taken as opaque.
            background: movie
                .canvas
                .background
                .as_ref()
                .map_or(Color::BLACK, |c| Color {
                    a: 255,
                    ..bind_color(c, &params)
                }),
            background_reads: movie
                .canvas
                .background
                .as_ref()
                .and_then(|c| c.variable().map(str::to_owned)),
            scenes,
            fonts: movie.fonts.clone(),
            audio,
            structure: structure.into_iter().collect(),
            structure_from_frame,
            params,
        }
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Samples of sound the movie lasts.
    pub fn sample_count(&self) -> u64 {
        sample_at_frame(self.fps, self.frame_count as i64)
    }

    pub fn duration_seconds(&self) -> f64 {
        self.fps.seconds_at(self.frame_count as i64)
    }

    /// The scenes visible at `frame_index`: one, or two during a transition (older first).
    pub fn scenes_at(&self, frame_index: i64) -> impl Iterator<Item = (usize, &PlacedScene)> {
        self.scenes.iter().enumerate().filter(move |(_, s)| {
            (s.start_frame..s.start_frame + s.frame_count).contains(&frame_index)
        })
    }

    /// The variables whose values can change any pixel of the frames in `frames`. Two
    /// bindings that agree on these variables draw those frames identically.
    pub fn variables_read(&self, frames: Range<u64>) -> BTreeSet<String> {
        let mut reads = BTreeSet::new();
        let (first, end) = (frames.start as i64, frames.end as i64);
        if first >= end {
            return reads;
        }
        if end > self.structure_from_frame {
            reads.extend(self.structure.iter().cloned());
        }
        reads.extend(self.background_reads.iter().cloned());
        for scene in &self.scenes {
            let scene_end = scene.start_frame + scene.frame_count;
            if scene_end <= first || scene.start_frame >= end {
                continue;
            }
            reads.extend(scene.background_reads.iter().cloned());
            for layer in &scene.layers {
                let layer_start = scene.start_frame + layer.start_frame;
                let layer_end = scene.start_frame + layer.end_frame;
                if layer_start < end && layer_end > first {
                    reads.extend(layer.reads.iter().cloned());
                }
            }
        }
        reads
    }
}

impl PlacedLayer {
    /// The layer's state `frame_in_scene` frames after its scene starts.
    pub fn transform_at(&self, frame_in_scene: i64, fps: FrameRate) -> Transform {
        let t_seconds = fps.seconds_at(frame_in_scene - self.start_frame);
        let mut state = self.base;
        for (property, track) in &self.tracks {
            // Easing may overshoot; values stay within the property's valid range.
            let (lo, hi) = property_range(*property);
            let value = track.value_at(t_seconds).clamp(lo, hi);
            match property {
                Property::X => state.x = value,
                Property::Y => state.y = value,
                Property::Width => state.width = Some(value),
                Property::Height => state.height = Some(value),
                Property::AnchorX => state.anchor_x = value,
                Property::AnchorY => state.anchor_y = value,
                Property::Scale => state.scale = value,
                Property::Rotation => state.rotation_deg = value,
                Property::Opacity => state.opacity = value,
            }
        }
        state
    }

    pub fn is_visible_at(&self, frame_in_scene: i64) -> bool {
        (self.start_frame..self.end_frame).contains(&frame_in_scene)
    }

    /// True when the layer looks the same in every frame of its scene.
    pub fn is_static_over(&self, scene_frame_count: i64) -> bool {
        self.start_frame <= 0
            && self.end_frame >= scene_frame_count
            && self.tracks.iter().all(|(_, track)| track.is_constant())
            && !matches!(self.content, Content::Video(_))
    }

    /// The largest scale the layer reaches, so its content can be drawn sharp enough once.
    pub fn max_scale(&self) -> f64 {
        self.tracks
            .iter()
            .find(|(p, _)| *p == Property::Scale)
            .map_or(self.base.scale, |(_, track)| track.max_value())
    }
}

fn condition_variable(condition: &super::format::Condition) -> &str {
    match condition {
        super::format::Condition::Set(name) => name,
        super::format::Condition::Test(test) => &test.variable,
    }
}

fn bind_color(value: &Bindable<Color>, params: &Params) -> Color {
    match value {
        Bindable::Fixed(color) => *color,
        Bindable::Variable(name) => match params.get(name) {
            Some(Value::Color(color)) => *color,
            _ => Color::TRANSPARENT,
        },
    }
}

fn place_layer(layer: &Layer, fps: FrameRate, scene_frames: i64, params: &Params) -> PlacedLayer {
    let start_frame = fps.frames_at(layer.start).min(scene_frames);
    let end_frame = layer
        .end
        .map_or(scene_frames, |end| fps.frames_at(end).min(scene_frames));
    let [anchor_x, anchor_y] = layer.anchor.unwrap_or([0.0, 0.0]);
    let base = Transform {
        x: layer.x,
        y: layer.y,
        width: layer.width,
        height: layer.height,
        anchor_x,
        anchor_y,
        scale: layer.scale,
        rotation_deg: layer.rotation,
        opacity: layer.opacity.clamp(0.0, 1.0),
    };
    let tracks = layer
        .animate
        .iter()
        .map(|(p, k)| (*p, Track::new(k)))
        .collect();

    let mut reads = BTreeSet::new();
    let mut color = |value: &Bindable<Color>| {
        reads.extend(value.variable().map(str::to_owned));
        bind_color(value, params)
    };
    let content = match layer.kind {
        LayerKind::Solid => Content::Solid(layer.color.as_ref().map_or(Color::BLACK, &mut color)),
        LayerKind::Gradient => {
            let gradient = layer
                .gradient
                .as_ref()
                .expect("validated: gradient layers have a gradient");
            Content::Gradient(GradientSpec {
                kind: gradient.kind,
                stops: gradient
                    .stops
                    .iter()
                    .map(|s| (s.offset, color(&s.color)))
                    .collect(),
                angle_deg: gradient.angle,
                center: gradient.center.unwrap_or([0.5, 0.5]),
                radius: gradient.radius.unwrap_or(1.0),
            })
        }
        LayerKind::Shape => Content::Shape(ShapeSpec {
            shape: layer.shape.expect("validated: shape layers have a shape"),
            radius: layer.radius.unwrap_or(0.0),
            fill: layer.fill.as_ref().map(&mut color),
            stroke: layer.stroke.as_ref().map(|s| (color(&s.color), s.width)),
            shadow: layer.shadow.as_ref().map(|s| ShadowSpec {
                color: color(&s.color),
                dx: s.x,
                dy: s.y,
                blur: s.blur,
            }),
        }),
        LayerKind::Text => {
            let font = layer
                .font
                .as_ref()
                .expect("validated: text layers have a font");
            let text_color = layer.color.as_ref().map_or(Color::WHITE, &mut color);
            let stroke = layer.stroke.as_ref().map(|s| (color(&s.color), s.width));
            let shadow = layer.shadow.as_ref().map(|s| ShadowSpec {
                color: color(&s.color),
                dx: s.x,
                dy: s.y,
                blur: s.blur,
            });
            let template = layer
                .text
                .as_ref()
                .expect("validated: text layers have text");
            reads.extend(template.variables().map(str::to_owned));
            Content::Text(TextSpec {
                text: template.render(|name| {
                    params
                        .get(name)
                        .map(ToString::to_string)
                        .unwrap_or_default()
                }),
                family: font
                    .family
                    .clone()
                    .unwrap_or_else(|| DEFAULT_FAMILY.to_owned()),
                size_px: font.size,
                weight: font.weight.unwrap_or(400),
                italic: font.italic,
                color: text_color,
                align: layer.align.unwrap_or_default(),
                valign: layer.valign.unwrap_or_default(),
                line_height: layer.line_height.unwrap_or(1.2),
                overflow: layer.overflow.unwrap_or_default(),
                min_size_px: layer.min_size.unwrap_or(8.0),
                stroke,
                shadow,
            })
        }
        LayerKind::Image => {
            let source = layer
                .source
                .as_ref()
                .expect("validated: image layers have a source");
            let source = match source {
                Bindable::Fixed(path) => Some(path.clone()),
                Bindable::Variable(name) => {
                    reads.insert(name.clone());
                    match params.get(name) {
                        Some(Value::Source(source)) => source.clone(),
                        _ => None,
                    }
                }
            };
            Content::Image {
                source,
                fit: layer.fit.unwrap_or_default(),
            }
        }
        LayerKind::Video => {
            let source = match layer.source.as_ref() {
                Some(Bindable::Fixed(path)) => Some(path.clone()),
                Some(Bindable::Variable(name)) => {
                    reads.insert(name.clone());
                    match params.get(name) {
                        Some(Value::Source(source)) => source.clone(),
                        _ => None,
                    }
                }
                None => None,
            };
            Content::Video(VideoSpec {
                source,
                fit: layer.fit.unwrap_or_default(),
                clip_in: layer.clip_in.unwrap_or(0.0),
                clip_out: layer.clip_out,
                looped: layer.clip_loop.unwrap_or(false),
                speed: layer.speed.unwrap_or(1.0),
            })
        }
    };

    PlacedLayer {
        kind: layer.kind,
        start_frame,
        end_frame,
        base,
        blend: layer.blend,
        tracks,
        content,
        reads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn track(points: &[(f64, f64, &str)]) -> Track {
        Track {
            keyframes: points
                .iter()
                .map(|&(t, v, e)| (t, v, e.parse().expect("easing")))
                .collect(),
        }
    }

    #[test]
    fn track_holds_outside_its_keyframes_and_interpolates_inside() {
        let t = track(&[(1.0, 10.0, "linear"), (2.0, 20.0, "linear")]);
        assert_eq!(t.value_at(0.0), 10.0);
        assert_eq!(t.value_at(1.5), 15.0);
        assert_eq!(t.value_at(5.0), 20.0);
    }

    #[test]
    fn easing_belongs_to_the_keyframe_it_leaves() {
        let t = track(&[
            (0.0, 0.0, "hold"),
            (1.0, 1.0, "linear"),
            (2.0, 0.0, "linear"),
        ]);
        assert_eq!(t.value_at(0.9), 0.0);
        assert_eq!(t.value_at(1.5), 0.5);
    }

    proptest! {
        #[test]
        fn linear_interpolation_stays_between_its_keyframes(
            v0 in -1000.0..1000.0f64, v1 in -1000.0..1000.0f64, t in -1.0..3.0f64,
        ) {
            let tr = track(&[(0.0, v0, "linear"), (2.0, v1, "linear")]);
            let v = tr.value_at(t);
            prop_assert!(v >= v0.min(v1) - 1e-9 && v <= v0.max(v1) + 1e-9);
        }

        #[test]
        fn every_easing_is_continuous_at_keyframes(v0 in -100.0..100.0f64, v1 in -100.0..100.0f64) {
            for easing in ["linear", "ease-in", "ease-out", "ease-in-out", "overshoot"] {
                let tr = track(&[(0.0, v0, easing), (1.0, v1, "linear")]);
                prop_assert!((tr.value_at(1e-9) - v0).abs() < 1e-3);
                prop_assert!((tr.value_at(1.0 - 1e-9) - v1).abs() < 1e-3);
            }
        }
    }
}
