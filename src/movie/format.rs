//! The movie file as written on disk: serde types that mirror the JSON one to one, and
//! from which the published JSON Schema is generated. `docs/movie-format.md` explains every
//! field with examples. Semantic checks (references, limits, per-type fields) live in
//! `validate.rs`; binding params and laying out scenes lives in `timeline.rs`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::color::Color;
use super::easing::Easing;
use super::rate::FrameRate;
use super::template::{Bindable, Template};

/// A colour literal or a `{variable}` of type `color`.
pub type ColorValue = Bindable<Color>;

/// A dynamic movie: a canvas, typed variables and scenes in sequence.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Movie {
    /// URL of the schema, for editors; ignored by the renderer.
    #[serde(default, rename = "$schema")]
    pub schema: Option<String>,
    pub canvas: Canvas,
    /// Named, typed inputs; request params set them.
    #[serde(default)]
    pub variables: BTreeMap<String, Variable>,
    /// Font files in the project folder, tried before the bundled fonts.
    #[serde(default)]
    pub fonts: Vec<String>,
    /// Sounds on the movie's time line, such as a music bed: `start` and `end` count
    /// from the movie's start.
    #[serde(default)]
    pub audio: Vec<Sound>,
    pub scenes: Vec<Scene>,
}

/// A sound placed in the movie or in a scene, mixed with the others.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sound {
    /// A project file, an http(s) URL, or `{variable}` of type `audio`.
    pub source: Bindable<String>,
    /// Seconds from the movie's (or scene's) start when the sound begins.
    #[serde(default)]
    pub start: f64,
    /// Seconds from the movie's (or scene's) start when it stops; its end when absent.
    #[serde(default)]
    pub end: Option<f64>,
    /// The second of the file the sound starts from (default 0).
    #[serde(default, rename = "in")]
    pub clip_in: Option<f64>,
    /// The second of the file after which it stops or loops (default: the file's end).
    #[serde(default, rename = "out")]
    pub clip_out: Option<f64>,
    /// Start again from `in` after `out`, until `end`.
    #[serde(default, rename = "loop")]
    pub clip_loop: bool,
    /// A factor on the amplitude, 0 to 4 (default 1).
    #[serde(default = "one")]
    pub volume: f64,
    /// Gain in decibels, -60 to 24, on top of `volume`.
    #[serde(default)]
    pub gain: f64,
    /// Seconds of fade from silence at the start.
    #[serde(default)]
    pub fade_in: f64,
    /// Seconds of fade to silence before the end.
    #[serde(default)]
    pub fade_out: f64,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Canvas {
    /// Width in pixels (even, 16 to 3840).
    pub width: u32,
    /// Height in pixels (even, 16 to 2160).
    pub height: u32,
    pub fps: FrameRate,
    /// Colour under every scene; opaque. Defaults to black.
    #[serde(default)]
    pub background: Option<ColorValue>,
}

/// A typed input with its default and limits.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Variable {
    Text {
        #[serde(default)]
        default: String,
        /// Longest accepted value, in characters.
        #[serde(default)]
        max_length: Option<usize>,
        #[serde(default)]
        description: Option<String>,
    },
    Color {
        default: Color,
        #[serde(default)]
        description: Option<String>,
    },
    Image {
        /// A file in the project folder or an http(s) URL.
        #[serde(default)]
        default: Option<String>,
        #[serde(default)]
        description: Option<String>,
    },
    /// A sound file, for sounds.
    Audio {
        /// A file in the project folder or an http(s) URL.
        #[serde(default)]
        default: Option<String>,
        #[serde(default)]
        description: Option<String>,
    },
    /// A video clip, for `video` layers.
    Video {
        /// A file in the project folder or an http(s) URL.
        #[serde(default)]
        default: Option<String>,
        #[serde(default)]
        description: Option<String>,
    },
    Number {
        #[serde(default)]
        default: f64,
        #[serde(default)]
        min: Option<f64>,
        #[serde(default)]
        max: Option<f64>,
        /// Accept whole numbers only.
        #[serde(default)]
        integer: bool,
        #[serde(default)]
        description: Option<String>,
    },
    Boolean {
        #[serde(default)]
        default: bool,
        #[serde(default)]
        description: Option<String>,
    },
    Choice {
        /// The accepted values.
        choices: Vec<String>,
        default: String,
        #[serde(default)]
        description: Option<String>,
    },
}

impl Variable {
    pub fn type_name(&self) -> &'static str {
        match self {
            Variable::Text { .. } => "text",
            Variable::Color { .. } => "color",
            Variable::Image { .. } => "image",
            Variable::Video { .. } => "video",
            Variable::Audio { .. } => "audio",
            Variable::Number { .. } => "number",
            Variable::Boolean { .. } => "boolean",
            Variable::Choice { .. } => "choice",
        }
    }
}

/// A span of the movie with its own layers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    #[serde(default)]
    pub name: Option<String>,
    /// Length in seconds, including the transition into it.
    pub duration: f64,
    /// Shows the scene only when this holds; absent means always.
    #[serde(default)]
    pub when: Option<Condition>,
    /// How this scene replaces the one before it.
    #[serde(default)]
    pub transition: Option<Transition>,
    /// Fills the scene before its layers; transparent when absent.
    #[serde(default)]
    pub background: Option<ColorValue>,
    #[serde(default)]
    pub layers: Vec<Layer>,
    /// Sounds of the scene: `start` and `end` count from the scene's start, and a sound
    /// stops with its scene at the latest.
    #[serde(default)]
    pub audio: Vec<Sound>,
}

/// When an optional scene is shown.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Condition {
    /// `"when": "vip"`: the boolean is true, the text or image is not empty.
    Set(String),
    /// `"when": {"variable": "plan", "is": "gold"}` or `{"variable": "plan", "in": [..]}`.
    Test(ConditionTest),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionTest {
    pub variable: String,
    #[serde(default)]
    pub is: Option<serde_json::Value>,
    #[serde(default, rename = "in")]
    pub one_of: Option<Vec<serde_json::Value>>,
    /// Inverts the test.
    #[serde(default)]
    pub not: bool,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    #[serde(rename = "type")]
    pub kind: TransitionKind,
    /// Seconds during which both scenes are drawn; the scenes overlap by this much.
    #[serde(default = "default_transition_seconds")]
    pub duration: f64,
    /// Where the incoming scene comes from, for slide and wipe.
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub easing: Option<Easing>,
}

fn default_transition_seconds() -> f64 {
    0.5
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    Cut,
    Crossfade,
    Slide,
    Wipe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The new scene enters from the right edge and moves left.
    #[default]
    Left,
    Right,
    Up,
    Down,
}

/// One layer. `type` chooses which of the content fields apply; `validate.rs` rejects
/// fields that do not belong to the type.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    #[serde(rename = "type")]
    pub kind: LayerKind,
    #[serde(default)]
    pub name: Option<String>,

    /// Seconds from the scene start when the layer appears.
    #[serde(default)]
    pub start: f64,
    /// Seconds from the scene start when it disappears; the scene end when absent.
    #[serde(default)]
    pub end: Option<f64>,

    /// Canvas position of the anchor point, in pixels.
    #[serde(default)]
    pub x: f64,
    #[serde(default)]
    pub y: f64,
    /// Size in pixels; defaults depend on the type (the canvas, the image, the text).
    #[serde(default)]
    pub width: Option<f64>,
    #[serde(default)]
    pub height: Option<f64>,
    /// The point of the layer placed at (x, y) and turned about, as fractions of its size.
    #[serde(default)]
    pub anchor: Option<[f64; 2]>,
    #[serde(default = "one")]
    pub scale: f64,
    /// Degrees, clockwise.
    #[serde(default)]
    pub rotation: f64,
    #[serde(default = "one")]
    pub opacity: f64,
    #[serde(default)]
    pub blend: BlendMode,
    /// Keyframes per property; an animated property ignores its static value.
    #[serde(default)]
    pub animate: BTreeMap<Property, Vec<Keyframe>>,

    /// `solid`: the fill colour; `text`: the text colour.
    #[serde(default)]
    pub color: Option<ColorValue>,
    /// `gradient`: the colour ramp.
    #[serde(default)]
    pub gradient: Option<Gradient>,
    /// `image` and `video`: a project file, an http(s) URL, or `{variable}` of the
    /// layer's type.
    #[serde(default)]
    pub source: Option<Bindable<String>>,
    /// `image` and `video`: how the picture fills the layer box.
    #[serde(default)]
    pub fit: Option<Fit>,
    /// `video`: the second of the clip shown when the layer starts (default 0).
    #[serde(default, rename = "in")]
    pub clip_in: Option<f64>,
    /// `video`: the second of the clip after which it ends, loops or holds its last
    /// frame (default: the clip's end).
    #[serde(default, rename = "out")]
    pub clip_out: Option<f64>,
    /// `video`: start again from `in` after `out` (default: hold the last frame).
    #[serde(default, rename = "loop")]
    pub clip_loop: Option<bool>,
    /// `video`: playback speed, 1 by default (2 plays twice as fast).
    #[serde(default)]
    pub speed: Option<f64>,
    /// `video`: the volume of the clip's own sound, 0 to 4 (default 1). The sound plays
    /// at speed 1 only.
    #[serde(default)]
    pub volume: Option<f64>,
    /// `shape`: which shape.
    #[serde(default)]
    pub shape: Option<ShapeKind>,
    /// `shape`: corner radius in pixels for `rounded_rectangle`.
    #[serde(default)]
    pub radius: Option<f64>,
    /// `shape`: interior colour.
    #[serde(default)]
    pub fill: Option<ColorValue>,
    /// `shape` and `text`: an outline.
    #[serde(default)]
    pub stroke: Option<Stroke>,
    /// `text`: the template.
    #[serde(default)]
    pub text: Option<Template>,
    /// `text`: font and size.
    #[serde(default)]
    pub font: Option<Font>,
    /// `text`: horizontal alignment of lines in the box.
    #[serde(default)]
    pub align: Option<Align>,
    /// `text`: vertical placement of the block in the box.
    #[serde(default)]
    pub valign: Option<VerticalAlign>,
    /// `text`: line height as a multiple of the font size (default 1.2).
    #[serde(default)]
    pub line_height: Option<f64>,
    /// `text`: `shrink` lowers the size until the text fits the box.
    #[serde(default)]
    pub overflow: Option<Overflow>,
    /// `text`: the smallest size `shrink` may use (default 8).
    #[serde(default)]
    pub min_size: Option<f64>,
    /// `text` and `shape`: a soft shadow.
    #[serde(default)]
    pub shadow: Option<Shadow>,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    Solid,
    Gradient,
    Image,
    Video,
    Text,
    Shape,
}

impl LayerKind {
    pub fn name(self) -> &'static str {
        match self {
            LayerKind::Solid => "solid",
            LayerKind::Gradient => "gradient",
            LayerKind::Image => "image",
            LayerKind::Video => "video",
            LayerKind::Text => "text",
            LayerKind::Shape => "shape",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlendMode {
    #[default]
    Normal,
    Multiply,
    Screen,
    Overlay,
    Darken,
    Lighten,
    Add,
}

/// Properties that keyframes can animate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Property {
    X,
    Y,
    Width,
    Height,
    AnchorX,
    AnchorY,
    Scale,
    Rotation,
    Opacity,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Keyframe {
    /// Seconds from the layer's start.
    pub t: f64,
    pub value: f64,
    /// The curve from this keyframe to the next.
    #[serde(default)]
    pub easing: Option<Easing>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gradient {
    #[serde(rename = "type", default)]
    pub kind: GradientKind,
    pub stops: Vec<GradientStop>,
    /// Linear: direction in degrees, 0 = left to right, 90 = top to bottom.
    #[serde(default)]
    pub angle: f64,
    /// Radial: centre as fractions of the layer size.
    #[serde(default)]
    pub center: Option<[f64; 2]>,
    /// Radial: radius as a fraction of the layer's half diagonal (default 1).
    #[serde(default)]
    pub radius: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GradientKind {
    #[default]
    Linear,
    Radial,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GradientStop {
    /// Position along the ramp, 0 to 1.
    pub offset: f64,
    pub color: ColorValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// Fills the box, cropping what overflows.
    #[default]
    Cover,
    /// Fits inside the box, leaving the rest transparent.
    Contain,
    /// Stretches to the box.
    Fill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShapeKind {
    Rectangle,
    RoundedRectangle,
    Ellipse,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stroke {
    pub color: ColorValue,
    /// Pixels.
    pub width: f64,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shadow {
    pub color: ColorValue,
    /// Offset in pixels.
    #[serde(default)]
    pub x: f64,
    #[serde(default)]
    pub y: f64,
    /// Blur radius in pixels.
    #[serde(default)]
    pub blur: f64,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Font {
    /// Family name: a bundled family ("Noto Sans") or one from the movie's `fonts`.
    #[serde(default)]
    pub family: Option<String>,
    /// Size in pixels.
    pub size: f64,
    /// 100 to 900; 400 is regular, 700 bold.
    #[serde(default)]
    pub weight: Option<u16>,
    #[serde(default)]
    pub italic: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    /// Left for left-to-right text, right for right-to-left.
    #[default]
    Start,
    Left,
    Center,
    Right,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerticalAlign {
    #[default]
    Top,
    Middle,
    Bottom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Lines past the box are drawn anyway.
    #[default]
    Visible,
    /// Lines past the box are cut.
    Clip,
    /// The size shrinks until the text fits.
    Shrink,
}
