//! Colours as movies and params write them: `#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`,
//! `rgb(r, g, b)`, `rgba(r, g, b, a)` and a few CSS names.

use std::fmt;
use std::str::FromStr;

/// A straight-alpha sRGB colour, 8 bits per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Color {
    pub r: u8,
    pub g: u8,
    pub b: u8,
    pub a: u8,
}

impl Color {
    pub const BLACK: Color = Color::rgb(0, 0, 0);
    pub const WHITE: Color = Color::rgb(255, 255, 255);
    pub const TRANSPARENT: Color = Color::rgba(0, 0, 0, 0);

    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b, a: 255 }
    }

    pub const fn rgba(r: u8, g: u8, b: u8, a: u8) -> Self {
        Self { r, g, b, a }
    }

    /// The colour as a tiny-skia colour (straight alpha).
    pub fn to_skia(self) -> tiny_skia::Color {
        tiny_skia::Color::from_rgba8(self.r, self.g, self.b, self.a)
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)?;
        if self.a != 255 {
            write!(f, "{:02x}", self.a)?;
        }
        Ok(())
    }
}

/// Why a colour string did not parse; the message lists the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColorParseError(String);

impl fmt::Display for ColorParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected a colour such as #ff8800, #f80, #ff8800cc, rgb(255, 136, 0) or \
             rgba(255, 136, 0, 0.5), found {:?}",
            self.0
        )
    }
}

impl std::error::Error for ColorParseError {}

const NAMED: &[(&str, Color)] = &[
    ("black", Color::BLACK),
    ("white", Color::WHITE),
    ("transparent", Color::TRANSPARENT),
    ("red", Color::rgb(255, 0, 0)),
    ("green", Color::rgb(0, 128, 0)),
    ("blue", Color::rgb(0, 0, 255)),
    ("yellow", Color::rgb(255, 255, 0)),
    ("orange", Color::rgb(255, 165, 0)),
    ("gray", Color::rgb(128, 128, 128)),
    ("grey", Color::rgb(128, 128, 128)),
];

impl FromStr for Color {
    type Err = ColorParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = || ColorParseError(input.chars().take(64).collect());
        let s = input.trim();
        if let Some(hex) = s.strip_prefix('#') {
            return parse_hex(hex).ok_or_else(fail);
        }
        let lower = s.to_ascii_lowercase();
        if let Some(args) = lower
            .strip_prefix("rgba(")
            .or_else(|| lower.strip_prefix("rgb("))
        {
            let args = args.strip_suffix(')').ok_or_else(fail)?;
            return parse_functional(args, lower.starts_with("rgba")).ok_or_else(fail);
        }
        NAMED
            .iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, color)| *color)
            .ok_or_else(fail)
    }
}

fn parse_hex(hex: &str) -> Option<Color> {
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let nibble = |i: usize| u8::from_str_radix(&hex[i..=i], 16).ok().map(|v| v * 17);
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    match hex.len() {
        3 => Some(Color::rgb(nibble(0)?, nibble(1)?, nibble(2)?)),
        4 => Some(Color::rgba(nibble(0)?, nibble(1)?, nibble(2)?, nibble(3)?)),
        6 => Some(Color::rgb(byte(0)?, byte(2)?, byte(4)?)),
        8 => Some(Color::rgba(byte(0)?, byte(2)?, byte(4)?, byte(6)?)),
        _ => None,
    }
}

fn parse_functional(args: &str, with_alpha: bool) -> Option<Color> {
    let parts: Vec<&str> = args.split(',').map(str::trim).collect();
    if parts.len() != if with_alpha { 4 } else { 3 } {
        return None;
    }
    let channel = |s: &str| s.parse::<u8>().ok();
    let alpha = match parts.get(3) {
        Some(a) => {
            let a: f64 = a.parse().ok()?;
            if !(0.0..=1.0).contains(&a) {
                return None;
            }
            (a * 255.0).round() as u8
        }
        None => 255,
    };
    Some(Color::rgba(
        channel(parts[0])?,
        channel(parts[1])?,
        channel(parts[2])?,
        alpha,
    ))
}

impl<'de> serde::Deserialize<'de> for Color {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Color {
    fn schema_name() -> String {
        "Color".into()
    }

    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = String::json_schema(gen).into_object();
        schema.metadata().description = Some(
            "#rgb, #rgba, #rrggbb, #rrggbbaa, rgb(r, g, b), rgba(r, g, b, a) or a name.".into(),
        );
        schema.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_documented_form() {
        assert_eq!("#f80".parse(), Ok(Color::rgb(255, 136, 0)));
        assert_eq!("#F80C".parse(), Ok(Color::rgba(255, 136, 0, 204)));
        assert_eq!("#ff8800".parse(), Ok(Color::rgb(255, 136, 0)));
        assert_eq!("#ff880080".parse(), Ok(Color::rgba(255, 136, 0, 128)));
        assert_eq!("rgb(1, 2, 3)".parse(), Ok(Color::rgb(1, 2, 3)));
        assert_eq!("rgba(1,2,3,0.5)".parse(), Ok(Color::rgba(1, 2, 3, 128)));
        assert_eq!("White".parse(), Ok(Color::WHITE));
    }

    #[test]
    fn rejects_malformed_colours_with_the_accepted_forms() {
        for bad in [
            "#ff888",
            "#gg0000",
            "rgb(256,0,0)",
            "rgba(1,2,3,2)",
            "bluish",
            "",
            "#",
        ] {
            let err = bad.parse::<Color>().expect_err(bad);
            assert!(err.to_string().contains("expected a colour"), "{err}");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(r: u8, g: u8, b: u8, a: u8) {
            let color = Color::rgba(r, g, b, a);
            prop_assert_eq!(color.to_string().parse::<Color>(), Ok(color));
        }

        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = s.parse::<Color>();
        }
    }
}
