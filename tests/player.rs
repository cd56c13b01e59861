//! The demo movies played in a real browser: headless Chromium with hls.js for `play` HLS,
//! dash.js for `play` DASH, and the browser's own player for the `get` and `play` MP4
//! streams, each from start to end with no player error; the footage demo (pictures
//! from a clip, a music bed as a separate sound rendition) in HLS and DASH too. `scripts/test` installs
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
    let token = |movie: &'static str| {
        let (client, url) = (client.clone(), server.url("/v2/token/demo"));
        async move {
            let response = client
                .post(url)
                .body(json!({"movie": movie, "params": {"name": "Alex"}}).to_string())
                .send()
                .await
                .expect("token");
            let body: Value =
                serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
            body["token"].as_str().expect("token").to_owned()
        }
    };
    let (welcome, footage) = (token("welcome-video").await, token("footage-video").await);

    // The kind of player, the stream, and the frames of its movie.
    let streams = [
        ("hls", format!("/v2/play/{welcome}.m3u8"), 300),
        ("dash", format!("/v2/play/{welcome}.mpd"), 300),
        ("file", format!("/v2/get/{welcome}.mp4"), 300),
        ("file", format!("/v2/play/{welcome}.mp4"), 300),
        ("hls", format!("/v2/play/{footage}.m3u8"), 360),
        ("dash", format!("/v2/play/{footage}.mpd"), 360),
    ];
    let mut command = Command::new("node");
    command
        .arg(player.join("play.mjs"))
        .env("CHROMIUM", &chromium);
    for (kind, path, _) in &streams {
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
    for (outcome, (_, _, frames)) in outcomes.iter().zip(&streams) {
        assert_eq!(outcome["ok"], true, "{outcome}");
        assert_eq!(outcome["width"], 1280, "{outcome}");
        assert_eq!(outcome["height"], 720, "{outcome}");
        // A player may drop a few frames, never many.
        assert!(
            outcome["frames"].as_u64().unwrap_or(0) >= frames - 10,
            "{outcome}"
        );
    }
    assert!(output.status.success(), "{printed}");
}
