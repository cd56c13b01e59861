//! The asset loader against real sockets on loopback: refused addresses never see a
//! connection, allowed ones are fetched, and size, time and pixel limits hold.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use framecast::assets::{image::decode, AssetLoader, AssetSettings, FetchLimits, ImageLimits};
use framecast::ErrorKind;

/// A tiny HTTP/1.1 server that counts connections and answers each path with a closure.
struct TestServer {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

type Route = dyn Fn(&str) -> Vec<u8> + Send + Sync;

impl TestServer {
    fn start(bind: &str, route: Arc<Route>) -> Self {
        let listener = TcpListener::bind(bind).expect("bind test server");
        let addr = listener.local_addr().expect("address");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let route = route.clone();
                std::thread::spawn(move || {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let _ = stream.write_all(&route(&path));
                });
            }
        });
        Self { addr, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn ok(body: &[u8]) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}

fn redirect(location: &str) -> Vec<u8> {
    format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes()
}

fn avatar_png() -> Vec<u8> {
    std::fs::read(common::repo_path("fixtures/projects/demo/avatar.png")).expect("avatar")
}

fn loader(allow: &[&str], fetch: FetchLimits) -> AssetLoader {
    let settings = AssetSettings {
        allow: allow
            .iter()
            .map(|h| h.parse().expect("allow rule"))
            .collect(),
        fetch,
        ..AssetSettings::default()
    };
    AssetLoader::new(settings).expect("loader")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A victim listening on every local address, IPv6 and IPv4, when the host allows it.
fn victim() -> TestServer {
    let png = avatar_png();
    let route: Arc<Route> = Arc::new(move |_| ok(&png));
    if TcpListener::bind("[::]:0").is_ok() {
        TestServer::start("[::]:0", route)
    } else {
        TestServer::start("0.0.0.0:0", route)
    }
}

#[test]
fn refused_addresses_see_no_connection() {
    let victim = victim();
    let port = victim.addr.port();
    let loader = loader(&[], FetchLimits::default());
    let project = common::repo_path("fixtures/projects/demo");
    let rt = runtime();
    for url in [
        format!("http://127.0.0.1:{port}/a.png"),
        format!("http://0.0.0.0:{port}/a.png"),
        format!("http://[::1]:{port}/a.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/a.png"),
        format!("http://2130706433:{port}/a.png"),
        format!("http://0x7f.1:{port}/a.png"),
        format!("http://localhost:{port}/a.png"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://10.0.0.1/a.png".to_owned(),
        "http://[fe80::1]/a.png".to_owned(),
    ] {
        let err = rt.block_on(loader.picture(&project, &url)).expect_err(&url);
        assert_eq!(err.kind(), ErrorKind::AssetRefused, "{url}: {err}");
        assert!(err.to_string().contains("may not reach"), "{url}: {err}");
    }
    assert_eq!(
        victim.connections(),
        0,
        "a refused address was connected to"
    );
}

#[test]
fn redirect_to_loopback_is_refused_at_the_hop() {
    let victim = victim();
    let target = format!("http://127.0.0.1:{}/a.png", victim.addr.port());
    let redirector = TestServer::start("127.0.0.2:0", Arc::new(move |_| redirect(&target)));
    let loader = loader(&["127.0.0.2"], FetchLimits::default());
    let url = format!("http://127.0.0.2:{}/start", redirector.addr.port());
    let err = runtime()
        .block_on(loader.picture(&common::repo_path("fixtures/projects/demo"), &url))
        .expect_err("redirect to loopback");
    assert_eq!(err.kind(), ErrorKind::AssetRefused, "{err}");
    assert_eq!(redirector.connections(), 1);
    assert_eq!(victim.connections(), 0);
}

#[test]
fn allowed_host_is_fetched_and_cached() {
    let server = TestServer::start(
        "127.0.0.1:0",
        Arc::new({
            let png = avatar_png();
            move |_| ok(&png)
        }),
    );
    let loader = loader(&["127.0.0.1"], FetchLimits::default());
    let url = format!("http://127.0.0.1:{}/avatar.png", server.addr.port());
    let project = common::repo_path("fixtures/projects/demo");
    let rt = runtime();
    let picture = rt
        .block_on(loader.picture(&project, &url))
        .expect("allowed fetch");
    assert_eq!((picture.width(), picture.height()), (512, 512));
    rt.block_on(loader.picture(&project, &url)).expect("cached");
    assert_eq!(
        server.connections(),
        1,
        "the second load came from the cache"
    );
}

#[test]
fn concurrent_loads_of_one_url_fetch_once() {
    let server = TestServer::start(
        "127.0.0.1:0",
        Arc::new({
            let png = avatar_png();
            move |_| {
                std::thread::sleep(Duration::from_millis(200));
                ok(&png)
            }
        }),
    );
    let loader = loader(&["127.0.0.1"], FetchLimits::default());
    let url = format!("http://127.0.0.1:{}/slow.png", server.addr.port());
    let project = common::repo_path("fixtures/projects/demo");
    runtime().block_on(async {
        let loads = (0..20).map(|_| loader.picture(&project, &url));
        for result in futures::future::join_all(loads).await {
            result.expect("shared load");
        }
    });
    assert_eq!(server.connections(), 1);
}

#[test]
fn too_many_redirects() {
    let server = TestServer::start(
        "127.0.0.1:0",
        Arc::new(|path: &str| {
            let n: u32 = path.trim_start_matches('/').parse().unwrap_or(0);
            redirect(&format!("/{}", n + 1))
        }),
    );
    let limits = FetchLimits {
        max_redirects: 3,
        ..FetchLimits::default()
    };
    let err = runtime()
        .block_on(loader(&["127.0.0.1"], limits).picture(
            &common::repo_path("fixtures/projects/demo"),
            &format!("http://127.0.0.1:{}/0", server.addr.port()),
        ))
        .expect_err("redirect loop");
    assert!(err.to_string().contains("more than 3 redirects"), "{err}");
    assert_eq!(server.connections(), 4);
}

#[test]
fn oversized_bodies_are_refused() {
    let announced = TestServer::start(
        "127.0.0.1:0",
        Arc::new(|_: &str| {
            b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\nConnection: close\r\n\r\nxxxx"
                .to_vec()
        }),
    );
    let streamed = TestServer::start(
        "127.0.0.1:0",
        Arc::new(|_: &str| {
            let mut response =
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    .to_vec();
            for _ in 0..64 {
                response.extend_from_slice(b"400\r\n");
                response.extend_from_slice(&[b'x'; 0x400]);
                response.extend_from_slice(b"\r\n");
            }
            response.extend_from_slice(b"0\r\n\r\n");
            response
        }),
    );
    let limits = FetchLimits {
        max_bytes: 16 * 1024,
        ..FetchLimits::default()
    };
    let loader = loader(&["127.0.0.1"], limits);
    let project = common::repo_path("fixtures/projects/demo");
    let rt = runtime();
    for server in [&announced, &streamed] {
        let url = format!("http://127.0.0.1:{}/big", server.addr.port());
        let err = rt
            .block_on(loader.picture(&project, &url))
            .expect_err("too big");
        assert_eq!(err.kind(), ErrorKind::AssetFailed);
        assert!(
            err.to_string().contains("expected at most 16384 bytes"),
            "{err}"
        );
    }
}

#[test]
fn slow_servers_time_out() {
    let server = TestServer::start(
        "127.0.0.1:0",
        Arc::new(|_: &str| {
            std::thread::sleep(Duration::from_secs(5));
            Vec::new()
        }),
    );
    let limits = FetchLimits {
        total_timeout: Duration::from_millis(300),
        ..FetchLimits::default()
    };
    let url = format!("http://127.0.0.1:{}/slow", server.addr.port());
    let err = runtime()
        .block_on(
            loader(&["127.0.0.1"], limits)
                .picture(&common::repo_path("fixtures/projects/demo"), &url),
        )
        .expect_err("timeout");
    assert!(err.to_string().contains("took longer than 0.3 s"), "{err}");
}

#[test]
fn non_http_schemes_are_refused() {
    let loader = loader(&[], FetchLimits::default());
    for url in [
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "data:image/png;base64,AAAA",
    ] {
        let err = runtime()
            .block_on(loader.picture(&common::repo_path("fixtures/projects/demo"), url))
            .expect_err(url);
        assert_eq!(err.kind(), ErrorKind::AssetRefused, "{url}: {err}");
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG that claims `width` x `height` pixels but holds almost no data.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        png.extend_from_slice(&body);
        png.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut header = width.to_be_bytes().to_vec();
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(b"IHDR", &header);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    png
}

#[test]
fn decompression_bombs_are_refused_from_the_header() {
    let started = std::time::Instant::now();
    let err = decode(
        &png_claiming(60_000, 60_000),
        "bomb.png",
        ImageLimits::default(),
    )
    .expect_err("bomb");
    assert!(
        err.to_string()
            .contains("picture of 60000x60000 exceeds the limit"),
        "{err}"
    );
    let err = decode(
        &png_claiming(8000, 8000),
        "wide.png",
        ImageLimits::default(),
    )
    .expect_err("too many pixels");
    assert!(err.to_string().contains("8000x8000"), "{err}");
    // Refused without allocating pixels: far quicker than decoding 3.6 billion of them.
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn decoder_allocation_is_capped() {
    let limits = ImageLimits {
        max_alloc_bytes: 1 << 20,
        ..ImageLimits::default()
    };
    let err =
        decode(&png_claiming(1000, 1000), "big.png", limits).expect_err("over the allocation cap");
    assert_eq!(
        err.to_string(),
        "big.png: decoding needs about 12000000 bytes, over the limit of 1048576"
    );
}

#[test]
fn garbage_is_not_a_picture() {
    let err = decode(
        b"<html>not a picture</html>",
        "page.html",
        ImageLimits::default(),
    )
    .expect_err("garbage");
    assert!(
        err.to_string()
            .contains("expected a PNG, JPEG, WebP, GIF or TIFF picture"),
        "{err}"
    );
}

#[test]
fn clips_from_urls_go_through_the_same_checks_and_fetch_once() {
    let clip =
        std::fs::read(common::repo_path("fixtures/projects/demo/footage.mp4")).expect("clip");
    let server = TestServer::start("127.0.0.1:0", Arc::new(move |_| ok(&clip)));
    let url = format!("http://127.0.0.1:{}/footage.mp4", server.addr.port());
    let project = common::repo_path("fixtures/projects/demo");
    let rt = runtime();

    // Loopback is refused unless allowed, before any connection.
    let refused = loader(&[], FetchLimits::default());
    let error = rt
        .block_on(refused.clip(&project, &url))
        .expect_err("loopback refused");
    assert_eq!(error.kind(), ErrorKind::AssetRefused, "{}", error.message());
    assert_eq!(server.connections(), 0);

    let allowed = loader(&["127.0.0.1"], FetchLimits::default());
    let clip = rt
        .block_on(allowed.clip(&project, &url))
        .expect("allowed clip");
    assert_eq!((clip.info.width, clip.info.height), (1280, 720));
    assert_eq!(clip.info.frame_count, 360);
    let frame = clip
        .frame(150, 320, 180, framecast::movie::format::Fit::Cover)
        .expect("frame");
    assert_eq!((frame.width(), frame.height()), (320, 180));
    rt.block_on(allowed.clip(&project, &url)).expect("cached");
    assert_eq!(
        server.connections(),
        1,
        "the second load came from the cache"
    );

    // Bytes that are not a video are an asset error, not a crash.
    let junk = TestServer::start("127.0.0.1:0", Arc::new(|_| ok(b"not a video at all")));
    let url = format!("http://127.0.0.1:{}/junk.mp4", junk.addr.port());
    let error = rt.block_on(allowed.clip(&project, &url)).expect_err("junk");
    assert_eq!(error.kind(), ErrorKind::AssetFailed, "{}", error.message());

    // A playlist naming a file of the server is not followed: FFmpeg reads only the
    // fetched bytes, as a single media file.
    let local = common::repo_path("fixtures/projects/demo/footage.mp4");
    let playlist = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:12\n#EXTINF:12,\nfile:{}\n#EXT-X-ENDLIST\n",
        local.display()
    );
    let lure = TestServer::start("127.0.0.1:0", Arc::new(move |_| ok(playlist.as_bytes())));
    for name in ["lure.mp4", "lure.m3u8"] {
        let url = format!("http://127.0.0.1:{}/{name}", lure.addr.port());
        let error = rt
            .block_on(allowed.clip(&project, &url))
            .expect_err("playlist");
        assert_eq!(error.kind(), ErrorKind::AssetFailed, "{}", error.message());
        let error = rt
            .block_on(allowed.sound(&project, &url))
            .expect_err("playlist as sound");
        assert_eq!(error.kind(), ErrorKind::AssetFailed, "{}", error.message());
    }
}
