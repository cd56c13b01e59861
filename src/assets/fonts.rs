//! Fonts: the bundled open-licensed families (Noto Sans for Latin, Greek and Cyrillic,
//! Noto Sans Arabic, Hebrew, Devanagari and Thai, and Droid Sans Fallback for Chinese,
//! Japanese and Korean; licences in `assets/fonts/`), compiled into the binary so that a
//! fresh machine renders text, plus a movie's own font files, which take precedence.
//!
//! System fonts are never read: the same movie must give the same pixels on every machine.

use std::sync::{Arc, OnceLock};

use cosmic_text::fontdb;
use cosmic_text::{Fallback, FontSystem};
use unicode_script::Script;

const BUNDLED: &[&[u8]] = &[
    include_bytes!("../../assets/fonts/NotoSans-Regular.ttf"),
    include_bytes!("../../assets/fonts/NotoSans-Bold.ttf"),
    include_bytes!("../../assets/fonts/NotoSans-Italic.ttf"),
    include_bytes!("../../assets/fonts/NotoSansArabic-Regular.ttf"),
    include_bytes!("../../assets/fonts/NotoSansArabic-Bold.ttf"),
    include_bytes!("../../assets/fonts/NotoSansDevanagari-Regular.ttf"),
    include_bytes!("../../assets/fonts/NotoSansDevanagari-Bold.ttf"),
    include_bytes!("../../assets/fonts/NotoSansHebrew-Regular.ttf"),
    include_bytes!("../../assets/fonts/NotoSansThai-Regular.ttf"),
    include_bytes!("../../assets/fonts/DroidSansFallback.ttf"),
];

const CJK_FAMILY: &str = "Droid Sans Fallback";

/// The fallback order: per script first, then the common list.
#[derive(Debug)]
struct BundledFallback;

impl Fallback for BundledFallback {
    fn common_fallback(&self) -> &[&'static str] {
        &["Noto Sans", CJK_FAMILY]
    }

    fn forbidden_fallback(&self) -> &[&'static str] {
        &[]
    }

    fn script_fallback(&self, script: Script, _locale: &str) -> &[&'static str] {
        match script {
            Script::Arabic => &["Noto Sans Arabic"],
            Script::Hebrew => &["Noto Sans Hebrew"],
            Script::Devanagari => &["Noto Sans Devanagari"],
            Script::Thai => &["Noto Sans Thai"],
            Script::Han
            | Script::Hiragana
            | Script::Katakana
            | Script::Hangul
            | Script::Bopomofo => &[CJK_FAMILY],
            _ => &[],
        }
    }
}

/// The bundled fonts, parsed once per process.
fn bundled_database() -> &'static fontdb::Database {
    static DATABASE: OnceLock<fontdb::Database> = OnceLock::new();
    DATABASE.get_or_init(|| {
        let mut db = fontdb::Database::new();
        for data in BUNDLED {
            db.load_font_source(fontdb::Source::Binary(Arc::new(*data)));
        }
        db.set_sans_serif_family("Noto Sans");
        db
    })
}

/// A font system with the movie's fonts (already read into memory) before the bundled ones.
pub fn font_system(project_fonts: Vec<Vec<u8>>) -> FontSystem {
    let mut db = bundled_database().clone();
    for data in project_fonts {
        db.load_font_source(fontdb::Source::Binary(Arc::new(data)));
    }
    // A fixed locale: the system's must not change which glyphs are drawn.
    FontSystem::new_with_locale_and_db_and_fallback("en-US".to_owned(), db, BundledFallback)
}

/// Family names the bundled fonts provide, for documentation and messages.
pub fn bundled_families() -> Vec<String> {
    let mut names: Vec<String> = bundled_database()
        .faces()
        .filter_map(|face| face.families.first().map(|(name, _)| name.clone()))
        .collect();
    names.sort();
    names.dedup();
    names
}
