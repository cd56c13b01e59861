//! Easing curves for keyframe animation: the CSS timing functions plus `hold` and
//! `overshoot`, written in movies as `"ease-out"` or `"cubic-bezier(0.3, 0, 0.2, 1.4)"`.

use std::fmt;
use std::str::FromStr;

/// How a property moves from one keyframe to the next.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Easing {
    #[default]
    Linear,
    /// Keeps the start value until the next keyframe.
    Hold,
    /// A CSS cubic Bézier through (0,0), (x1,y1), (x2,y2), (1,1).
    CubicBezier([f64; 4]),
}

const EASE_IN: [f64; 4] = [0.42, 0.0, 1.0, 1.0];
const EASE_OUT: [f64; 4] = [0.0, 0.0, 0.58, 1.0];
const EASE_IN_OUT: [f64; 4] = [0.42, 0.0, 0.58, 1.0];
const EASE: [f64; 4] = [0.25, 0.1, 0.25, 1.0];
/// Goes about 10% past the target, then settles back.
const OVERSHOOT: [f64; 4] = [0.34, 1.56, 0.64, 1.0];

impl Easing {
    /// Maps progress `t` in [0, 1] to eased progress (which may leave [0, 1] for overshoot).
    pub fn apply(self, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        match self {
            Easing::Linear => t,
            Easing::Hold => {
                if t >= 1.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Easing::CubicBezier([x1, y1, x2, y2]) => {
                let s = solve_bezier_x(t, x1, x2);
                bezier(s, y1, y2)
            }
        }
    }
}

/// One coordinate of the cubic Bézier with end points 0 and 1.
fn bezier(s: f64, p1: f64, p2: f64) -> f64 {
    let u = 1.0 - s;
    3.0 * u * u * s * p1 + 3.0 * u * s * s * p2 + s * s * s
}

fn bezier_slope(s: f64, p1: f64, p2: f64) -> f64 {
    let u = 1.0 - s;
    3.0 * u * u * p1 + 6.0 * u * s * (p2 - p1) + 3.0 * s * s * (1.0 - p2)
}

/// Finds the curve parameter whose x is `x`: Newton steps, then bisection if they stall.
/// x(s) is monotonic because x1 and x2 are limited to [0, 1].
fn solve_bezier_x(x: f64, x1: f64, x2: f64) -> f64 {
    let mut s = x;
    for _ in 0..8 {
        let error = bezier(s, x1, x2) - x;
        if error.abs() < 1e-9 {
            return s;
        }
        let slope = bezier_slope(s, x1, x2);
        if slope.abs() < 1e-9 {
            break;
        }
        s = (s - error / slope).clamp(0.0, 1.0);
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    s = x;
    for _ in 0..60 {
        let value = bezier(s, x1, x2);
        if (value - x).abs() < 1e-9 {
            break;
        }
        if value < x {
            lo = s;
        } else {
            hi = s;
        }
        s = (lo + hi) / 2.0;
    }
    s
}

impl FromStr for Easing {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let named = match s.trim() {
            "linear" => Some(Easing::Linear),
            "hold" | "step" => Some(Easing::Hold),
            "ease" => Some(Easing::CubicBezier(EASE)),
            "ease-in" => Some(Easing::CubicBezier(EASE_IN)),
            "ease-out" => Some(Easing::CubicBezier(EASE_OUT)),
            "ease-in-out" => Some(Easing::CubicBezier(EASE_IN_OUT)),
            "overshoot" => Some(Easing::CubicBezier(OVERSHOOT)),
            _ => None,
        };
        if let Some(easing) = named {
            return Ok(easing);
        }
        let fail = || {
            format!(
                "expected an easing (linear, hold, ease, ease-in, ease-out, ease-in-out, \
                 overshoot or cubic-bezier(x1, y1, x2, y2) with x1 and x2 in [0, 1]), found {s:?}"
            )
        };
        let args = s
            .trim()
            .strip_prefix("cubic-bezier(")
            .and_then(|rest| rest.strip_suffix(')'))
            .ok_or_else(fail)?;
        let numbers: Vec<f64> = args
            .split(',')
            .map(|part| part.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| fail())?;
        match numbers[..] {
            [x1, y1, x2, y2]
                if (0.0..=1.0).contains(&x1)
                    && (0.0..=1.0).contains(&x2)
                    && y1.is_finite()
                    && y2.is_finite()
                    && y1.abs() <= 10.0
                    && y2.abs() <= 10.0 =>
            {
                Ok(Easing::CubicBezier([x1, y1, x2, y2]))
            }
            _ => Err(fail()),
        }
    }
}

impl fmt::Display for Easing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Easing::Linear => f.write_str("linear"),
            Easing::Hold => f.write_str("hold"),
            Easing::CubicBezier([a, b, c, d]) => write!(f, "cubic-bezier({a}, {b}, {c}, {d})"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Easing {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Easing {
    fn schema_name() -> String {
        "Easing".into()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        serde_json::from_value(serde_json::json!({
            "description": "linear, hold, ease, ease-in, ease-out, ease-in-out, overshoot, or cubic-bezier(x1, y1, x2, y2).",
            "type": "string",
            "pattern": "^(linear|hold|step|ease|ease-in|ease-out|ease-in-out|overshoot|cubic-bezier\\(.*\\))$"
        }))
        .expect("the easing schema is a valid schema literal")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn named_curves_hit_their_end_points() {
        for name in [
            "linear",
            "ease",
            "ease-in",
            "ease-out",
            "ease-in-out",
            "overshoot",
        ] {
            let easing: Easing = name.parse().expect(name);
            assert!(easing.apply(0.0).abs() < 1e-6, "{name} at 0");
            assert!((easing.apply(1.0) - 1.0).abs() < 1e-6, "{name} at 1");
        }
    }

    #[test]
    fn ease_in_starts_slow_and_ease_out_starts_fast() {
        let ease_in: Easing = "ease-in".parse().expect("named easing");
        let ease_out: Easing = "ease-out".parse().expect("named easing");
        assert!(ease_in.apply(0.25) < 0.25);
        assert!(ease_out.apply(0.25) > 0.25);
    }

    #[test]
    fn overshoot_goes_past_the_target() {
        let overshoot: Easing = "overshoot".parse().expect("named easing");
        let peak = (1..100)
            .map(|i| overshoot.apply(f64::from(i) / 100.0))
            .fold(0.0, f64::max);
        assert!(peak > 1.05, "peak {peak}");
    }

    #[test]
    fn hold_jumps_at_the_end() {
        assert_eq!(Easing::Hold.apply(0.99), 0.0);
        assert_eq!(Easing::Hold.apply(1.0), 1.0);
    }

    #[test]
    fn rejects_bad_curves() {
        for bad in [
            "cubic-bezier(1.5, 0, 0, 1)",
            "cubic-bezier(0, 0, 1)",
            "bounce",
            "",
        ] {
            assert!(
                bad.parse::<Easing>()
                    .unwrap_err()
                    .contains("expected an easing"),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn bezier_easing_is_monotonic_when_its_y_is(
            x1 in 0.0..=1.0f64, y1 in 0.0..=1.0f64, x2 in 0.0..=1.0f64, y2 in 0.0..=1.0f64,
            a in 0.0..=1.0f64, b in 0.0..=1.0f64,
        ) {
            let easing = Easing::CubicBezier([x1, y1, x2, y2]);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(easing.apply(lo) <= easing.apply(hi) + 1e-6);
        }

        #[test]
        fn bezier_matches_its_x(x1 in 0.0..=1.0f64, x2 in 0.0..=1.0f64, t in 0.0..=1.0f64) {
            let s = solve_bezier_x(t, x1, x2);
            prop_assert!((bezier(s, x1, x2) - t).abs() < 1e-6);
        }
    }
}
