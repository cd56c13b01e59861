//! A broken movie file is an error that says where (file, line and column, or the path of
//! the field) and what was expected.

use framecast::movie;
use framecast::ErrorKind;

fn error(json: &str) -> String {
    let err = movie::parse(json, "m.json").expect_err("movie should be refused");
    assert_eq!(err.kind(), ErrorKind::InvalidMovie);
    err.to_string()
}

const CANVAS: &str = r#""canvas": {"width": 64, "height": 64, "fps": 25}"#;

#[test]
fn syntax_error_has_line_and_column() {
    let message = error("{\n  \"canvas\": {\"width\": 64,,}\n}");
    assert!(message.starts_with("m.json:2:"), "{message}");
    assert!(
        message.contains("invalid JSON: key must be a string"),
        "{message}"
    );
}

#[test]
fn unknown_field_names_the_accepted_ones() {
    let message = error(&format!(
        "{{{CANVAS}, \"scenes\": [{{\"duration\": 1, \"layres\": []}}]}}"
    ));
    assert!(message.starts_with("m.json:1:"), "{message}");
    assert!(
        message.contains("scenes[0]") && message.contains("unknown field `layres`"),
        "{message}"
    );
    assert!(message.contains("expected one of"), "{message}");
}

#[test]
fn unknown_layer_type() {
    let message = error(&format!(
        "{{{CANVAS}, \"scenes\": [{{\"duration\": 1, \"layers\": [{{\"type\": \"circle\"}}]}}]}}"
    ));
    assert!(
        message.contains("scenes[0].layers[0].type")
            && message.contains("unknown variant `circle`"),
        "{message}"
    );
}

#[test]
fn bad_frame_rate_and_colour_say_what_was_expected() {
    let message = error(r#"{"canvas": {"width": 64, "height": 64, "fps": "fast"}, "scenes": []}"#);
    assert!(
        message.contains("canvas.fps") && message.contains("30000/1001"),
        "{message}"
    );
    let message = error(
        r##"{"canvas": {"width": 64, "height": 64, "fps": 30, "background": "#zz"}, "scenes": []}"##,
    );
    assert!(
        message.contains("canvas.background") && message.contains("expected a colour"),
        "{message}"
    );
}

#[test]
fn odd_canvas() {
    let message =
        error(r#"{"canvas": {"width": 63, "height": 64, "fps": 30}, "scenes": [{"duration": 1}]}"#);
    assert_eq!(
        message,
        "m.json: canvas.width: expected an even number of pixels from 16 to 3840, found 63"
    );
}

#[test]
fn undeclared_variable() {
    let message = error(&format!(
        r#"{{{CANVAS}, "variables": {{"name": {{"type": "text"}}}}, "scenes": [{{"duration": 1, "layers": [
            {{"type": "text", "text": "Hi {{nmae}}", "font": {{"size": 10}}}}]}}]}}"#
    ));
    assert_eq!(
        message,
        "m.json: scenes[0].layers[0].text: refers to variable `nmae`, which the movie does not declare (declared: name)"
    );
}

#[test]
fn variable_of_the_wrong_type() {
    let message = error(&format!(
        r#"{{{CANVAS}, "variables": {{"name": {{"type": "text"}}}}, "scenes": [{{"duration": 1, "layers": [
            {{"type": "solid", "color": "{{name}}"}}]}}]}}"#
    ));
    assert_eq!(
        message,
        "m.json: scenes[0].layers[0].color: expected a color variable, `name` is text"
    );
}

#[test]
fn field_that_does_not_belong_to_the_layer_type() {
    let message = error(&format!(
        r#"{{{CANVAS}, "scenes": [{{"duration": 1, "layers": [{{"type": "solid", "color": "red", "text": "x"}}]}}]}}"#
    ));
    assert_eq!(
        message,
        "m.json: scenes[0].layers[0].text: a solid layer does not take `text` (it takes color)"
    );
}

#[test]
fn missing_required_field() {
    let message = error(&format!(
        r#"{{{CANVAS}, "scenes": [{{"duration": 1, "layers": [{{"type": "shape", "shape": "ellipse"}}]}}]}}"#
    ));
    assert_eq!(
        message,
        "m.json: scenes[0].layers[0]: a shape layer needs `width`"
    );
}

#[test]
fn keyframes_out_of_order() {
    let message = error(&format!(
        r#"{{{CANVAS}, "scenes": [{{"duration": 1, "layers": [{{"type": "solid", "color": "red",
            "animate": {{"opacity": [{{"t": 0.5, "value": 1}}, {{"t": 0.2, "value": 0}}]}}}}]}}]}}"#
    ));
    assert_eq!(message, "m.json: scenes[0].layers[0].animate.opacity[1].t: expected keyframe times in increasing order, found 0.2 after 0.5");
}

#[test]
fn default_outside_the_variable_limits() {
    let message = error(&format!(
        r#"{{{CANVAS}, "variables": {{"n": {{"type": "number", "default": 50, "max": 10}}}}, "scenes": [{{"duration": 1}}]}}"#
    ));
    assert_eq!(message, "m.json: variables.n.default: default of `n` (number variable): expected at most 10, found 50");
}

#[test]
fn condition_on_an_impossible_choice() {
    let message = error(&format!(
        r#"{{{CANVAS}, "variables": {{"plan": {{"type": "choice", "choices": ["a", "b"], "default": "a"}}}},
            "scenes": [{{"duration": 1, "when": {{"variable": "plan", "is": "c"}}}}]}}"#
    ));
    assert_eq!(
        message,
        "m.json: scenes[0].when: \"c\" is not a possible value of choice variable `plan`"
    );
}

#[test]
fn escaping_project_paths() {
    let message = error(&format!(
        r#"{{{CANVAS}, "scenes": [{{"duration": 1, "layers": [{{"type": "image", "source": "../../etc/passwd"}}]}}]}}"#
    ));
    assert!(
        message.contains(
            "scenes[0].layers[0].source: expected a relative path inside the project folder"
        ),
        "{message}"
    );
}

#[test]
fn file_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("framecast-movie-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("broken.json");
    std::fs::write(&path, "{\n\n  \"canvas\": 3\n}").expect("write");
    let message = movie::load_file(&path).expect_err("broken").to_string();
    assert!(
        message.starts_with(&format!("{}:3:", path.display())),
        "{message}"
    );
    assert!(message.contains("expected struct Canvas"), "{message}");
}

mod never_panics {
    use framecast::assets::Assets;
    use framecast::movie::{self, Params, Timeline};
    use framecast::render::Renderer;
    use proptest::prelude::*;

    const DEMO: &str = include_str!("../fixtures/projects/demo/welcome-video.json");

    /// Applies one edit at a char boundary: delete a character, insert one, or replace a
    /// run of digits with another number.
    fn mutate(text: &str, at: usize, op: u8, ch: char, number: u32) -> String {
        let at = (0..=at.min(text.len()))
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        let mut out = text.to_owned();
        match op % 3 {
            0 => {
                if let Some(c) = out[at..].chars().next() {
                    out.replace_range(at..at + c.len_utf8(), "");
                }
            }
            1 => out.insert(at, ch),
            _ => {
                let digits = out[at..].find(|c: char| c.is_ascii_digit()).map(|d| at + d);
                if let Some(start) = digits {
                    let end = out[start..]
                        .find(|c: char| !c.is_ascii_digit())
                        .map_or(out.len(), |e| start + e);
                    out.replace_range(start..end, &number.to_string());
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any edit of a real movie is either refused with an error or binds and draws.
        #[test]
        fn edited_movies_are_refused_or_render(at in 0usize..8000, op: u8, ch: char, number in 0u32..5000) {
            let text = mutate(DEMO, at, op, ch, number);
            if let Ok(movie) = movie::parse(&text, "edited.json") {
                let timeline = Timeline::new(&movie, Params::defaults(&movie));
                if let Ok(renderer) = Renderer::new(timeline, Assets::default()) {
                    let frames = renderer.timeline().frame_count;
                    for index in [0, frames / 2, frames.saturating_sub(1)] {
                        if index < frames {
                            renderer.render_frame(index).expect("a valid movie renders");
                        }
                    }
                }
            }
        }

        #[test]
        fn arbitrary_text_is_refused_without_panicking(text in "\\PC{0,200}") {
            let _ = movie::parse(&text, "random.json");
        }
    }
}
