//! The demo movie played in a real browser: headless Chromium with hls.js for `play` HLS,
//! dash.js for `play` DASH, and the browser's own player for the `get` and `play` MP4
//! streams, each from start to end with no player error. `scripts/test` installs
//! Chromium and the npm packages (`tests/player/package.json`).

mod common;

use std::process::Command;

use common::repo_path;
use common::server::{test_dir, Server};
use reqwest::Client;
use serde_json::{json, Value};

#[tokio::test]
async fn the_demo_streams_play_to_the_end_in_chromium() {
    let player = repo_path("tests/player");
    assert!(
        player.join("node_modules/hls.js").is_dir(),
        "the player test needs its npm packages: run `npm ci --prefix tests/player` \
         (bash scripts/test does)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).is_file(),
        "the player test needs Chromium at {chromium} (Debian package chromium; bash scripts/test installs it)"
    );

    let server = Server::start_on(
        test_dir("player").join("data"),
        repo_path("fixtures/projects"),
        &[],
    );
    let client = Client::new();
    let response = client
        .post(server.url("/v2/token/demo"))
        .body(json!({"movie": "welcome-video", "params": {"name": "Alex"}}).to_string())
        .send()
        .await
        .expect("token");
    let body: Value = serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
    let token = body["token"].as_str().expect("token");

    let streams = [
        ("hls", format!("/v2/play/{token}.m3u8")),
        ("dash", format!("/v2/play/{token}.mpd")),
        ("file", format!("/v2/get/{token}.mp4")),
        ("file", format!("/v2/play/{token}.mp4")),
    ];
    let mut command = Command::new("node");
    command
        .arg(player.join("play.mjs"))
        .env("CHROMIUM", &chromium);
    for (kind, path) in &streams {
        command.arg(kind).arg(server.url(path));
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("player thread")
        .expect("node runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    let outcomes: Vec<Value> = printed
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert_eq!(
        outcomes.len(),
        streams.len(),
        "stdout: {printed}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for outcome in &outcomes {
        assert_eq!(outcome["ok"], true, "{outcome}");
        assert_eq!(outcome["width"], 1280, "{outcome}");
        assert_eq!(outcome["height"], 720, "{outcome}");
        // The demo has 300 frames; a player may drop a few, never most.
        assert!(outcome["frames"].as_u64().unwrap_or(0) >= 290, "{outcome}");
    }
    assert!(output.status.success(), "{printed}");
}
