//! Loading a movie file and checking what its schema cannot say: references to variables
//! and their types, limits, timing, and which fields each layer type takes. Every message
//! names the file and where: a line and column for syntax and type errors, a path such as
//! `scenes[1].layers[2].color` for the rest.

use std::path::Path;

use super::format::{
    Condition, Keyframe, Layer, LayerKind, Movie, Property, Scene, ShapeKind, Variable,
};
use super::params::{check_value, convert_str, default_value, Value};
use super::template::{is_variable_name, Bindable};
use crate::error::{Error, Result};

/// Canvas limits: up to 4K UHD, even dimensions for 4:2:0 video.
pub const MAX_WIDTH: u32 = 3840;
pub const MAX_HEIGHT: u32 = 2160;
pub const MIN_SIDE: u32 = 16;
/// A movie may last at most this many seconds.
pub const MAX_DURATION_SECONDS: f64 = 3600.0;
/// Layer positions stay within this many pixels of the canvas origin.
const MAX_EXTENT_PX: f64 = 16384.0;
/// A layer box is at most this many pixels a side.
pub const MAX_LAYER_SIDE_PX: f64 = 8192.0;
/// A movie file larger than this is refused before parsing.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads, parses and validates a movie file.
pub fn load_file(path: &Path) -> Result<Movie> {
    let size = std::fs::metadata(path)
        .map_err(|e| Error::not_found(format!("movie file {}: {e}", path.display())))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(Error::invalid_movie(format!(
            "{}: expected at most {MAX_FILE_BYTES} bytes, found {size}",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid_movie(format!("{}: {e}", path.display())))?;
    parse(&text, &path.display().to_string())
}

/// Parses and validates movie JSON; `origin` names the file in messages.
pub fn parse(text: &str, origin: &str) -> Result<Movie> {
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    let movie: Movie = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let inner = e.inner();
        let path = e.path().to_string();
        let at = if inner.is_syntax() || inner.is_eof() {
            " invalid JSON".to_owned()
        } else if path == "." {
            String::new()
        } else {
            format!(" at {path}")
        };
        Error::invalid_movie(format!(
            "{origin}:{}:{}{at}: {}",
            inner.line(),
            inner.column(),
            strip_position(&inner.to_string())
        ))
    })?;
    validate(&movie).map_err(|e| e.context(origin))?;
    Ok(movie)
}

/// serde_json appends " at line L column C"; the message leads with that position instead.
fn strip_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at])
}

fn invalid(path: &str, what: impl std::fmt::Display) -> Error {
    Error::invalid_movie(format!("{path}: {what}"))
}

/// Checks everything about a parsed movie that its types do not.
pub fn validate(movie: &Movie) -> Result<()> {
    let canvas = &movie.canvas;
    for (side, value, max) in [
        ("width", canvas.width, MAX_WIDTH),
        ("height", canvas.height, MAX_HEIGHT),
    ] {
        if !(MIN_SIDE..=max).contains(&value) || value % 2 != 0 {
            return Err(invalid(
                &format!("canvas.{side}"),
                format!(
                    "expected an even number of pixels from {MIN_SIDE} to {max}, found {value}"
                ),
            ));
        }
    }
    if let Some(background) = &canvas.background {
        check_color_ref(movie, "canvas.background", background)?;
        if let Bindable::Fixed(color) = background {
            if color.a != 255 {
                return Err(invalid(
                    "canvas.background",
                    format!("expected an opaque colour, found {color}"),
                ));
            }
        }
    }

    for (name, variable) in &movie.variables {
        check_variable(name, variable)?;
    }
    for (index, sound) in movie.audio.iter().enumerate() {
        check_sound(movie, &format!("audio[{index}]"), sound)?;
    }
    for (index, font) in movie.fonts.iter().enumerate() {
        crate::assets::check_project_path(font)
            .map_err(|e| invalid(&format!("fonts[{index}]"), e))?;
    }

    if movie.scenes.is_empty() {
        return Err(invalid("scenes", "expected at least one scene, found none"));
    }
    let mut total = 0.0;
    for (index, scene) in movie.scenes.iter().enumerate() {
        check_scene(movie, &format!("scenes[{index}]"), scene)?;
        for (sound_index, sound) in scene.audio.iter().enumerate() {
            check_sound(
                movie,
                &format!("scenes[{index}].audio[{sound_index}]"),
                sound,
            )?;
        }
        total += scene.duration;
    }
    if total > MAX_DURATION_SECONDS {
        return Err(invalid(
            "scenes",
            format!("expected at most {MAX_DURATION_SECONDS} s in all, found {total} s"),
        ));
    }
    Ok(())
}

fn check_variable(name: &str, variable: &Variable) -> Result<()> {
    let path = format!("variables.{name}");
    if !is_variable_name(name) {
        return Err(invalid(
            &path,
            "expected a name of ASCII letters, digits, '_' and '-', starting with a letter or '_'",
        ));
    }
    match variable {
        Variable::Number {
            min: Some(min),
            max: Some(max),
            ..
        } if min > max => {
            return Err(invalid(&path, format!("min {min} is above max {max}")));
        }
        Variable::Number {
            default, min, max, ..
        } if !default.is_finite()
            || min.is_some_and(|m| !m.is_finite())
            || max.is_some_and(|m| !m.is_finite()) =>
        {
            return Err(invalid(&path, "expected finite numbers"));
        }
        Variable::Choice { choices, .. } if choices.is_empty() => {
            return Err(invalid(&path, "expected at least one choice, found none"));
        }
        _ => {}
    }
    check_value(name, variable, default_value(variable))
        .map(drop)
        .map_err(|e| {
            invalid(
                &format!("{path}.default"),
                e.message().replacen("param", "default of", 1),
            )
        })
}

fn variable<'m>(movie: &'m Movie, path: &str, name: &str) -> Result<&'m Variable> {
    movie.variables.get(name).ok_or_else(|| {
        let known: Vec<&str> = movie.variables.keys().map(String::as_str).collect();
        invalid(
            path,
            format!(
                "refers to variable `{name}`, which the movie does not declare (declared: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        )
    })
}

fn check_typed_ref<T>(
    movie: &Movie,
    path: &str,
    value: &Bindable<T>,
    expected: &str,
) -> Result<()> {
    if let Some(name) = value.variable() {
        let found = variable(movie, path, name)?.type_name();
        if found != expected {
            return Err(invalid(
                path,
                format!("expected a {expected} variable, `{name}` is {found}"),
            ));
        }
    }
    Ok(())
}

fn check_color_ref(movie: &Movie, path: &str, value: &super::format::ColorValue) -> Result<()> {
    check_typed_ref(movie, path, value, "color")
}

fn check_sound(movie: &Movie, path: &str, sound: &super::format::Sound) -> Result<()> {
    check_typed_ref(movie, &format!("{path}.source"), &sound.source, "audio")?;
    if let Bindable::Fixed(source) = &sound.source {
        crate::assets::check_source_syntax(source)
            .map_err(|e| invalid(&format!("{path}.source"), e))?;
    }
    check_range(
        &format!("{path}.start"),
        sound.start,
        0.0,
        MAX_DURATION_SECONDS,
    )?;
    let after = |field: &str, value: f64, floor: f64| {
        if value.is_finite() && value > floor && value <= MAX_DURATION_SECONDS {
            Ok(())
        } else {
            Err(invalid(
                &format!("{path}.{field}"),
                format!("expected seconds after {floor}, found {value}"),
            ))
        }
    };
    if let Some(end) = sound.end {
        after("end", end, sound.start)?;
    }
    let clip_in = sound.clip_in.unwrap_or(0.0);
    check_range(&format!("{path}.in"), clip_in, 0.0, MAX_DURATION_SECONDS)?;
    if let Some(clip_out) = sound.clip_out {
        after("out", clip_out, clip_in)?;
    }
    check_range(&format!("{path}.volume"), sound.volume, 0.0, 4.0)?;
    check_range(&format!("{path}.gain"), sound.gain, -60.0, 24.0)?;
    check_range(
        &format!("{path}.fade_in"),
        sound.fade_in,
        0.0,
        MAX_DURATION_SECONDS,
    )?;
    check_range(
        &format!("{path}.fade_out"),
        sound.fade_out,
        0.0,
        MAX_DURATION_SECONDS,
    )?;
    Ok(())
}

fn check_scene(movie: &Movie, path: &str, scene: &Scene) -> Result<()> {
    if !(scene.duration.is_finite()
        && scene.duration > 0.0
        && scene.duration <= MAX_DURATION_SECONDS)
    {
        return Err(invalid(
            &format!("{path}.duration"),
            format!("expected seconds above 0, found {}", scene.duration),
        ));
    }
    if let Some(transition) = &scene.transition {
        if !(transition.duration.is_finite()
            && transition.duration >= 0.0
            && transition.duration < scene.duration)
        {
            return Err(invalid(
                &format!("{path}.transition.duration"),
                format!(
                    "expected seconds from 0 to below the scene's {} s, found {}",
                    scene.duration, transition.duration
                ),
            ));
        }
    }
    if let Some(background) = &scene.background {
        check_color_ref(movie, &format!("{path}.background"), background)?;
    }
    if let Some(condition) = &scene.when {
        check_condition(movie, &format!("{path}.when"), condition)?;
    }
    for (index, layer) in scene.layers.iter().enumerate() {
        check_layer(movie, &format!("{path}.layers[{index}]"), layer)?;
    }
    Ok(())
}

fn check_condition(movie: &Movie, path: &str, condition: &Condition) -> Result<()> {
    let test = match condition {
        Condition::Set(name) => return variable(movie, path, name).map(drop),
        Condition::Test(test) => test,
    };
    let var = variable(movie, path, &test.variable)?;
    let values: Vec<&serde_json::Value> = match (&test.is, &test.one_of) {
        (Some(value), None) => vec![value],
        (None, Some(values)) => values.iter().collect(),
        _ => return Err(invalid(path, "expected exactly one of `is` and `in`")),
    };
    for value in values {
        let ok = expected_value(var, value).is_some();
        if !ok {
            return Err(invalid(
                path,
                format!(
                    "{value} is not a possible value of {} variable `{}`",
                    var.type_name(),
                    test.variable
                ),
            ));
        }
    }
    Ok(())
}

/// Fields each layer type takes besides the common ones.
fn allowed_fields(kind: LayerKind) -> &'static [&'static str] {
    match kind {
        LayerKind::Solid => &["color"],
        LayerKind::Gradient => &["gradient"],
        LayerKind::Image => &["source", "fit"],
        LayerKind::Video => &["source", "fit", "in", "out", "loop", "speed", "volume"],
        LayerKind::Shape => &["shape", "radius", "fill", "stroke", "shadow"],
        LayerKind::Text => &[
            "text",
            "font",
            "color",
            "align",
            "valign",
            "line_height",
            "overflow",
            "min_size",
            "stroke",
            "shadow",
        ],
    }
}

fn present_fields(layer: &Layer) -> Vec<&'static str> {
    let fields = [
        ("color", layer.color.is_some()),
        ("gradient", layer.gradient.is_some()),
        ("source", layer.source.is_some()),
        ("fit", layer.fit.is_some()),
        ("in", layer.clip_in.is_some()),
        ("out", layer.clip_out.is_some()),
        ("loop", layer.clip_loop.is_some()),
        ("speed", layer.speed.is_some()),
        ("volume", layer.volume.is_some()),
        ("shape", layer.shape.is_some()),
        ("radius", layer.radius.is_some()),
        ("fill", layer.fill.is_some()),
        ("stroke", layer.stroke.is_some()),
        ("text", layer.text.is_some()),
        ("font", layer.font.is_some()),
        ("align", layer.align.is_some()),
        ("valign", layer.valign.is_some()),
        ("line_height", layer.line_height.is_some()),
        ("overflow", layer.overflow.is_some()),
        ("min_size", layer.min_size.is_some()),
        ("shadow", layer.shadow.is_some()),
    ];
    fields
        .iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| *name)
        .collect()
}

fn check_range(path: &str, value: f64, lo: f64, hi: f64) -> Result<()> {
    if value.is_finite() && (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            path,
            format!("expected a number from {lo} to {hi}, found {value}"),
        ))
    }
}

pub(crate) fn property_range(property: Property) -> (f64, f64) {
    match property {
        Property::X | Property::Y => (-MAX_EXTENT_PX, MAX_EXTENT_PX),
        Property::Width | Property::Height => (0.0, MAX_LAYER_SIDE_PX),
        Property::AnchorX | Property::AnchorY => (-10.0, 10.0),
        Property::Scale => (0.0, 100.0),
        Property::Rotation => (-36000.0, 36000.0),
        Property::Opacity => (0.0, 1.0),
    }
}

fn check_layer(movie: &Movie, path: &str, layer: &Layer) -> Result<()> {
    let allowed = allowed_fields(layer.kind);
    if let Some(field) = present_fields(layer)
        .into_iter()
        .find(|f| !allowed.contains(f))
    {
        return Err(invalid(
            &format!("{path}.{field}"),
            format!(
                "a {} layer does not take `{field}` (it takes {})",
                layer.kind.name(),
                allowed.join(", ")
            ),
        ));
    }
    let require = |present: bool, field: &str| {
        if present {
            Ok(())
        } else {
            Err(invalid(
                path,
                format!("a {} layer needs `{field}`", layer.kind.name()),
            ))
        }
    };
    match layer.kind {
        LayerKind::Solid => require(layer.color.is_some(), "color")?,
        LayerKind::Gradient => require(layer.gradient.is_some(), "gradient")?,
        LayerKind::Image | LayerKind::Video => require(layer.source.is_some(), "source")?,
        LayerKind::Text => {
            require(layer.text.is_some(), "text")?;
            require(layer.font.is_some(), "font")?;
        }
        LayerKind::Shape => {
            require(layer.shape.is_some(), "shape")?;
            require(
                layer.width.is_some() || layer.animate.contains_key(&Property::Width),
                "width",
            )?;
            require(
                layer.height.is_some() || layer.animate.contains_key(&Property::Height),
                "height",
            )?;
        }
    }

    check_range(
        &format!("{path}.start"),
        layer.start,
        0.0,
        MAX_DURATION_SECONDS,
    )?;
    if let Some(end) = layer.end {
        if !(end.is_finite() && end > layer.start) {
            return Err(invalid(
                &format!("{path}.end"),
                format!("expected seconds after start {}, found {end}", layer.start),
            ));
        }
    }
    let statics = [
        ("x", Property::X, Some(layer.x)),
        ("y", Property::Y, Some(layer.y)),
        ("width", Property::Width, layer.width),
        ("height", Property::Height, layer.height),
        ("scale", Property::Scale, Some(layer.scale)),
        ("rotation", Property::Rotation, Some(layer.rotation)),
        ("opacity", Property::Opacity, Some(layer.opacity)),
    ];
    for (field, property, value) in statics {
        if let Some(value) = value {
            let (lo, hi) = property_range(property);
            check_range(&format!("{path}.{field}"), value, lo, hi)?;
        }
    }
    if let Some([ax, ay]) = layer.anchor {
        check_range(&format!("{path}.anchor[0]"), ax, -10.0, 10.0)?;
        check_range(&format!("{path}.anchor[1]"), ay, -10.0, 10.0)?;
    }
    for (property, keyframes) in &layer.animate {
        check_keyframes(
            &format!("{path}.animate.{}", property_name(*property)),
            *property,
            keyframes,
        )?;
    }
    check_layer_content(movie, path, layer)
}

pub(crate) fn property_name(property: Property) -> &'static str {
    match property {
        Property::X => "x",
        Property::Y => "y",
        Property::Width => "width",
        Property::Height => "height",
        Property::AnchorX => "anchor_x",
        Property::AnchorY => "anchor_y",
        Property::Scale => "scale",
        Property::Rotation => "rotation",
        Property::Opacity => "opacity",
    }
}

fn check_keyframes(path: &str, property: Property, keyframes: &[Keyframe]) -> Result<()> {
    if keyframes.is_empty() {
        return Err(invalid(path, "expected at least one keyframe, found none"));
    }
    let (lo, hi) = property_range(property);
    let mut previous: Option<f64> = None;
    for (index, keyframe) in keyframes.iter().enumerate() {
        check_range(
            &format!("{path}[{index}].t"),
            keyframe.t,
            0.0,
            MAX_DURATION_SECONDS,
        )?;
        check_range(&format!("{path}[{index}].value"), keyframe.value, lo, hi)?;
        if previous.is_some_and(|p| keyframe.t <= p) {
            return Err(invalid(
                &format!("{path}[{index}].t"),
                format!(
                    "expected keyframe times in increasing order, found {} after {}",
                    keyframe.t,
                    previous.unwrap_or_default()
                ),
            ));
        }
        previous = Some(keyframe.t);
    }
    Ok(())
}

fn check_layer_content(movie: &Movie, path: &str, layer: &Layer) -> Result<()> {
    if let Some(color) = &layer.color {
        check_color_ref(movie, &format!("{path}.color"), color)?;
    }
    if let Some(fill) = &layer.fill {
        check_color_ref(movie, &format!("{path}.fill"), fill)?;
    }
    if let Some(stroke) = &layer.stroke {
        check_color_ref(movie, &format!("{path}.stroke.color"), &stroke.color)?;
        check_range(&format!("{path}.stroke.width"), stroke.width, 0.0, 500.0)?;
    }
    if let Some(shadow) = &layer.shadow {
        check_color_ref(movie, &format!("{path}.shadow.color"), &shadow.color)?;
        check_range(&format!("{path}.shadow.blur"), shadow.blur, 0.0, 200.0)?;
        check_range(&format!("{path}.shadow.x"), shadow.x, -1000.0, 1000.0)?;
        check_range(&format!("{path}.shadow.y"), shadow.y, -1000.0, 1000.0)?;
    }
    if let Some(clip_in) = layer.clip_in {
        check_range(&format!("{path}.in"), clip_in, 0.0, MAX_DURATION_SECONDS)?;
    }
    if let Some(clip_out) = layer.clip_out {
        let clip_in = layer.clip_in.unwrap_or(0.0);
        if !(clip_out.is_finite() && clip_out > clip_in && clip_out <= MAX_DURATION_SECONDS) {
            return Err(invalid(
                &format!("{path}.out"),
                format!("expected a second after `in` ({clip_in}), found {clip_out}"),
            ));
        }
    }
    if let Some(volume) = layer.volume {
        check_range(&format!("{path}.volume"), volume, 0.0, 4.0)?;
    }
    if let Some(speed) = layer.speed {
        if !(speed.is_finite() && speed > 0.0 && speed <= 16.0) {
            return Err(invalid(
                &format!("{path}.speed"),
                format!("expected a speed above 0 and at most 16, found {speed}"),
            ));
        }
    }
    if let Some(source) = &layer.source {
        check_typed_ref(movie, &format!("{path}.source"), source, layer.kind.name())?;
        if let Bindable::Fixed(source) = source {
            crate::assets::check_source_syntax(source)
                .map_err(|e| invalid(&format!("{path}.source"), e))?;
        }
    }
    if let Some(gradient) = &layer.gradient {
        if gradient.stops.len() < 2 {
            return Err(invalid(
                &format!("{path}.gradient.stops"),
                format!("expected at least 2 stops, found {}", gradient.stops.len()),
            ));
        }
        let mut last = 0.0;
        for (index, stop) in gradient.stops.iter().enumerate() {
            let stop_path = format!("{path}.gradient.stops[{index}]");
            check_range(&format!("{stop_path}.offset"), stop.offset, last, 1.0)?;
            last = stop.offset;
            check_color_ref(movie, &format!("{stop_path}.color"), &stop.color)?;
        }
        check_range(
            &format!("{path}.gradient.angle"),
            gradient.angle,
            -3600.0,
            3600.0,
        )?;
        if let Some(radius) = gradient.radius {
            check_range(&format!("{path}.gradient.radius"), radius, 0.001, 10.0)?;
        }
    }
    if let Some(radius) = layer.radius {
        check_range(&format!("{path}.radius"), radius, 0.0, MAX_EXTENT_PX)?;
        if layer.shape != Some(ShapeKind::RoundedRectangle) {
            return Err(invalid(
                &format!("{path}.radius"),
                "only a rounded_rectangle takes a radius",
            ));
        }
    }
    if let Some(font) = &layer.font {
        check_range(&format!("{path}.font.size"), font.size, 1.0, 1000.0)?;
        if let Some(weight) = font.weight {
            check_range(
                &format!("{path}.font.weight"),
                f64::from(weight),
                100.0,
                900.0,
            )?;
        }
    }
    if let Some(line_height) = layer.line_height {
        check_range(&format!("{path}.line_height"), line_height, 0.5, 5.0)?;
    }
    if let Some(min_size) = layer.min_size {
        check_range(&format!("{path}.min_size"), min_size, 1.0, 1000.0)?;
    }
    if let Some(text) = &layer.text {
        for name in text.variables() {
            variable(movie, &format!("{path}.text"), name)?;
        }
    }
    Ok(())
}

/// A condition's expected value as the variable's type reads it: `"yes"` and `true` are
/// the same boolean, `"5"` and `5` the same number.
pub(crate) fn expected_value(variable: &Variable, expected: &serde_json::Value) -> Option<Value> {
    let text = match expected {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    convert_str("condition", variable, &text).ok()
}

/// Whether a condition holds for the bound values. Validation has checked that the
/// variable exists and that every expected value converts to its type.
pub(crate) fn condition_holds(
    movie: &Movie,
    condition: &Condition,
    lookup: impl Fn(&str) -> Option<Value>,
) -> bool {
    match condition {
        Condition::Set(name) => lookup(name).is_some_and(|v| v.is_set()),
        Condition::Test(test) => {
            let (Some(value), Some(variable)) =
                (lookup(&test.variable), movie.variables.get(&test.variable))
            else {
                return false;
            };
            let matches = |expected: &serde_json::Value| {
                expected_value(variable, expected).as_ref() == Some(&value)
            };
            let holds = match (&test.is, &test.one_of) {
                (Some(expected), _) => matches(expected),
                (None, Some(options)) => options.iter().any(matches),
                (None, None) => false,
            };
            holds != test.not
        }
    }
}
