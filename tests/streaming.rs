//! Streaming delivery over real HTTP: `play` playlists answered from the segment plan and
//! segments rendered on request, `get` streams sent while they render, the shared segment
//! cache, and what happens when readers pause, leave, or a render fails mid-stream.

mod common;

use std::time::{Duration, Instant};

use common::ffprobe_json;
use common::server::{test_dir, Server};
use framecast::movie::{self, Params, Timeline};
use framecast::segment::{SegmentPlan, SegmentSettings};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// 4 s at 160x90: an intro without params, a scene that shows `name`, an outro without.
/// Its segments (0.5, 1, 2 and 0.5 s) show the name in the third only.
const SHARED: &str = r##"{
    "canvas": {"width": 160, "height": 90, "fps": 30, "background": "#102030"},
    "variables": {"name": {"type": "text", "default": "friend", "max_length": 20}},
    "scenes": [
        {"duration": 1.5, "layers": [
            {"type": "shape", "shape": "ellipse", "x": 10, "y": 10, "width": 40, "height": 40, "fill": "#ffaa00",
             "animate": {"x": [{"t": 0, "value": 0}, {"t": 1.5, "value": 110}]}}]},
        {"duration": 1, "layers": [
            {"type": "text", "text": "Hi {name}", "font": {"size": 20}, "x": 10, "y": 40}]},
        {"duration": 1.5, "layers": [
            {"type": "shape", "shape": "ellipse", "x": 100, "y": 30, "width": 30, "height": 30, "fill": "#33ccff",
             "animate": {"y": [{"t": 0, "value": 10}, {"t": 1.5, "value": 50}]}}]}
    ]
}"##;

/// 30 s at 640x360: long enough that a stream outlasts socket buffers.
const LONG: &str = r##"{
    "canvas": {"width": 640, "height": 360, "fps": 30, "background": "#000000"},
    "variables": {"name": {"type": "text", "default": "friend", "max_length": 20}},
    "scenes": [{"duration": 30, "layers": [
        {"type": "gradient", "gradient": {"type": "linear", "angle": 35, "stops": [
            {"offset": 0, "color": "#1b1f4a"}, {"offset": 0.5, "color": "#8a3050"}, {"offset": 1, "color": "#f0c040"}]}},
        {"type": "shape", "shape": "ellipse", "x": 0, "y": 100, "width": 120, "height": 120, "fill": "#ffffff",
         "opacity": 0.6, "animate": {"x": [{"t": 0, "value": 0}, {"t": 30, "value": 520}]}},
        {"type": "text", "text": "Hello, {name}!", "font": {"size": 40}, "color": "#ffffff", "x": 40, "y": 40,
         "animate": {"y": [{"t": 0, "value": 20}, {"t": 30, "value": 300}]}}
    ]}]
}"##;

fn start(name: &str, extra: &[&str]) -> Server {
    Server::with_movies(name, &[("shared", SHARED), ("long", LONG)], extra)
}

async fn token(client: &Client, server: &Server, movie: &str, name: &str) -> String {
    let response = client
        .post(server.url("/v2/token/test"))
        .body(json!({"movie": movie, "params": {"name": name}}).to_string())
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
    body["token"].as_str().expect("token").to_owned()
}

fn id_of(token: &str) -> &str {
    token.rsplit(':').next().expect("id")
}

async fn fetch(client: &Client, url: &str) -> reqwest::Response {
    let response = client.get(url).send().await.expect("request");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response
}

async fn bytes(client: &Client, url: &str) -> Vec<u8> {
    fetch(client, url)
        .await
        .bytes()
        .await
        .expect("body")
        .to_vec()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The segment plan of a test movie, as the server makes it.
fn plan_of(json: &str, name: &str) -> SegmentPlan {
    let movie = movie::parse(json, "test.json").expect("movie");
    let params = Params::from_strings(&movie, [("name", name)]).expect("params");
    SegmentPlan::new(&Timeline::new(&movie, params), SegmentSettings::default())
}

fn frames_of(probe: &Value) -> u64 {
    probe["streams"][0]["nb_read_frames"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default()
}

fn probe_bytes(name: &str, bytes: &[u8]) -> Value {
    let path = test_dir(&format!("probe-{name}")).join(name);
    std::fs::write(&path, bytes).expect("write");
    ffprobe_json(&path)
}

#[tokio::test]
async fn play_answers_playlists_from_the_plan_and_renders_segments_on_request() {
    let server = start("play", &[]);
    let client = Client::new();
    let token = token(&client, &server, "shared", "Ann").await;
    let plan = plan_of(SHARED, "Ann");

    let master = fetch(&client, &server.url(&format!("/v2/play/{token}.m3u8"))).await;
    assert!(header(&master, "cache-control").contains("immutable"));
    let master = master.text().await.expect("text");
    for field in [
        "CODECS=\"avc1.",
        "RESOLUTION=160x90",
        "BANDWIDTH=",
        "FRAME-RATE=30",
    ] {
        assert!(master.contains(field), "{field} in {master}");
    }
    let media_uri = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .expect("media uri");
    // A relative reference that begins with `v2:` would be read as a URL scheme.
    assert!(!media_uri.contains(':'), "{media_uri}");
    assert_eq!(media_uri, format!("{}.m3u8/video.m3u8", id_of(&token)));

    let base = server.url(&format!("/v2/play/{}.m3u8/", id_of(&token)));
    let media =
        String::from_utf8(bytes(&client, &format!("{base}video.m3u8")).await).expect("utf-8");
    assert!(media.contains("#EXT-X-MAP:URI=\"init.mp4\""), "{media}");
    assert!(media.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{media}");
    assert!(media.contains("#EXT-X-ENDLIST"), "{media}");
    let durations: Vec<f64> = media
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse().expect("duration"))
        .collect();
    assert_eq!(durations, [0.5, 1.0, 2.0, 0.5]);
    assert_eq!(durations.len(), plan.segments.len());

    // Every segment alone after the init segment decodes to its frames; so does the whole.
    let init = bytes(&client, &format!("{base}init.mp4")).await;
    let mut whole = init.clone();
    for segment in &plan.segments {
        let url = format!("{base}segment-{}.m4s", segment.index);
        let response = fetch(&client, &url).await;
        assert!(header(&response, "cache-control").contains("immutable"));
        let etag = header(&response, "etag");
        let body = response.bytes().await.expect("segment");
        let alone = probe_bytes(
            &format!("alone-{}.mp4", segment.index),
            &[&init[..], &body[..]].concat(),
        );
        assert_eq!(alone["streams"][0]["codec_name"], "h264");
        assert_eq!(frames_of(&alone), segment.frames.end - segment.frames.start);
        // Asked again: the same bytes and tag, and 304 when the tag matches.
        assert_eq!(bytes(&client, &url).await, body.to_vec());
        let again = client
            .get(&url)
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("conditional");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        whole.extend_from_slice(&body);
    }
    let probe = probe_bytes("whole.mp4", &whole);
    assert_eq!(frames_of(&probe), 120);
    let range = client
        .get(format!("{base}segment-1.m4s"))
        .header("range", "bytes=0-9")
        .send()
        .await
        .expect("range");
    assert_eq!(range.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.bytes().await.expect("range body").len(), 10);

    // DASH names the same segments under its own prefix; the bytes are the same.
    let mpd =
        String::from_utf8(bytes(&client, &server.url(&format!("/v2/play/{token}.mpd"))).await)
            .expect("utf-8");
    assert!(mpd.contains("type=\"static\""), "{mpd}");
    let prefix = format!("{}.mpd/", id_of(&token));
    assert!(
        mpd.contains(&format!("media=\"{prefix}segment-$Number$.m4s\"")),
        "{mpd}"
    );
    let dash_base = server.url(&format!("/v2/play/{prefix}"));
    assert_eq!(bytes(&client, &format!("{dash_base}init.mp4")).await, init);
    assert_eq!(
        bytes(&client, &format!("{dash_base}segment-2.m4s")).await,
        bytes(&client, &format!("{base}segment-2.m4s")).await
    );

    // What a stream does not have is a 404 with a JSON body; formats play cannot start
    // before their end are a 400 that says which modes serve them.
    for missing in ["segment-4.m4s", "segment-01.m4s", "other.txt"] {
        let response = client
            .get(format!("{base}{missing}"))
            .send()
            .await
            .expect("missing");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(header(&response, "cache-control"), "no-store");
    }
    let gif = client
        .get(server.url(&format!("/v2/play/{token}.gif")))
        .send()
        .await
        .expect("gif");
    assert_eq!(gif.status(), StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(&gif.bytes().await.expect("body")).expect("json");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("render and get"),
        "{body}"
    );
}

#[tokio::test]
async fn two_hundred_requests_for_one_cold_segment_cause_one_render() {
    let server = start("stampede", &[]);
    let client = Client::new();
    let token = token(&client, &server, "shared", "Ann").await;
    // The last segment: nothing after it is prefetched.
    let url = server.url(&format!("/v2/play/{}.m3u8/segment-3.m4s", id_of(&token)));
    let before = server
        .metric(&client, "framecast_segments_rendered_total")
        .await;
    let requests = (0..200).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            let response = client.get(&url).send().await.expect("request");
            assert_eq!(response.status(), StatusCode::OK);
            let etag = header(&response, "etag");
            (etag, response.bytes().await.expect("body"))
        })
    });
    let answers = futures::future::join_all(requests).await;
    let first = answers[0].as_ref().expect("task");
    for answer in &answers {
        assert_eq!(answer.as_ref().expect("task"), first);
    }
    let after = server
        .metric(&client, "framecast_segments_rendered_total")
        .await;
    assert_eq!(after - before, 1, "one render for 200 requests");
}

#[tokio::test]
async fn tokens_that_differ_only_in_name_share_the_segments_that_do_not_show_it() {
    let server = start("sharing", &[]);
    let client = Client::new();
    let plan = plan_of(SHARED, "Ann");
    let showing_name = plan
        .segments
        .iter()
        .filter(|s| s.reads.contains("name"))
        .count() as u64;
    assert!(showing_name > 0 && showing_name < plan.segments.len() as u64);

    let rendered = || server.metric(&client, "framecast_segments_rendered_total");
    let mut streams = Vec::new();
    for name in ["Ann", "Bob"] {
        let token = token(&client, &server, "shared", name).await;
        let before = rendered().await;
        let base = server.url(&format!("/v2/play/{}.m3u8/", id_of(&token)));
        let mut segments = Vec::new();
        for segment in &plan.segments {
            segments.push(bytes(&client, &format!("{base}segment-{}.m4s", segment.index)).await);
        }
        // Prefetches of the segments just asked for may still be settling.
        tokio::time::sleep(Duration::from_millis(300)).await;
        streams.push((rendered().await - before, segments));
    }
    let (first_renders, ann) = &streams[0];
    let (second_renders, bob) = &streams[1];
    assert_eq!(*first_renders, plan.segments.len() as u64);
    assert_eq!(
        *second_renders, showing_name,
        "only segments showing the name render again"
    );
    for (segment, (a, b)) in plan.segments.iter().zip(ann.iter().zip(bob)) {
        assert_eq!(
            a == b,
            !segment.reads.contains("name"),
            "segment {}",
            segment.index
        );
    }
}

#[tokio::test]
async fn get_streams_before_the_render_ends_then_serves_the_kept_file() {
    let server = start("get", &[]);
    let client = Client::new();
    let token = token(&client, &server, "long", "Ann").await;
    let url = server.url(&format!("/v2/get/{token}.mp4"));

    let started = Instant::now();
    let mut response = fetch(&client, &url).await;
    assert_eq!(
        header(&response, "content-length"),
        "",
        "a stream has no length"
    );
    let mut body = response
        .chunk()
        .await
        .expect("chunk")
        .expect("first chunk")
        .to_vec();
    let first_byte = started.elapsed();
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        body.extend_from_slice(&chunk);
    }
    let whole = started.elapsed();
    assert!(
        first_byte * 4 < whole,
        "first byte after {first_byte:?} of {whole:?}"
    );
    let probe = probe_bytes("get.mp4", &body);
    assert_eq!(probe["streams"][0]["codec_name"], "h264");
    assert_eq!(frames_of(&probe), 900);

    // Once whole, the same URL serves the kept file: length, tag and ranges.
    let kept = fetch(&client, &url).await;
    assert_eq!(header(&kept, "content-length"), body.len().to_string());
    assert!(header(&kept, "etag").starts_with("\"b3-"));
    assert_eq!(kept.bytes().await.expect("kept").to_vec(), body);
    let range = client
        .get(&url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(range.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.bytes().await.expect("range").to_vec(), body[100..200]);

    // Every other streamed format decodes to all its frames.
    let short = token_for_shared(&client, &server).await;
    for (extension, codec) in [
        ("flv", "h264"),
        ("webm", "vp9"),
        ("mpeg", "mpeg2video"),
        ("gif", "gif"),
    ] {
        let body = bytes(
            &client,
            &server.url(&format!("/v2/get/{short}.{extension}")),
        )
        .await;
        let probe = probe_bytes(&format!("get.{extension}"), &body);
        assert_eq!(probe["streams"][0]["codec_name"], codec, "{extension}");
        assert_eq!(frames_of(&probe), 120, "{extension}");
    }
    let zip = bytes(
        &client,
        &server.url(&format!("/v2/get/{short}.zip?from=3&to=12")),
    )
    .await;
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("zip");
    assert_eq!(archive.len(), 10);
}

async fn token_for_shared(client: &Client, server: &Server) -> String {
    token(client, server, "shared", "Ann").await
}

#[tokio::test]
async fn a_growing_get_playlist_lists_segments_as_they_finish() {
    // A segment cache too small to keep anything: the playlist still grows to its end,
    // and a listed segment is rendered again when asked for.
    let config = test_dir("growing-config").join("framecast.toml");
    std::fs::write(&config, "[server]\nsegment_cache_bytes = 1\n").expect("config");
    let server = start("growing", &["--config", config.to_str().expect("path")]);
    let client = Client::new();
    let token = token(&client, &server, "long", "Ann").await;
    let master =
        String::from_utf8(bytes(&client, &server.url(&format!("/v2/get/{token}.m3u8"))).await)
            .expect("utf-8");
    assert!(master.contains(&format!("{}.m3u8/video.m3u8", id_of(&token))));
    let media_url = server.url(&format!("/v2/get/{}.m3u8/video.m3u8", id_of(&token)));
    let first = fetch(&client, &media_url).await;
    assert_eq!(header(&first, "cache-control"), "public, max-age=1");
    let first = first.text().await.expect("text");
    assert!(first.contains("#EXT-X-PLAYLIST-TYPE:EVENT"), "{first}");
    assert!(!first.contains("#EXT-X-ENDLIST"), "{first}");
    let total = plan_of(LONG, "Ann").segments.len();
    let listed = |text: &str| text.matches("#EXTINF:").count();
    assert!(listed(&first) < total);

    let deadline = Instant::now() + Duration::from_secs(120);
    let last = loop {
        let text = fetch(&client, &media_url).await.text().await.expect("text");
        assert!(
            listed(&text) >= listed(&first),
            "a growing playlist never shrinks"
        );
        if text.contains("#EXT-X-ENDLIST") {
            break text;
        }
        assert!(Instant::now() < deadline, "the playlist never completed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(listed(&last), total);
    assert!(
        last.contains("#EXT-X-PLAYLIST-TYPE:EVENT"),
        "the type never changes"
    );
    let first_segment = server.url(&format!("/v2/get/{}.m3u8/segment-0.m4s", id_of(&token)));
    assert!(!bytes(&client, &first_segment).await.is_empty());
}

#[tokio::test]
async fn a_growing_get_playlist_counts_against_the_tier_while_it_renders() {
    let config = test_dir("growing-tier-config").join("framecast.toml");
    std::fs::write(
        &config,
        "[server.tiers.anonymous]\nconcurrent_renders = 1\n",
    )
    .expect("config");
    let server = start(
        "growing-tier",
        &["--config", config.to_str().expect("path")],
    );
    let client = Client::new();
    let first = token(&client, &server, "long", "Ann").await;
    let second = token(&client, &server, "long", "Bob").await;

    let answer = fetch(&client, &server.url(&format!("/v2/get/{first}.m3u8"))).await;
    assert_eq!(answer.status(), StatusCode::OK);

    // The first playlist's render holds the anonymous tier's one slot: a second growing
    // playlist is refused, and a HEAD of it starts nothing and is not refused.
    let media = server.url(&format!("/v2/get/{}.m3u8/video.m3u8", id_of(&second)));
    let head = client.head(&media).send().await.expect("head");
    assert_eq!(head.status(), StatusCode::OK);
    let get = |url: String| client.get(url).send();
    let refused = get(server.url(&format!("/v2/get/{second}.m3u8")))
        .await
        .expect("request");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "cache-control"), "no-store");
    let poll = get(media).await.expect("request");
    assert_eq!(
        poll.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a poll of the media playlist is admitted the same way"
    );
}

/// Processes whose parent is `pid` and whose command is `name`.
fn children_named(pid: u32, name: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid ...
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                return false;
            };
            let comm = &stat[open + 1..close];
            let ppid = stat[close + 1..].split_whitespace().nth(1);
            comm == name && ppid == Some(&pid.to_string())
        })
        .count()
}

fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

#[tokio::test]
async fn a_paused_reader_holds_the_producer_and_a_gone_reader_stops_it() {
    let server = start("pause", &[]);
    let client = Client::new();
    let pid = server.child.id();
    let token = token(&client, &server, "long", "Ann").await;
    let drawn = || server.metric(&client, "framecast_stream_frames_total");

    // A ZIP of 900 PNG frames, read once, then left alone for 10 s.
    let resident_before = resident_bytes(pid);
    let mut paused = fetch(&client, &server.url(&format!("/v2/get/{token}.zip"))).await;
    paused.chunk().await.expect("chunk").expect("first chunk");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let held = drawn().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(drawn().await, held, "the producer waits for the reader");
    assert!(
        held < 450,
        "{held} of 900 frames drawn for a reader that stopped"
    );
    let grown = resident_bytes(pid).saturating_sub(resident_before);
    assert!(grown < 200 << 20, "memory grew by {grown} bytes");

    // Hanging up stops the producer where it stood.
    drop(paused);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopped = drawn().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(drawn().await, stopped);
    assert!(stopped < 900);

    // WebM goes through FFmpeg: hanging up ends the child process too.
    let mut webm = fetch(&client, &server.url(&format!("/v2/get/{token}.webm"))).await;
    webm.chunk().await.expect("chunk").expect("first chunk");
    assert_eq!(children_named(pid, "ffmpeg"), 1);
    drop(webm);
    let deadline = Instant::now() + Duration::from_secs(10);
    while children_named(pid, "ffmpeg") > 0 {
        assert!(Instant::now() < deadline, "ffmpeg outlived its reader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A segment stream stops rendering segments once its reader is gone.
    let segments = || server.metric(&client, "framecast_segments_rendered_total");
    let mut mp4 = fetch(&client, &server.url(&format!("/v2/get/{token}.mp4"))).await;
    mp4.chunk().await.expect("chunk").expect("first chunk");
    drop(mp4);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = segments().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(segments().await, after);
    let total = plan_of(LONG, "Ann").segments.len() as u64;
    assert!(
        after < total,
        "{after} of {total} segments rendered for a reader that left"
    );
}

#[tokio::test]
async fn a_render_that_fails_mid_stream_cuts_the_connection() {
    use std::os::unix::fs::PermissionsExt;

    // Answers the probes like FFmpeg, writes some output, then crashes.
    let dir = test_dir("failing-ffmpeg");
    let program = dir.join("ffmpeg");
    std::fs::write(
        &program,
        "#!/bin/sh\ncase \"$*\" in *-version*) echo 'ffmpeg version test'; exit 0;;\n\
         *-encoders*) printf ' ------\\n V..... libvpx-vp9 VP9\\n'; exit 0;; esac\n\
         head -c 300000 >/dev/null\nhead -c 200000 /dev/zero\necho 'encoder crashed' >&2\nexit 3\n",
    )
    .expect("script");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let server = start("mid-stream", &["--ffmpeg", program.to_str().expect("path")]);
    let client = Client::new();
    let token = token(&client, &server, "long", "Ann").await;
    let url = server.url(&format!("/v2/get/{token}.webm"));

    let response = fetch(&client, &url).await;
    let read = response.bytes().await;
    assert!(read.is_err(), "a cut body must not read as whole");
    // Nothing was kept: the next request streams again rather than serve a short file.
    let again = fetch(&client, &url).await;
    assert_eq!(header(&again, "content-length"), "");
}

#[tokio::test]
async fn play_mp4_is_paced_to_playback_speed() {
    let server = start("paced", &[]);
    let client = Client::new();
    let token = token(&client, &server, "long", "Ann").await;
    let started = Instant::now();
    let mut response = fetch(&client, &server.url(&format!("/v2/play/{token}.mp4"))).await;
    let mut body = response
        .chunk()
        .await
        .expect("chunk")
        .expect("first chunk")
        .to_vec();
    let first_byte = started.elapsed();
    // Segment 5 starts 7.5 s into the movie: with a lead of 2 s, it cannot come before
    // 5.5 s have passed, though all of it renders in a fraction of that.
    while complete_boxes(&body, b"moof") < 6 {
        let chunk = response.chunk().await.expect("chunk").expect("more");
        body.extend_from_slice(&chunk);
    }
    let elapsed = started.elapsed();
    assert!(first_byte < Duration::from_secs(2), "{first_byte:?}");
    assert!(
        elapsed >= Duration::from_secs(5),
        "segment 5 came after {elapsed:?}"
    );
}

/// The number of whole top-level boxes of `kind` at the start of an MP4 byte stream.
fn complete_boxes(bytes: &[u8], kind: &[u8; 4]) -> usize {
    let (mut at, mut count) = (0, 0);
    while at + 8 <= bytes.len() {
        let size =
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        if size < 8 || at + size > bytes.len() {
            break;
        }
        count += usize::from(&bytes[at + 4..at + 8] == kind);
        at += size;
    }
    count
}

/// Follows an HLS master playlist the way a player does, resolving every reference
/// against the URL it came from; returns the init segment and the media segments.
async fn follow_hls(client: &Client, master_url: &str) -> Vec<Vec<u8>> {
    let master_url = url::Url::parse(master_url).expect("url");
    let master = String::from_utf8(bytes(client, master_url.as_str()).await).expect("utf-8");
    let media_line = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .expect("media uri");
    let media_url = master_url.join(media_line).expect("media url");
    let media = String::from_utf8(bytes(client, media_url.as_str()).await).expect("utf-8");
    let init = media
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|rest| rest.split('"').next())
        .expect("init uri");
    let mut parts = vec![bytes(client, media_url.join(init).expect("init").as_str()).await];
    for line in media
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        parts.push(bytes(client, media_url.join(line).expect("segment").as_str()).await);
    }
    parts
}

#[tokio::test]
async fn playlists_name_parts_that_resolve_under_v1_and_v2_in_every_mode() {
    let server = start("resolve", &[]);
    let client = Client::new();
    let token = token(&client, &server, "shared", "Ann").await;
    let mut streams = Vec::new();
    for path in [
        format!("/v2/play/{token}.m3u8"),
        format!("/v2/get/{token}.m3u8"),
        format!("/v2/render/{token}.m3u8"),
        "/v1/play/test/shared.m3u8?name=Ann".to_owned(),
        "/v1/render/test/shared.m3u8?name=Ann".to_owned(),
    ] {
        let parts = follow_hls(&client, &server.url(&path)).await;
        let probe = probe_bytes(&format!("resolved-{}.mp4", streams.len()), &parts.concat());
        assert_eq!(frames_of(&probe), 120, "{path}");
        streams.push(parts);
    }
    // Streams share their segments: every mode and API version serves the same ones.
    assert_eq!(streams[0], streams[1]);
    assert_eq!(streams[0], streams[3]);
}

#[tokio::test]
async fn requests_that_give_up_neither_repeat_nor_lose_a_render() {
    let server = start("abandoned", &[]);
    let client = Client::new();
    let token = token(&client, &server, "long", "Ann").await;
    // The last segment, so that no prefetch follows; it takes far longer than 20 ms.
    let last = plan_of(LONG, "Ann").segments.len() - 1;
    let url = server.url(&format!(
        "/v2/play/{}.m3u8/segment-{last}.m4s",
        id_of(&token)
    ));
    let before = server
        .metric(&client, "framecast_segments_rendered_total")
        .await;
    for attempt in 0..20 {
        let gave_up = client
            .get(&url)
            .timeout(Duration::from_millis(10))
            .send()
            .await;
        // Later attempts may find the segment done by the render the first one started.
        assert!(
            attempt > 0 || gave_up.is_err(),
            "a cold segment came within 10 ms"
        );
    }
    assert!(!bytes(&client, &url).await.is_empty());
    let after = server
        .metric(&client, "framecast_segments_rendered_total")
        .await;
    assert_eq!(after - before, 1, "one render however many askers gave up");
}
