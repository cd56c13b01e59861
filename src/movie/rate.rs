//! Frame rates as exact rationals (`30`, `"25"`, `"30000/1001"`), and the conversions
//! between seconds and frame indices that every timing decision goes through.

use std::fmt;
use std::str::FromStr;

/// A frame rate `num / den` frames per second, both positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameRate {
    pub num: u32,
    pub den: u32,
}

impl FrameRate {
    /// The highest rate a movie may declare.
    pub const MAX_FPS: u32 = 120;

    pub fn new(num: u32, den: u32) -> Option<Self> {
        let rate = Self { num, den };
        (num > 0 && den > 0 && rate.as_f64() <= f64::from(Self::MAX_FPS) && rate.as_f64() >= 1.0)
            .then_some(rate)
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }

    /// The frame index nearest to `seconds`; ties round up.
    pub fn frames_at(self, seconds: f64) -> i64 {
        (seconds * f64::from(self.num) / f64::from(self.den)).round() as i64
    }

    /// The time of frame `frame_index` in seconds.
    pub fn seconds_at(self, frame_index: i64) -> f64 {
        frame_index as f64 * f64::from(self.den) / f64::from(self.num)
    }
}

impl fmt::Display for FrameRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

impl FromStr for FrameRate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = || {
            format!(
                "expected a frame rate between 1 and {} such as 30, \"25\" or \"30000/1001\", \
                 found {s:?}",
                Self::MAX_FPS
            )
        };
        let (num, den) = match s.split_once('/') {
            Some((n, d)) => (
                n.trim().parse().map_err(|_| fail())?,
                d.trim().parse().map_err(|_| fail())?,
            ),
            None => (s.trim().parse().map_err(|_| fail())?, 1),
        };
        Self::new(num, den).ok_or_else(fail)
    }
}

impl<'de> serde::Deserialize<'de> for FrameRate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u32),
            Text(String),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Int(n) => n.to_string(),
            Raw::Text(s) => s,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for FrameRate {
    fn schema_name() -> String {
        "FrameRate".into()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        serde_json::from_value(serde_json::json!({
            "description": "Frames per second: an integer, or a rational string such as \"30000/1001\".",
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 120},
                {"type": "string", "pattern": "^\\s*[0-9]+\\s*(/\\s*[0-9]+\\s*)?$"}
            ]
        }))
        .expect("the frame rate schema is a valid schema literal")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_integers_and_rationals() {
        assert_eq!("30".parse(), Ok(FrameRate { num: 30, den: 1 }));
        assert_eq!(
            "30000/1001".parse(),
            Ok(FrameRate {
                num: 30000,
                den: 1001
            })
        );
        assert!("0".parse::<FrameRate>().is_err());
        assert!("30/0".parse::<FrameRate>().is_err());
        assert!("1000".parse::<FrameRate>().is_err());
        assert!("abc"
            .parse::<FrameRate>()
            .unwrap_err()
            .contains("30000/1001"));
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,16}") {
            let _ = s.parse::<FrameRate>();
        }

        #[test]
        fn frames_and_seconds_round_trip(num in 1u32..=120_000, den in 1u32..=1001, frame in 0i64..1_000_000) {
            if let Some(rate) = FrameRate::new(num, den) {
                proptest::prop_assert_eq!(rate.frames_at(rate.seconds_at(frame)), frame);
            }
        }
    }

    #[test]
    fn ntsc_timing_is_exact() {
        let ntsc: FrameRate = "30000/1001".parse().expect("valid rate");
        assert_eq!(ntsc.frames_at(10.01), 300);
        assert!((ntsc.seconds_at(300) - 10.01).abs() < 1e-9);
    }
}
