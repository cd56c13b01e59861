//! Names in many scripts come out with real glyphs from a bundled font, in the right
//! visual order, never as missing-glyph boxes.

mod common;

use common::{demo_renderer, differing_pixels};
use framecast::assets::fonts::font_system;
use framecast::movie::format::{Align, Overflow, VerticalAlign};
use framecast::movie::timeline::TextSpec;
use framecast::movie::Color;
use framecast::render::text::{ShapedGlyph, TextEngine};

fn spec(text: &str) -> TextSpec {
    TextSpec {
        text: text.to_owned(),
        family: "Noto Sans".to_owned(),
        size_px: 48.0,
        weight: 400,
        italic: false,
        color: Color::WHITE,
        align: Align::Start,
        valign: VerticalAlign::Top,
        line_height: 1.2,
        overflow: Overflow::Visible,
        min_size_px: 8.0,
        stroke: None,
        shadow: None,
    }
}

fn shape(text: &str) -> Vec<ShapedGlyph> {
    TextEngine::new(font_system(Vec::new())).shape(&spec(text))
}

fn assert_no_missing_glyphs(text: &str, glyphs: &[ShapedGlyph]) {
    assert!(!glyphs.is_empty(), "{text}: nothing shaped");
    for glyph in glyphs {
        assert_ne!(
            glyph.glyph_id, 0,
            "{text}: missing glyph for the cluster at byte {} ({})",
            glyph.cluster, glyph.family
        );
    }
}

#[test]
fn latin_with_diacritics() {
    let glyphs = shape("Zoë");
    assert_no_missing_glyphs("Zoë", &glyphs);
    assert!(glyphs.iter().all(|g| g.family == "Noto Sans"));
}

#[test]
fn cyrillic() {
    let glyphs = shape("Владимир");
    assert_no_missing_glyphs("Владимир", &glyphs);
    assert_eq!(glyphs.len(), "Владимир".chars().count());
}

#[test]
fn arabic_is_joined_and_right_to_left() {
    let text = "محمد";
    let glyphs = shape(text);
    assert_no_missing_glyphs(text, &glyphs);
    assert!(
        glyphs.iter().all(|g| g.family == "Noto Sans Arabic"),
        "{glyphs:?}"
    );
    // Visual order runs right to left: the first letter sits rightmost.
    let first = glyphs
        .iter()
        .find(|g| g.cluster == 0)
        .expect("first letter");
    assert!(glyphs.iter().all(|g| g.x <= first.x), "{glyphs:?}");
    // Joining forms differ from the isolated letters: the two mims get different glyphs.
    let mims: Vec<u16> = glyphs
        .iter()
        .filter(|g| text[g.cluster..].starts_with('م'))
        .map(|g| g.glyph_id)
        .collect();
    assert_eq!(mims.len(), 2);
    assert_ne!(
        mims[0], mims[1],
        "initial and medial forms are the same glyph: not shaped"
    );
}

#[test]
fn chinese() {
    let glyphs = shape("李小龙");
    assert_no_missing_glyphs("李小龙", &glyphs);
    assert!(
        glyphs.iter().all(|g| g.family == "Droid Sans Fallback"),
        "{glyphs:?}"
    );
    assert!(glyphs.windows(2).all(|w| w[0].x < w[1].x));
}

#[test]
fn devanagari_is_shaped() {
    let text = "अनुष्का";
    let glyphs = shape(text);
    assert_no_missing_glyphs(text, &glyphs);
    assert!(
        glyphs.iter().all(|g| g.family == "Noto Sans Devanagari"),
        "{glyphs:?}"
    );
    // The conjunct ष्क forms fewer glyphs than code points.
    assert!(
        glyphs.len() < text.chars().count(),
        "{} glyphs for {} code points",
        glyphs.len(),
        text.chars().count()
    );
}

#[test]
fn mixed_scripts_fall_back_per_run() {
    let glyphs = shape("Hi محمد 李");
    assert_no_missing_glyphs("mixed", &glyphs);
    let families: std::collections::BTreeSet<&str> =
        glyphs.iter().map(|g| g.family.as_str()).collect();
    assert!(
        families.contains("Noto Sans")
            && families.contains("Noto Sans Arabic")
            && families.contains("Droid Sans Fallback")
    );
}

#[test]
fn every_name_draws_ink_in_the_demo() {
    let baseline = demo_renderer(&[("name", "")])
        .render_frame(100)
        .expect("frame");
    for name in ["Zoë", "Владимир", "محمد", "李小龙", "अनुष्का"] {
        let frame = demo_renderer(&[("name", name)])
            .render_frame(100)
            .expect("frame");
        let changed = differing_pixels(baseline.rgba(), frame.rgba(), 8);
        assert!(
            changed > 500,
            "{name}: only {changed} pixels differ from an empty name"
        );
    }
}

#[test]
fn family_names_match_without_regard_to_case() {
    let mut engine = TextEngine::new(font_system(Vec::new()));
    assert!(engine.has_family("noto sans hebrew"));
    let glyphs = engine.shape(&TextSpec {
        family: "noto sans hebrew".into(),
        weight: 700,
        ..spec("שלום")
    });
    assert_no_missing_glyphs("שלום", &glyphs);
    assert!(
        glyphs.iter().all(|g| g.family == "Noto Sans Hebrew"),
        "{glyphs:?}"
    );
}

#[test]
fn shrink_fits_a_long_word_instead_of_breaking_it() {
    let json = r##"{"canvas": {"width": 200, "height": 60, "fps": 10, "background": "#000000"},
        "scenes": [{"duration": 1, "layers": [{"type": "text", "text": "Supercalifragilistic",
            "font": {"size": 40}, "color": "#ffffff", "x": 10, "y": 5, "width": 100, "height": 50, "overflow": "shrink"}]}]}"##;
    let movie = common::parse_movie(json);
    let frame = common::renderer(&movie, framecast::movie::Params::defaults(&movie))
        .render_frame(0)
        .expect("frame");
    let ink_columns: Vec<u32> = (0..200)
        .filter(|&x| (0..60).any(|y| common::pixel(&frame, x, y)[0] > 64))
        .collect();
    let (first, last) = (ink_columns[0], *ink_columns.last().expect("ink"));
    assert!(
        first >= 10 && last <= 112,
        "ink spans columns {first}..={last}"
    );
    // One line: the word was not broken over several.
    let ink_rows: Vec<u32> = (0..60)
        .filter(|&y| (0..200).any(|x| common::pixel(&frame, x, y)[0] > 64))
        .collect();
    assert!(
        ink_rows.last().expect("ink") - ink_rows[0] < 25,
        "rows {ink_rows:?}"
    );
}
