//! Request params bound to a movie's variables. Params arrive as JSON values (v2 bodies)
//! or as strings (v1 query strings, the CLI's `--param`); each is converted by its
//! variable's type and checked against its limits, and every variable the params leave out
//! takes its default. Params that name no variable are ignored, so that callers may send
//! extra fields (tracking ids, cache busters) without breaking renders.

use std::collections::BTreeMap;
use std::fmt;

use super::color::Color;
use super::format::{Movie, Variable};
use crate::error::{Error, Result};

/// A text value may never exceed this many characters, whatever its `max_length`.
pub const TEXT_HARD_LIMIT_CHARS: usize = 2000;
/// An image reference (URL or project path) may never exceed this many bytes.
pub const SOURCE_LIMIT_BYTES: usize = 2048;

/// A variable's value after conversion.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Color(Color),
    /// A picture or clip: a project file or an http(s) URL; `None` when unset.
    Source(Option<String>),
    Number(f64),
    Boolean(bool),
    Choice(String),
}

impl Value {
    /// Whether a `when: "name"` condition holds: true booleans, non-empty text and set images.
    pub fn is_set(&self) -> bool {
        match self {
            Value::Text(s) | Value::Choice(s) => !s.is_empty(),
            Value::Source(source) => source.is_some(),
            Value::Number(n) => *n != 0.0,
            Value::Boolean(b) => *b,
            Value::Color(_) => true,
        }
    }

    /// The value as JSON, for conditions and cache keys.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Text(s) | Value::Choice(s) => s.clone().into(),
            Value::Color(c) => c.to_string().into(),
            Value::Source(source) => source.clone().map_or(serde_json::Value::Null, Into::into),
            Value::Number(n) => {
                serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, Into::into)
            }
            Value::Boolean(b) => (*b).into(),
        }
    }
}

/// How a value reads inside text: numbers without a needless `.0`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(s) | Value::Choice(s) => f.write_str(s),
            Value::Color(c) => c.fmt(f),
            Value::Source(source) => f.write_str(source.as_deref().unwrap_or("")),
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            Value::Number(n) => write!(f, "{n}"),
            Value::Boolean(b) => write!(f, "{b}"),
        }
    }
}

/// Every variable of a movie with its value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Params {
    values: BTreeMap<String, Value>,
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Binds JSON params (a v2 request body's `params`).
    pub fn from_json(
        movie: &Movie,
        params: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self> {
        Self::bind(movie, |name, variable| {
            params
                .get(name)
                .map(|raw| convert_json(name, variable, raw))
                .transpose()
        })
    }

    /// Binds string params (a v1 query string, the CLI's `--param k=v`). A key given twice
    /// is an error rather than a silent choice.
    pub fn from_strings<'a>(
        movie: &Movie,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self> {
        let mut given: BTreeMap<&str, &str> = BTreeMap::new();
        for (key, value) in pairs {
            if given.insert(key, value).is_some() && movie.variables.contains_key(key) {
                return Err(Error::invalid_param(format!(
                    "param `{key}` is given more than once"
                )));
            }
        }
        Self::bind(movie, |name, variable| {
            given
                .get(name)
                .map(|raw| convert_str(name, variable, raw))
                .transpose()
        })
    }

    /// The defaults of every variable.
    pub fn defaults(movie: &Movie) -> Self {
        Self::bind(movie, |_, _| Ok(None)).expect("defaults are checked when the movie loads")
    }

    fn bind(
        movie: &Movie,
        mut given: impl FnMut(&str, &Variable) -> Result<Option<Value>>,
    ) -> Result<Self> {
        let mut values = BTreeMap::new();
        for (name, variable) in &movie.variables {
            let value = match given(name, variable)? {
                Some(value) => value,
                None => default_value(variable),
            };
            values.insert(name.clone(), value);
        }
        Ok(Self { values })
    }
}

pub(crate) fn default_value(variable: &Variable) -> Value {
    match variable {
        Variable::Text { default, .. } => Value::Text(default.clone()),
        Variable::Color { default, .. } => Value::Color(*default),
        Variable::Image { default, .. }
        | Variable::Video { default, .. }
        | Variable::Audio { default, .. } => Value::Source(default.clone()),
        Variable::Number { default, .. } => Value::Number(*default),
        Variable::Boolean { default, .. } => Value::Boolean(*default),
        Variable::Choice { default, .. } => Value::Choice(default.clone()),
    }
}

fn describe_json(raw: &serde_json::Value) -> String {
    let kind = match raw {
        serde_json::Value::Null => return "null".into(),
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => return "an array".into(),
        serde_json::Value::Object(_) => return "an object".into(),
    };
    let mut shown = raw.to_string();
    if shown.chars().count() > 40 {
        shown = shown.chars().take(40).collect::<String>() + "...";
    }
    format!("{kind} {shown}")
}

fn wrong_type(name: &str, variable: &Variable, expected: &str, raw: &serde_json::Value) -> Error {
    Error::invalid_param(format!(
        "param `{name}` ({} variable): expected {expected}, found {}",
        variable.type_name(),
        describe_json(raw)
    ))
}

fn convert_json(name: &str, variable: &Variable, raw: &serde_json::Value) -> Result<Value> {
    use serde_json::Value as J;
    match (variable, raw) {
        (Variable::Number { .. }, J::Number(n)) => {
            let n = n
                .as_f64()
                .ok_or_else(|| wrong_type(name, variable, "a finite number", raw))?;
            check_value(name, variable, Value::Number(n))
        }
        (Variable::Number { .. }, _) => Err(wrong_type(name, variable, "a number", raw)),
        (Variable::Boolean { .. }, J::Bool(b)) => Ok(Value::Boolean(*b)),
        (Variable::Boolean { .. }, _) => Err(wrong_type(name, variable, "true or false", raw)),
        (Variable::Image { .. } | Variable::Video { .. } | Variable::Audio { .. }, J::Null) => {
            Ok(Value::Source(None))
        }
        (_, J::String(s)) => convert_str(name, variable, s),
        (Variable::Color { .. }, _) => Err(wrong_type(name, variable, "a colour string", raw)),
        (Variable::Image { .. }, _) => Err(wrong_type(
            name,
            variable,
            "an image URL or project file",
            raw,
        )),
        (Variable::Video { .. }, _) => Err(wrong_type(
            name,
            variable,
            "a video URL or project file",
            raw,
        )),
        (Variable::Audio { .. }, _) => Err(wrong_type(
            name,
            variable,
            "a sound URL or project file",
            raw,
        )),
        (Variable::Choice { .. }, _) => Err(wrong_type(
            name,
            variable,
            "one of the choices as a string",
            raw,
        )),
        (Variable::Text { .. }, _) => Err(wrong_type(name, variable, "a string", raw)),
    }
}

pub(crate) fn convert_str(name: &str, variable: &Variable, raw: &str) -> Result<Value> {
    let value =
        match variable {
            Variable::Text { .. } => Value::Text(raw.to_owned()),
            Variable::Choice { .. } => Value::Choice(raw.to_owned()),
            Variable::Color { .. } => Value::Color(raw.parse().map_err(|e| {
                Error::invalid_param(format!("param `{name}` (color variable): {e}"))
            })?),
            Variable::Image { .. } | Variable::Video { .. } | Variable::Audio { .. }
                if raw.is_empty() =>
            {
                Value::Source(None)
            }
            Variable::Image { .. } | Variable::Video { .. } | Variable::Audio { .. } => {
                Value::Source(Some(raw.to_owned()))
            }
            Variable::Number { .. } => {
                let n: f64 = raw
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| {
                        Error::invalid_param(format!(
                            "param `{name}` (number variable): expected a number, found {:?}",
                            shorten(raw)
                        ))
                    })?;
                Value::Number(n)
            }
            Variable::Boolean { .. } => {
                Value::Boolean(match raw.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => true,
                    "false" | "0" | "no" | "off" | "" => false,
                    _ => {
                        return Err(Error::invalid_param(format!(
                    "param `{name}` (boolean variable): expected true, false, 1, 0, yes or no, \
                     found {:?}",
                    shorten(raw)
                )))
                    }
                })
            }
        };
    check_value(name, variable, value)
}

fn shorten(raw: &str) -> String {
    if raw.chars().count() > 40 {
        raw.chars().take(40).collect::<String>() + "..."
    } else {
        raw.to_owned()
    }
}

/// Checks a converted value against its variable's limits.
pub(crate) fn check_value(name: &str, variable: &Variable, value: Value) -> Result<Value> {
    let fail = |what: String| {
        Err(Error::invalid_param(format!(
            "param `{name}` ({} variable): {what}",
            variable.type_name()
        )))
    };
    match (variable, &value) {
        (Variable::Text { max_length, .. }, Value::Text(text)) => {
            let limit = max_length
                .unwrap_or(TEXT_HARD_LIMIT_CHARS)
                .min(TEXT_HARD_LIMIT_CHARS);
            let chars = text.chars().count();
            if chars > limit {
                return fail(format!(
                    "expected at most {limit} characters, found {chars}"
                ));
            }
            if let Some(bad) = text
                .chars()
                .find(|c| c.is_control() && *c != '\n' && *c != '\t')
            {
                return fail(format!(
                    "expected printable text, found control character {:?}",
                    bad
                ));
            }
        }
        (
            Variable::Number {
                min, max, integer, ..
            },
            Value::Number(n),
        ) => {
            if *integer && n.fract() != 0.0 {
                return fail(format!("expected a whole number, found {n}"));
            }
            if let Some(min) = min.filter(|min| n < min) {
                return fail(format!("expected at least {min}, found {n}"));
            }
            if let Some(max) = max.filter(|max| n > max) {
                return fail(format!("expected at most {max}, found {n}"));
            }
        }
        (Variable::Choice { choices, .. }, Value::Choice(choice)) if !choices.contains(choice) => {
            return fail(format!(
                "expected one of {}, found {:?}",
                choices.join(", "),
                shorten(choice)
            ));
        }
        (
            Variable::Image { .. } | Variable::Video { .. } | Variable::Audio { .. },
            Value::Source(Some(source)),
        ) => {
            if let Err(e) = crate::assets::check_source_syntax(source) {
                return fail(e);
            }
        }
        _ => {}
    }
    Ok(value)
}
