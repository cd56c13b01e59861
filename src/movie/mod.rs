//! Dynamic movies: the file format, variables and params, validation, and the timeline
//! that binds params to a movie.

pub mod color;
pub mod easing;
pub mod format;
pub mod params;
pub mod rate;
pub mod template;
pub mod timeline;
pub mod validate;

pub use color::Color;
pub use format::Movie;
pub use params::{Params, Value};
pub use rate::FrameRate;
pub use timeline::Timeline;
pub use validate::{load_file, parse};

/// The JSON Schema of movie files, as published by `framecast schema`.
pub fn json_schema() -> serde_json::Value {
    let settings = schemars::gen::SchemaSettings::draft07();
    let schema = settings.into_generator().into_root_schema_for::<Movie>();
    serde_json::to_value(schema).expect("a generated schema serialises to JSON")
}
