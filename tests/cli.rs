//! The command line: the schema it prints is the one in the repo, `check` reports what the
//! server would, `render` writes frames.

mod common;

use std::process::Command;

use common::repo_path;

fn framecast(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_framecast"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run framecast")
}

#[test]
fn schema_matches_the_committed_file() {
    let output = framecast(&["schema"]);
    assert!(output.status.success());
    let committed =
        std::fs::read_to_string(repo_path("schema/movie.schema.json")).expect("committed schema");
    assert_eq!(
        String::from_utf8(output.stdout).expect("utf-8"),
        committed,
        "schema/movie.schema.json is stale: run `cargo run -- schema > schema/movie.schema.json`"
    );
}

#[test]
fn schema_accepts_the_demo_movie_shape() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("schema/movie.schema.json")).expect("schema"),
    )
    .expect("json");
    let required = schema["required"].as_array().expect("required list");
    assert!(required.contains(&"canvas".into()) && required.contains(&"scenes".into()));
    assert!(schema["definitions"]["Layer"]["properties"]["animate"].is_object());
}

#[test]
fn check_accepts_the_demo_and_reports_errors() {
    let output = framecast(&[
        "check",
        "fixtures/projects/demo/welcome-video.json",
        "--param",
        "name=Zoë",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let output = framecast(&[
        "check",
        "fixtures/projects/demo/welcome-video.json",
        "--param",
        "accent=#12",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("param `accent` (color variable): expected a colour"),
        "{stderr}"
    );

    let dir = std::env::temp_dir().join(format!("framecast-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{\"canvas\": {\"width\": 64, \"height\": 64, \"fps\": 30},\n \"scenes\": [{\"duration\": -1}]}").expect("write");
    let output = framecast(&["check", broken.to_str().expect("utf-8 path")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("scenes[0].duration: expected seconds above 0, found -1"),
        "{stderr}"
    );
}

#[test]
fn render_writes_a_still() {
    let dir = std::env::temp_dir().join(format!("framecast-render-{}", std::process::id()));
    let out = dir.join("still.png");
    let output = framecast(&[
        "render",
        "fixtures/projects/demo",
        "welcome-video",
        "-p",
        "name=Alex",
        "--frame",
        "45",
        "-o",
        out.to_str().expect("path"),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let still = image::open(&out).expect("png").into_rgba8();
    assert_eq!((still.width(), still.height()), (1280, 720));
}

#[test]
fn render_refuses_an_unknown_movie() {
    let output = framecast(&[
        "render",
        "fixtures/projects/demo",
        "nope",
        "-o",
        "/tmp/x.png",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("movie \"nope\" not found"));
}
