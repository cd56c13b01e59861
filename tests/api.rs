//! The Render API over real HTTP: `framecast serve` started as a child process on port 0,
//! a real client, and ffprobe on what comes back.

mod common;

use std::path::Path;
use std::time::Duration;

use common::ffprobe_json;
use common::server::{test_dir, Server};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// A 1-second 160x90 movie that reads `name`, and a shorter one for maps of movies.
use common::SHORT_MOVIE as SHORT;
const TINY: &str = r##"{
    "canvas": {"width": 64, "height": 48, "fps": 10, "background": "#000000"},
    "scenes": [{"duration": 0.5, "layers": [{"type": "solid", "color": "#3366ff"}]}]
}"##;

impl Server {
    fn start(name: &str) -> Self {
        Self::start_with(name, &[])
    }

    /// A server on a fresh data folder and a project `test` with both movies.
    fn start_with(name: &str, extra: &[&str]) -> Self {
        Self::with_movies(name, &[("short", SHORT), ("tiny", TINY)], extra)
    }
}

async fn post(client: &Client, url: &str, body: Value) -> (StatusCode, Value) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    read_json(response).await
}

async fn get_json(client: &Client, url: &str) -> (StatusCode, Value) {
    read_json(client.get(url).send().await.expect("request")).await
}

async fn read_json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
    (status, value)
}

fn frames_of(probe: &Value) -> u64 {
    probe["streams"][0]["nb_read_frames"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default()
}

fn save(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path.to_string_lossy().into_owned()
}

/// Sends `request` as it stands and reads until the server closes or goes quiet.
fn raw_request(base: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(read @ 1..) = stream.read(&mut chunk) {
        answer.extend_from_slice(&chunk[..read]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, message: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    assert!(body["error"].is_string(), "{body}");
    let text = body["message"].as_str().unwrap_or_default();
    assert!(text.contains(message), "expected {message:?} in {text:?}");
}

#[tokio::test]
async fn sync_render_answers_a_url_that_serves_ranges_and_validators() {
    let server = Server::start("sync");
    let client = Client::new();
    let (status, body) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({"movie": "short", "params": {"name": "Zoë"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().expect("token");
    assert!(
        token.starts_with("v2:local:") && token.len() == 41,
        "{token}"
    );
    assert_eq!(body["status"], 200);
    assert!(body["expires"].as_i64().expect("expires") > 1_700_000_000);
    let url = body["url"].as_str().expect("url");
    assert_eq!(url, server.url(&format!("/v2/render/{token}.mp4")));

    let response = client.get(url).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "video/mp4");
    assert_eq!(headers["accept-ranges"], "bytes");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(headers["cache-control"]
        .to_str()
        .expect("ascii")
        .contains("immutable"));
    let etag = headers["etag"].to_str().expect("etag").to_owned();
    assert!(etag.starts_with("\"b3-"), "{etag}");
    let bytes = response.bytes().await.expect("body");
    let dir = test_dir("sync-files");
    let probe = ffprobe_json(save(&dir, "out.mp4", &bytes));
    assert_eq!(probe["streams"][0]["codec_name"], "h264");
    assert_eq!(frames_of(&probe), 30);

    // A range, a range under a stale If-Range, a 304, HEAD and 416.
    let partial = client
        .get(url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(partial.status(), StatusCode::PARTIAL_CONTENT);
    let total = bytes.len();
    assert_eq!(
        partial.headers()["content-range"],
        format!("bytes 100-199/{total}").as_str()
    );
    assert_eq!(&partial.bytes().await.expect("body")[..], &bytes[100..200]);
    let stale = client
        .get(url)
        .header("range", "bytes=0-9")
        .header("if-range", "\"b3-other\"")
        .send()
        .await
        .expect("if-range");
    assert_eq!(stale.status(), StatusCode::OK);
    let cached = client
        .get(url)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("304");
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    let head = client.head(url).send().await.expect("head");
    assert_eq!(head.headers()["content-length"], total.to_string().as_str());
    assert!(head.bytes().await.expect("empty").is_empty());
    let beyond = client
        .get(url)
        .header("range", format!("bytes={total}-"))
        .send()
        .await
        .expect("416");
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Percent-encoded colons reach the same bytes; the token survives another request.
    let encoded = url.replace(token, &token.replace(':', "%3A"));
    let again = client.get(&encoded).send().await.expect("encoded");
    assert_eq!(again.headers()["etag"].to_str().expect("etag"), etag);
}

#[tokio::test]
async fn async_render_reports_progress_that_never_decreases() {
    let server = Server::start("async");
    let client = Client::new();
    let (status, body) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({"movie": "short", "async": true, "format": "webm"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for field in ["token", "url", "expires", "status"] {
        assert!(
            !body[field].is_null(),
            "async answers carry {field}: {body}"
        );
    }
    assert!(body["url"].as_str().expect("url").ends_with(".webm"));
    let token = body["token"].as_str().expect("token");
    let mut last = 0;
    loop {
        let (status, progress) =
            get_json(&client, &server.url(&format!("/v2/progress/{token}"))).await;
        assert_eq!(status, StatusCode::OK);
        let (done, total) = (
            progress["done"].as_u64().expect("done"),
            progress["total"].as_u64().expect("total"),
        );
        assert_eq!(total, 30);
        assert!(done >= last, "progress went from {last} to {done}");
        last = done;
        if done >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let bytes = client
        .get(body["url"].as_str().expect("url"))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    let probe = ffprobe_json(save(&test_dir("async-files"), "out.webm", &bytes));
    assert_eq!(probe["streams"][0]["codec_name"], "vp9");
}

#[tokio::test]
async fn a_token_alone_renders_on_first_retrieval() {
    let server = Server::start("token");
    let client = Client::new();
    let (status, body) = post(
        &client,
        &server.url("/v2/token/test"),
        json!({"movie": {"mp4": "short", "gif": "tiny"}, "params": {"name": "Ann"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], 200);
    let token = body["token"].as_str().expect("token");
    let progress_url = server.url(&format!("/v2/progress/{token}"));
    let (_, progress) = get_json(&client, &progress_url).await;
    assert_eq!(
        (progress["done"].as_u64(), progress["total"].as_u64()),
        (Some(0), Some(30))
    );

    // The extension picks the movie; an unmapped one is a 400 that lists the mapped ones.
    let gif = client
        .get(server.url(&format!("/v2/render/{token}.gif")))
        .send()
        .await
        .expect("gif");
    assert_eq!(gif.headers()["content-type"], "image/gif");
    let probe = ffprobe_json(save(
        &test_dir("token-files"),
        "tiny.gif",
        &gif.bytes().await.expect("gif"),
    ));
    assert_eq!(
        (probe["streams"][0]["width"].as_u64(), frames_of(&probe)),
        (Some(64), 5)
    );
    let (status, error) = get_json(&client, &server.url(&format!("/v2/render/{token}.webm"))).await;
    assert_error(status, &error, StatusCode::BAD_REQUEST, "mapped: gif, mp4");

    let mp4 = client
        .get(body["url"].as_str().expect("url"))
        .send()
        .await
        .expect("mp4");
    assert_eq!(mp4.status(), StatusCode::OK);
    let (_, progress) = get_json(&client, &progress_url).await;
    assert_eq!(progress["done"], progress["total"]);
}

#[tokio::test]
async fn every_extension_is_served_in_render_mode() {
    let server = Server::start("formats");
    let client = Client::new();
    let (_, body) = post(
        &client,
        &server.url("/v2/token/test"),
        json!({"movie": "short"}),
    )
    .await;
    let token = body["token"].as_str().expect("token").to_owned();
    let dir = test_dir("formats-files");
    for (extension, codec) in [
        ("mp4", "h264"),
        ("flv", "h264"),
        ("webm", "vp9"),
        ("mpeg", "mpeg2video"),
        ("wmv", "wmv2"),
        ("mov", "prores"),
        ("gif", "gif"),
    ] {
        let response = client
            .get(server.url(&format!("/v2/render/{token}.{extension}")))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), StatusCode::OK, "{extension}");
        let bytes = response.bytes().await.expect("body");
        let probe = ffprobe_json(save(&dir, &format!("out.{extension}"), &bytes));
        assert_eq!(probe["streams"][0]["codec_name"], codec, "{extension}");
        assert_eq!(frames_of(&probe), 30, "{extension}");
    }
    // HLS and DASH over HTTP: ffprobe follows the playlists to every segment.
    for extension in ["m3u8", "mpd"] {
        let probe = ffprobe_json(server.url(&format!("/v2/render/{token}.{extension}")));
        assert_eq!(frames_of(&probe), 30, "{extension}");
    }
    for (query, content_type) in [
        ("jpg?frame=3&q=50", "image/jpeg"),
        ("png?frame=29&compression=9", "image/png"),
        ("tif", "image/tiff"),
        ("zip?from=0&to=4&format=jpg", "application/zip"),
    ] {
        let response = client
            .get(server.url(&format!("/v2/render/{token}.{query}")))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        assert_eq!(response.headers()["content-type"], content_type, "{query}");
    }
    let (status, error) = get_json(
        &client,
        &server.url(&format!("/v2/render/{token}.png?frame=30")),
    )
    .await;
    assert_error(
        status,
        &error,
        StatusCode::BAD_REQUEST,
        "frame: expected a frame from 0 to 29",
    );
}

#[tokio::test]
async fn v1_renders_from_the_query_and_repeats_byte_for_byte() {
    let server = Server::start("v1");
    let client = Client::new();
    let url = server.url("/v1/render/test/short.mp4?name=Bob&size=30");
    let first = client.get(&url).send().await.expect("v1");
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].clone();
    let bytes = first.bytes().await.expect("body");
    let second = client.get(&url).send().await.expect("again");
    assert_eq!(second.headers()["etag"], etag);
    assert_eq!(second.bytes().await.expect("body"), bytes);
    let other = client
        .get(server.url("/v1/render/test/short.mp4?name=Cy"))
        .send()
        .await
        .expect("other");
    assert_ne!(other.headers()["etag"], etag);

    let still = client
        .get(server.url("/v1/render/test/short.png?name=Bob&frame=5"))
        .send()
        .await
        .expect("still");
    assert_eq!(still.headers()["content-type"], "image/png");

    let cases = [
        (
            "/v1/render/test/short.mp4?size=99",
            StatusCode::BAD_REQUEST,
            "param `size`",
        ),
        (
            "/v1/render/test/short.mp4?name=aaaaaaaaaaaaaaaaaaaaaaaaa",
            StatusCode::BAD_REQUEST,
            "param `name`",
        ),
        (
            "/v1/render/test/nope.mp4",
            StatusCode::NOT_FOUND,
            "movie \"nope\" not found",
        ),
        (
            "/v1/render/nope/short.mp4",
            StatusCode::NOT_FOUND,
            "not found",
        ),
        (
            "/v1/render/test/short.avi",
            StatusCode::BAD_REQUEST,
            "unknown output extension",
        ),
        (
            "/v1/render/test/short.jpg?q=5",
            StatusCode::BAD_REQUEST,
            "q: expected",
        ),
    ];
    for (path, expected, message) in cases {
        let (status, body) = get_json(&client, &server.url(path)).await;
        assert_error(status, &body, expected, message);
    }
}

#[tokio::test]
async fn bad_requests_get_json_errors_with_the_right_status() {
    let server = Server::start("errors");
    let client = Client::new();
    let render = server.url("/v2/render/test");

    let cases = [
        (json!({}), StatusCode::BAD_REQUEST, "movie: required"),
        (
            json!({"movie": "short", "params": {"name": 5}}),
            StatusCode::BAD_REQUEST,
            "param `name`",
        ),
        (
            json!({"movie": "short", "parallel": 0}),
            StatusCode::BAD_REQUEST,
            "parallel:",
        ),
        (
            json!({"movie": "nope"}),
            StatusCode::NOT_FOUND,
            "movie \"nope\" not found",
        ),
        (
            json!({"movie": "short", "upload": {"extension": "mp4", "destination": {"type": "ftp"}}}),
            StatusCode::BAD_REQUEST,
            "upload.destination.type",
        ),
    ];
    for (body, expected, message) in cases {
        let (status, answer) = post(&client, &render, body).await;
        assert_error(status, &answer, expected, message);
    }
    let (status, answer) = post(
        &client,
        &server.url("/v2/render/nope"),
        json!({"movie": "short"}),
    )
    .await;
    assert_error(
        status,
        &answer,
        StatusCode::NOT_FOUND,
        "project \"nope\" not found",
    );

    let response = client
        .post(&render)
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Refused from the declared length, before the body is read.
    let head = raw_request(
        &server.base,
        "POST /v2/render/test HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n{",
    );
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("\"error\":\"body_too_large\""), "{head}");

    let (status, answer) = get_json(&client, &server.url("/nothing/here")).await;
    assert_error(status, &answer, StatusCode::NOT_FOUND, "no such endpoint");
    let response = client.get(&render).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let response = client
        .put(server.url("/v2/progress/x"))
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET");
    assert_eq!(response.headers()["cache-control"], "no-store");

    let long = server.url(&format!(
        "/v1/render/test/short.mp4?name={}",
        "a".repeat(10_000)
    ));
    let response = client.get(long).send().await.expect("long");
    assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
    let response = client
        .get(server.url("/healthz"))
        .header("x-padding", "a".repeat(40_000))
        .send()
        .await
        .expect("big header");
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );

    let foreign = "v2:eu-west-1:0123456789abcdef0123456789abcdef";
    let (status, answer) = get_json(&client, &server.url(&format!("/v2/progress/{foreign}"))).await;
    assert_error(
        status,
        &answer,
        StatusCode::NOT_FOUND,
        "belongs to region \"eu-west-1\"",
    );
    let (status, answer) = get_json(&client, &server.url("/v2/render/v2:local:zz.mp4")).await;
    assert_error(status, &answer, StatusCode::NOT_FOUND, "not found");

    let preflight = client
        .request(reqwest::Method::OPTIONS, &render)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .expect("ascii");
    assert!(methods.contains("POST"), "{methods}");

    let (status, health) = get_json(&client, &server.url("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["formats"]["webm"], true);
}

#[tokio::test]
async fn delete_removes_the_token_and_its_files() {
    let server = Server::start("delete");
    let client = Client::new();
    let (_, body) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({"movie": "tiny"}),
    )
    .await;
    let token = body["token"].as_str().expect("token");
    let id = token.rsplit(':').next().expect("id");
    let folder = server.data.join("outputs").join(id);
    assert!(folder.is_dir(), "outputs are on disk");

    let response = client
        .delete(server.url(&format!("/v2/token/{token}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!folder.exists(), "deleting removes the files");
    for path in [
        format!("/v2/render/{token}.mp4"),
        format!("/v2/progress/{token}"),
    ] {
        let (status, answer) = get_json(&client, &server.url(&path)).await;
        assert_error(status, &answer, StatusCode::NOT_FOUND, "not found");
    }
    let again = client
        .delete(server.url(&format!("/v2/token/{token}")))
        .send()
        .await
        .expect("delete again");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tokens_and_outputs_survive_a_restart() {
    let server = Server::start("restart");
    let client = Client::new();
    let (_, body) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({"movie": "short", "params": {"name": "Eve"}}),
    )
    .await;
    let token = body["token"].as_str().expect("token").to_owned();
    let before = client
        .get(body["url"].as_str().expect("url"))
        .send()
        .await
        .expect("get");
    let etag = before.headers()["etag"].clone();
    let (_, waiting) = post(
        &client,
        &server.url("/v2/token/test"),
        json!({"movie": "short"}),
    )
    .await;

    let (data, projects) = server.stop();
    let server = Server::start_on(data, projects, &[]);
    let path = format!("/v2/render/{token}.mp4");
    let after = client.get(server.url(&path)).send().await.expect("get");
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(after.headers()["etag"], etag);
    let (_, progress) = get_json(&client, &server.url(&format!("/v2/progress/{token}"))).await;
    assert_eq!(progress["done"], 30);
    // A token made before the restart and never rendered still renders.
    let waiting = waiting["token"].as_str().expect("token");
    let late = client
        .get(server.url(&format!("/v2/render/{waiting}.mp4")))
        .send()
        .await
        .expect("get");
    assert_eq!(late.status(), StatusCode::OK);
}

#[tokio::test]
async fn tiers_bound_concurrent_renders_keys_raise_them_and_metrics_count() {
    let config = test_dir("tiers-config").join("framecast.toml");
    std::fs::write(
        &config,
        r#"
[server]
token_lifetime_seconds = 2
[server.tiers.anonymous]
concurrent_renders = 1
[server.tiers.pro]
concurrent_renders = 4
[server.keys]
"key-for-tests" = "pro"
[server.regions]
eu-west-1 = "https://render-eu.example"
"#,
    )
    .expect("config");
    let server = Server::start_with("tiers", &["--config", config.to_str().expect("path")]);
    let client = Client::new();
    let render = server.url("/v2/render/test");

    let body = json!({"movie": "short", "async": true, "format": "mov"});
    let (status, first) = post(&client, &render, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let response = client
        .post(&render)
        .body(body.to_string())
        .send()
        .await
        .expect("second");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let keyed = client
        .post(&render)
        .bearer_auth("key-for-tests")
        .body(body.to_string())
        .send()
        .await
        .expect("keyed");
    assert_eq!(keyed.status(), StatusCode::OK);
    let unknown = client
        .post(&render)
        .bearer_auth("nope")
        .body(body.to_string())
        .send()
        .await
        .expect("unknown key");
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);

    // Another region's token is redirected to its configured base URL.
    let foreign = "v2:eu-west-1:0123456789abcdef0123456789abcdef";
    let no_redirects = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let moved = no_redirects
        .get(server.url(&format!("/v2/render/{foreign}.mp4?frame=1")))
        .send()
        .await
        .expect("redirect");
    assert_eq!(moved.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        moved.headers()["location"],
        format!("https://render-eu.example/v2/render/{foreign}.mp4?frame=1").as_str()
    );

    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("framecast_requests_total{route=\"v2_render\",status=\"429\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE framecast_renders_in_flight gauge"),
        "{metrics}"
    );

    // Tokens expire after the configured lifetime.
    let token = first["token"].as_str().expect("token");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, answer) = get_json(&client, &server.url(&format!("/v2/progress/{token}"))).await;
    assert_error(status, &answer, StatusCode::NOT_FOUND, "expired");
}

#[tokio::test]
async fn formats_without_their_encoder_answer_503_and_the_rest_work() {
    let server = Server::start_with("no-ffmpeg", &["--ffmpeg", "/nonexistent/ffmpeg"]);
    let client = Client::new();
    let (_, health) = get_json(&client, &server.url("/healthz")).await;
    assert_eq!(
        (
            health["formats"]["webm"].as_bool(),
            health["formats"]["mp4"].as_bool()
        ),
        (Some(false), Some(true))
    );
    assert!(health["ffmpeg"].is_null());

    let (status, answer) = get_json(&client, &server.url("/v1/render/test/tiny.webm")).await;
    assert_error(
        status,
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "apt-get install ffmpeg",
    );
    let mp4 = client
        .get(server.url("/v1/render/test/tiny.mp4"))
        .send()
        .await
        .expect("mp4");
    assert_eq!(mp4.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_requests_share_one_render_and_playlists_report_progress() {
    let server = Server::start("single-flight");
    let client = Client::new();
    let (_, body) = post(
        &client,
        &server.url("/v2/token/test"),
        json!({"movie": "short"}),
    )
    .await;
    let token = body["token"].as_str().expect("token").to_owned();

    // More waiters than the anonymous tier's four render slots: waiting is not rendering.
    let url = server.url(&format!("/v2/render/{token}.flv"));
    let requests = (0..8).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            let response = client.get(&url).send().await.expect("get");
            (response.status(), response.headers()["etag"].clone())
        })
    });
    let answers = futures::future::join_all(requests).await;
    let first = answers[0].as_ref().expect("task").1.clone();
    for answer in answers {
        let (status, etag) = answer.expect("task");
        assert_eq!((status, &etag), (StatusCode::OK, &first));
    }
    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("framecast_output_misses_total 1\n"),
        "{metrics}"
    );

    // An HLS token's progress reaches its total like any other.
    let (_, body) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({"movie": "short", "format": "m3u8", "async": true}),
    )
    .await;
    let progress_url = server.url(&format!(
        "/v2/progress/{}",
        body["token"].as_str().expect("token")
    ));
    for _ in 0..200 {
        let (_, progress) = get_json(&client, &progress_url).await;
        if progress["done"] == progress["total"] {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the HLS render never reported completion");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_one_to_end() {
    let config = test_dir("connections-config").join("framecast.toml");
    std::fs::write(&config, "[server]\nmax_connections = 1\n").expect("config");
    let server = Server::start_with("connections", &["--config", config.to_str().expect("path")]);
    let address = server.base.trim_start_matches("http://").to_owned();

    // One idle connection holds the only slot.
    let holder = std::net::TcpStream::connect(&address).expect("connect");
    std::thread::sleep(Duration::from_millis(100));
    let waiting = tokio::spawn({
        let url = server.url("/healthz");
        async move { Client::new().get(url).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a second connection was served beyond the cap"
    );
    drop(holder);
    let status = waiting
        .await
        .expect("task")
        .expect("answered once the slot is free");
    assert_eq!(status, StatusCode::OK);
}
