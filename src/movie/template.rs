//! Values that may name a variable: text templates such as `"Hello, {name}!"` (with `{{`
//! and `}}` for literal braces), and fields such as `"color": "{accent}"` that hold either a
//! literal or a whole-value reference.

use std::fmt;
use std::str::FromStr;

/// True for names a variable may have: ASCII letters, digits, `_` and `-`, starting with a
/// letter or `_`, at most 64 characters.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 64
}

/// A piece of a text template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Literal(String),
    Variable(String),
}

/// Text with `{variable}` references.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The names this template reads, in order of appearance.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Variable(name) => Some(name.as_str()),
            Piece::Literal(_) => None,
        })
    }

    /// Substitutes every reference with `lookup(name)`.
    pub fn render(&self, mut lookup: impl FnMut(&str) -> String) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Variable(name) => out.push_str(&lookup(name)),
            }
        }
        out
    }
}

impl FromStr for Template {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = s.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &s[at + 1..];
                    let end = rest.find('}').ok_or_else(|| {
                        format!("unclosed '{{' at character {at} of {s:?} (write '{{{{' for a literal brace)")
                    })?;
                    let name = &rest[..end];
                    if !is_variable_name(name) {
                        return Err(format!(
                            "expected a variable name inside braces at character {at} of {s:?}, \
                             found {name:?} (write '{{{{' for a literal brace)"
                        ));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Variable(name.to_owned()));
                    for _ in 0..=name.chars().count() {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(format!(
                    "unmatched '}}' at character {at} of {s:?} (write '}}}}' for a literal brace)"
                ))
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Self { pieces })
    }
}

impl<'de> serde::Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Template {
    fn schema_name() -> String {
        "Template".into()
    }

    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = String::json_schema(gen).into_object();
        schema.metadata().description =
            Some("Text in which {variable} is replaced by the variable's value.".into());
        schema.into()
    }
}

/// A field that holds either a literal `T` or a whole-value reference such as `"{accent}"`.
#[derive(Debug, Clone, PartialEq)]
pub enum Bindable<T> {
    Fixed(T),
    Variable(String),
}

impl<T> Bindable<T> {
    pub fn variable(&self) -> Option<&str> {
        match self {
            Bindable::Variable(name) => Some(name),
            Bindable::Fixed(_) => None,
        }
    }
}

impl<T: FromStr> FromStr for Bindable<T>
where
    T::Err: fmt::Display,
{
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(name) = s.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')) {
            if is_variable_name(name) {
                return Ok(Bindable::Variable(name.to_owned()));
            }
        }
        s.parse::<T>()
            .map(Bindable::Fixed)
            .map_err(|e| e.to_string())
    }
}

impl<'de, T: FromStr> serde::Deserialize<'de> for Bindable<T>
where
    T::Err: fmt::Display,
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl<T> schemars::JsonSchema for Bindable<T> {
    fn schema_name() -> String {
        "Bindable".into()
    }

    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = String::json_schema(gen).into_object();
        schema.metadata().description =
            Some("A literal value, or \"{variable}\" to take the variable's value.".into());
        schema.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_literals_and_variables() {
        let template: Template = "Hello, {name}! {{not}} {n2}"
            .parse()
            .expect("valid template");
        assert_eq!(
            template.pieces(),
            [
                Piece::Literal("Hello, ".into()),
                Piece::Variable("name".into()),
                Piece::Literal("! {not} ".into()),
                Piece::Variable("n2".into()),
            ]
        );
        assert_eq!(
            template.render(|n| n.to_uppercase()),
            "Hello, NAME! {not} N2"
        );
    }

    #[test]
    fn reports_unbalanced_braces() {
        assert!("Hi {name"
            .parse::<Template>()
            .unwrap_err()
            .contains("unclosed"));
        assert!("Hi name}"
            .parse::<Template>()
            .unwrap_err()
            .contains("unmatched"));
        assert!("Hi {na me}"
            .parse::<Template>()
            .unwrap_err()
            .contains("variable name"));
    }

    #[test]
    fn handles_multibyte_text_around_references() {
        let template: Template = "Привет, {name} 李".parse().expect("valid template");
        assert_eq!(template.render(|_| "Zoë".into()), "Привет, Zoë 李");
    }

    proptest! {
        #[test]
        fn literal_text_round_trips_after_escaping(s in "\\PC{0,30}") {
            let escaped = s.replace('{', "{{").replace('}', "}}");
            let template: Template = escaped.parse().expect("escaped text is a valid template");
            prop_assert_eq!(template.render(|_| String::new()), s);
        }
    }
}
