//! Params are converted by their variable's type; every bad value is an error that names
//! the variable, what was expected and what came.

mod common;

use common::parse_movie;
use framecast::movie::{Color, Movie, Params, Value};
use framecast::ErrorKind;
use proptest::prelude::*;
use serde_json::json;

fn movie() -> Movie {
    parse_movie(
        r##"{
        "canvas": {"width": 64, "height": 64, "fps": 25},
        "variables": {
            "name": {"type": "text", "default": "you", "max_length": 10},
            "accent": {"type": "color", "default": "#ff0000"},
            "avatar": {"type": "image", "default": "a.png"},
            "count": {"type": "number", "default": 3, "min": 0, "max": 10, "integer": true},
            "ratio": {"type": "number", "default": 0.5, "min": 0, "max": 1},
            "vip": {"type": "boolean"},
            "plan": {"type": "choice", "choices": ["free", "gold"], "default": "free"}
        },
        "scenes": [{"duration": 1}]
    }"##,
    )
}

fn json_error(params: serde_json::Value) -> String {
    let map = params.as_object().expect("object").clone();
    let err = Params::from_json(&movie(), &map).expect_err("params should be refused");
    assert_eq!(err.kind(), ErrorKind::InvalidParam);
    err.to_string()
}

fn string_error(key: &str, value: &str) -> String {
    let err = Params::from_strings(&movie(), [(key, value)]).expect_err("params should be refused");
    assert_eq!(err.kind(), ErrorKind::InvalidParam);
    err.to_string()
}

#[test]
fn defaults_fill_what_params_leave_out() {
    let params = Params::from_json(&movie(), &serde_json::Map::new()).expect("defaults");
    assert_eq!(params.get("name"), Some(&Value::Text("you".into())));
    assert_eq!(params.get("vip"), Some(&Value::Boolean(false)));
    assert_eq!(params.get("count"), Some(&Value::Number(3.0)));
}

#[test]
fn json_values_convert_by_type() {
    let map = json!({"name": "Zoë", "accent": "#00ff00", "count": 7, "vip": true, "plan": "gold", "avatar": null, "extra": 1});
    let params =
        Params::from_json(&movie(), map.as_object().expect("object")).expect("valid params");
    assert_eq!(
        params.get("accent"),
        Some(&Value::Color(Color::rgb(0, 255, 0)))
    );
    assert_eq!(params.get("avatar"), Some(&Value::Source(None)));
    assert_eq!(params.get("plan"), Some(&Value::Choice("gold".into())));
    assert!(params.get("extra").is_none(), "unknown params are ignored");
}

#[test]
fn strings_convert_by_type() {
    let params = Params::from_strings(
        &movie(),
        [
            ("count", "4"),
            ("vip", "yes"),
            ("accent", "rgb(1,2,3)"),
            ("ratio", "0.25"),
        ],
    )
    .expect("valid params");
    assert_eq!(params.get("count"), Some(&Value::Number(4.0)));
    assert_eq!(params.get("vip"), Some(&Value::Boolean(true)));
    assert_eq!(
        params.get("accent"),
        Some(&Value::Color(Color::rgb(1, 2, 3)))
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        json_error(json!({"count": "seven"})),
        "param `count` (number variable): expected a number, found string \"seven\""
    );
    assert_eq!(
        json_error(json!({"name": 42})),
        "param `name` (text variable): expected a string, found number 42"
    );
    assert_eq!(
        json_error(json!({"vip": "true"})),
        "param `vip` (boolean variable): expected true or false, found string \"true\""
    );
    assert_eq!(
        json_error(json!({"plan": ["gold"]})),
        "param `plan` (choice variable): expected one of the choices as a string, found an array"
    );
    assert_eq!(
        string_error("vip", "maybe"),
        "param `vip` (boolean variable): expected true, false, 1, 0, yes or no, found \"maybe\""
    );
    assert_eq!(
        string_error("count", "1e400"),
        "param `count` (number variable): expected a number, found \"1e400\""
    );
}

#[test]
fn over_long_text() {
    assert_eq!(
        json_error(json!({"name": "Bartholomew the Third"})),
        "param `name` (text variable): expected at most 10 characters, found 21"
    );
    // Characters, not bytes: ten Cyrillic letters fit.
    assert!(Params::from_strings(&movie(), [("name", "Владимирrr")]).is_ok());
}

#[test]
fn control_characters_in_text() {
    assert!(string_error("name", "a\u{7}b").contains("control character"));
}

#[test]
fn number_out_of_range() {
    assert_eq!(
        json_error(json!({"count": 11})),
        "param `count` (number variable): expected at most 10, found 11"
    );
    assert_eq!(
        json_error(json!({"count": -1})),
        "param `count` (number variable): expected at least 0, found -1"
    );
    assert_eq!(
        json_error(json!({"count": 2.5})),
        "param `count` (number variable): expected a whole number, found 2.5"
    );
}

#[test]
fn unknown_choice() {
    assert_eq!(
        json_error(json!({"plan": "platinum"})),
        "param `plan` (choice variable): expected one of free, gold, found \"platinum\""
    );
}

#[test]
fn malformed_colour() {
    let message = json_error(json!({"accent": "#12345"}));
    assert!(
        message.starts_with("param `accent` (color variable): expected a colour such as #ff8800"),
        "{message}"
    );
    assert!(message.ends_with("found \"#12345\""), "{message}");
}

#[test]
fn unsafe_image_sources() {
    for bad in [
        "../secret.png",
        "/etc/passwd",
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "gopher://x/",
    ] {
        let message = string_error("avatar", bad);
        assert!(
            message.starts_with("param `avatar` (image variable): expected"),
            "{bad}: {message}"
        );
    }
}

#[test]
fn repeated_query_keys_are_refused() {
    let err =
        Params::from_strings(&movie(), [("name", "a"), ("name", "b")]).expect_err("duplicate");
    assert_eq!(err.to_string(), "param `name` is given more than once");
}

proptest! {
    #[test]
    fn short_text_is_accepted_verbatim(text in "[^\\p{Cc}]{0,10}") {
        let params = Params::from_strings(&movie(), [("name", text.as_str())]).expect("valid text");
        prop_assert_eq!(params.get("name"), Some(&Value::Text(text.clone())));
    }

    #[test]
    fn numbers_in_range_pass_and_outside_fail(n in -100.0..100.0f64) {
        let result = Params::from_strings(&movie(), [("ratio", n.to_string().as_str())]);
        prop_assert_eq!(result.is_ok(), (0.0..=1.0).contains(&n));
    }

    #[test]
    fn json_and_string_forms_agree(n in 0u32..=10, vip: bool) {
        let from_json = Params::from_json(&movie(), json!({"count": n, "vip": vip}).as_object().expect("object")).expect("json");
        let from_strings = Params::from_strings(&movie(), [("count", n.to_string().as_str()), ("vip", if vip { "true" } else { "false" })]).expect("strings");
        prop_assert_eq!(from_json, from_strings);
    }

    #[test]
    fn arbitrary_strings_never_panic(key in "(name|accent|avatar|count|ratio|vip|plan)", value in "\\PC{0,40}") {
        let _ = Params::from_strings(&movie(), [(key.as_str(), value.as_str())]);
    }
}
