//! Delivery to other services against real servers on loopback: an S3-compatible store
//! (moto in server mode, which checks every request's SigV4 signature against the IAM
//! user the test makes), an HTTP receiver in the test for `http` destinations, callbacks
//! and webhooks, and batches of renders.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{test_dir, Server};
use framecast::publish::sign::{amz_time, body_signature, sha256_hex, SigV4};
use http_body_util::BodyExt;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const SECRET: &str = "webhook-test-secret";

use common::SHORT_MOVIE as SHORT;

/// Large enough in ProRes to go up in several 5 MiB parts.
const LARGE: &str = r##"{
    "canvas": {"width": 1280, "height": 720, "fps": 30, "background": "#102030"},
    "scenes": [{"duration": 2.5, "layers": [
        {"type": "gradient", "gradient": {"type": "linear", "angle": 30, "stops": [
            {"offset": 0, "color": "#ff0000"}, {"offset": 0.5, "color": "#00ff00"}, {"offset": 1, "color": "#0000ff"}]}},
        {"type": "text", "text": "Frame after frame of detail", "font": {"size": 90}, "x": 40, "y": 300,
         "animate": {"x": [{"t": 0, "value": 0}, {"t": 2.5, "value": 400}]}}
    ]}]
}"##;

/// A movie whose picture cannot be fetched (nothing listens on port 9), so its render fails.
const BROKEN: &str = r##"{
    "canvas": {"width": 64, "height": 48, "fps": 10, "background": "#000000"},
    "scenes": [{"duration": 0.5, "layers": [{"type": "image", "source": "http://127.0.0.1:9/missing.png"}]}]
}"##;

/// moto's S3 server on a free loopback port, with an IAM user whose keys sign every
/// request; killed when dropped.
struct Store {
    child: Child,
    endpoint: String,
    access_key: String,
    secret_key: String,
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The moto server `scripts/test` installs (a pinned version: older ones sign keys with
/// non-ASCII characters differently from AWS).
fn moto_program() -> PathBuf {
    let program = std::env::var_os("FRAMECAST_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/framecast/moto-5.2.5/bin/moto_server")
        });
    let found = Command::new(&program)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{} not found: scripts/test installs moto's server (PyPI `moto[server]`) and sets \
         FRAMECAST_MOTO_SERVER",
        program.display()
    );
    program
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Value of the first `<name>` element.
fn xml<'a>(body: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = body
        .find(&open)
        .map(|i| i + open.len())
        .unwrap_or_else(|| panic!("no {name} in {body}"));
    let end = body[start..]
        .find(&format!("</{name}>"))
        .expect("closing tag")
        + start;
    &body[start..end]
}

impl Store {
    /// Starts the store, makes a user allowed everything in S3, and `buckets`. After
    /// these set-up requests every request must be signed with the user's keys.
    async fn start(buckets: &[&str]) -> Self {
        let port = free_port();
        let setup_requests = 3 + buckets.len();
        let child = Command::new(moto_program())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", setup_requests.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let mut store = Self {
            child,
            endpoint: format!("127.0.0.1:{port}"),
            access_key: String::new(),
            secret_key: String::new(),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let client = Client::new();
        // Unsigned set-up requests name IAM in a credential scope so that moto routes them.
        let iam = |form: Vec<(&str, &str)>| {
            client
                .post(format!("http://{}/", store.endpoint))
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=SETUP/20260101/us-east-1/iam/aws4_request, \
                     SignedHeaders=host, Signature=0",
                )
                .form(&form)
                .send()
        };
        let user = [("UserName", "framecast"), ("Version", "2010-05-08")];
        let created = iam([&[("Action", "CreateUser")][..], &user].concat())
            .await
            .expect("user");
        assert!(created.status().is_success());
        let keys = iam([&[("Action", "CreateAccessKey")][..], &user].concat())
            .await
            .expect("keys")
            .text()
            .await
            .expect("keys text");
        store.access_key = xml(&keys, "AccessKeyId").to_owned();
        store.secret_key = xml(&keys, "SecretAccessKey").to_owned();
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        let allowed = iam([
            &[
                ("Action", "PutUserPolicy"),
                ("PolicyName", "all"),
                ("PolicyDocument", policy),
            ][..],
            &user,
        ]
        .concat())
        .await
        .expect("policy");
        assert!(allowed.status().is_success());
        for bucket in buckets {
            let made = client
                .put(format!("http://{}/{bucket}", store.endpoint))
                .send()
                .await
                .expect("bucket");
            assert!(
                made.status().is_success(),
                "bucket {bucket}: {}",
                made.status()
            );
        }
        store
    }

    /// A signed GET of `path` (`/bucket/key[?query]`): status, headers and body.
    async fn get(&self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
        let pairs: Vec<(&str, &str)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .collect();
        let time = amz_time(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs() as i64,
        );
        let empty = sha256_hex(b"");
        let headers = vec![
            ("host".to_owned(), self.endpoint.clone()),
            ("x-amz-content-sha256".to_owned(), empty.clone()),
            ("x-amz-date".to_owned(), time.clone()),
        ];
        let signer = SigV4 {
            access_key: &self.access_key,
            secret_key: &self.secret_key,
            region: "us-east-1",
        };
        let authorization = signer.authorization("GET", path_only, &pairs, &headers, &empty, &time);
        let response = Client::new()
            .get(format!("http://{}{path}", self.endpoint))
            .header("authorization", authorization)
            .header("x-amz-content-sha256", empty)
            .header("x-amz-date", time)
            .send()
            .await
            .expect("store GET");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("store body").to_vec();
        (status, headers, body)
    }

    fn destination(&self, bucket: &str, filename: &str) -> Value {
        json!({
            "type": "s3",
            "bucket": bucket,
            "filename": filename,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "s3host": self.endpoint,
            "secure": false,
        })
    }
}

/// One request the receiver saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// An HTTP server in the test that records every request. Paths under `/fail` answer
/// 503, under `/deny` 403; others 200.
struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    async fn start() -> Self {
        Self::start_on(0).await
    }

    /// A receiver on `port` of loopback (0: any free port).
    async fn start_on(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let log = Arc::clone(&log);
                            async move {
                                let method = request.method().to_string();
                                let path = request.uri().path().to_owned();
                                let headers = request
                                    .headers()
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.to_string(), v.to_str().unwrap_or_default().to_owned())
                                    })
                                    .collect();
                                let body = request
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes().to_vec())
                                    .unwrap_or_default();
                                let status = if path.starts_with("/fail") {
                                    503
                                } else if path.starts_with("/deny") {
                                    403
                                } else {
                                    200
                                };
                                log.lock().expect("log").push(Seen {
                                    method,
                                    path,
                                    headers,
                                    body,
                                });
                                let mut response = hyper::Response::new(http_body_util::Full::new(
                                    bytes::Bytes::from_static(b"ok"),
                                ));
                                *response.status_mut() =
                                    hyper::StatusCode::from_u16(status).expect("status");
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn all(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }

    /// Waits for a request that `matches`, up to 60 s.
    async fn wait_for(&self, what: &str, matches: impl Fn(&Seen) -> bool) -> Seen {
        let started = Instant::now();
        loop {
            if let Some(seen) = self.all().into_iter().find(|s| matches(s)) {
                return seen;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no {what}; saw {:?}",
                self.all().iter().map(|s| &s.path).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The JSON events posted to `path`, each checked against its signature.
    fn events(&self, path: &str) -> Vec<Value> {
        self.all()
            .into_iter()
            .filter(|s| s.path == path)
            .map(|s| {
                assert_eq!(
                    s.headers.get("x-framecast-signature").map(String::as_str),
                    Some(body_signature(SECRET.as_bytes(), &s.body).as_str()),
                    "signature of {}",
                    String::from_utf8_lossy(&s.body)
                );
                serde_json::from_slice(&s.body).expect("event JSON")
            })
            .collect()
    }
}

/// A server whose deliveries retry fast, sign events with [`SECRET`] and may reach
/// loopback.
/// The arguments of a server made by [`server`] with `name`, to start it again.
fn server_args(name: &str) -> Vec<String> {
    let settings = std::env::temp_dir()
        .join(format!(
            "framecast-api-{}-{name}-settings",
            std::process::id()
        ))
        .join("settings.toml");
    let config = settings.to_string_lossy().into_owned();
    vec![
        "--config".into(),
        config,
        "--allow-host".into(),
        "127.0.0.1".into(),
    ]
}

fn server(name: &str, movies: &[(&str, &str)]) -> Server {
    let dir = test_dir(&format!("{name}-settings"));
    let settings = dir.join("settings.toml");
    std::fs::write(
        &settings,
        format!(
            "[delivery]\nattempts = 3\nbackoff_ms = 50\nmax_backoff_ms = 200\n\
             webhook_secret = \"{SECRET}\"\nmultipart_threshold_bytes = 5242880\n\
             part_bytes = 5242880\nbatch_concurrency = 2\n\n[server]\ndefault_project = \"test\"\n"
        ),
    )
    .expect("settings");
    let args = server_args(name);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::with_movies(name, movies, &args)
}

async fn post(client: &Client, url: &str, body: Value) -> (StatusCode, Value) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, value)
}

async fn get_json(client: &Client, url: &str) -> Value {
    let text = client
        .get(url)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

async fn output_bytes(client: &Client, server: &Server, token: &str, ext: &str) -> Vec<u8> {
    let response = client
        .get(server.url(&format!("/v2/render/{token}.{ext}")))
        .send()
        .await
        .expect("output");
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await.expect("bytes").to_vec()
}

#[tokio::test]
async fn s3_objects_land_with_the_bytes_headers_and_metadata_asked_for() {
    let store = Store::start(&["videos"]).await;
    let receiver = Receiver::start().await;
    let server = server("s3-upload", &[("short", SHORT)]);
    let client = Client::new();
    let mut destination = store.destination("videos", "campaign/Zoë.mp4");
    destination["contenttype"] = "video/mp4".into();
    destination["contentdisposition"] = "attachment; filename=\"zoe.mp4\"".into();
    destination["cachecontrol"] = "public, max-age=60".into();
    destination["acl"] = "public-read".into();
    destination["metadata"] = json!({"campaign": "spring", "Recipient-Id": 42});
    let (status, body) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({
            "movie": "short",
            "params": {"name": "Zoë"},
            "upload": {"extension": "mp4", "destination": destination,
                       "onsuccess": receiver.url("/done")},
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let upload = &body["uploads"][0];
    assert_eq!(upload["state"], "done", "{body}");
    assert_eq!(upload["status"], 200);
    assert_eq!(upload["parts"], 1);
    assert_eq!(
        upload["url"],
        format!("http://{}/videos/campaign/Zo%C3%AB.mp4", store.endpoint)
    );
    let text = body.to_string();
    assert!(
        !text.contains(&store.secret_key),
        "the answer holds the secret: {text}"
    );

    let token = body["token"].as_str().expect("token");
    let rendered = output_bytes(&client, &server, token, "mp4").await;
    let (status, headers, object) = store.get("/videos/campaign/Zo%C3%AB.mp4").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(object, rendered, "the object is the output, byte for byte");
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "video/mp4");
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"zoe.mp4\""
    );
    assert_eq!(header("cache-control"), "public, max-age=60");
    assert_eq!(header("x-amz-meta-campaign"), "spring");
    assert_eq!(header("x-amz-meta-recipient-id"), "42");
    let (status, _, acl) = store.get("/videos/campaign/Zo%C3%AB.mp4?acl").await;
    assert_eq!(status, StatusCode::OK);
    let acl = String::from_utf8_lossy(&acl);
    assert!(
        acl.contains("http://acs.amazonaws.com/groups/global/AllUsers") && acl.contains("READ"),
        "{acl}"
    );

    let object_file = test_dir("s3-upload-object").join("object.mp4");
    std::fs::write(&object_file, &object).expect("object file");
    let probe = common::ffprobe_json(&object_file);
    assert_eq!(probe["streams"][0]["codec_name"], "h264");

    let callback = receiver.wait_for("onsuccess", |s| s.path == "/done").await;
    assert_eq!(callback.method, "POST");
    let event = &receiver.events("/done")[0];
    assert_eq!(event["event"], "uploaded");
    assert_eq!(event["token"], token);
    assert_eq!(event["upload"]["url"], upload["url"]);

    let progress = get_json(&client, &server.url(&format!("/v2/progress/{token}"))).await;
    assert_eq!(progress["uploads"][0]["state"], "done");
}

#[tokio::test]
async fn large_outputs_go_up_in_parts_and_bad_credentials_fail_without_retrying() {
    let store = Store::start(&["masters"]).await;
    let receiver = Receiver::start().await;
    let server = server("s3-multipart", &[("large", LARGE), ("short", SHORT)]);
    let client = Client::new();
    let mut wrong = store.destination("masters", "never.mp4");
    wrong["aws_secret_access_key"] = "not-the-secret-at-all".into();
    let (status, body) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({
            "movie": "large",
            "format": "mov",
            "upload": [
                {"extension": "mov", "destination": store.destination("masters", "large.mov")},
                {"extension": "mov", "destination": wrong, "onerror": receiver.url("/refused")},
            ],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let parts = &body["uploads"][0];
    assert_eq!(parts["state"], "done", "{body}");
    assert!(parts["parts"].as_u64().expect("parts") >= 2, "{parts}");
    let token = body["token"].as_str().expect("token");
    let rendered = output_bytes(&client, &server, token, "mov").await;
    let (status, _, object) = store.get("/masters/large.mov").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(object.len(), rendered.len());
    assert!(object == rendered, "the parts join into the output");

    let refused = &body["uploads"][1];
    assert_eq!(refused["state"], "failed", "{body}");
    assert_eq!(refused["status"], 403);
    assert_eq!(refused["attempts"], 1, "a refused signature is not retried");
    let message = refused["error"].as_str().expect("error");
    assert!(message.contains("SignatureDoesNotMatch"), "{message}");
    assert!(!body.to_string().contains("not-the-secret-at-all"));
    let event = receiver.wait_for("onerror", |s| s.path == "/refused").await;
    assert!(String::from_utf8_lossy(&event.body).contains("upload_failed"));
    let (status, _, _) = store.get("/masters/never.mp4").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unreachable_store_is_retried_then_onerror_is_called() {
    let receiver = Receiver::start().await;
    let server = server("s3-unreachable", &[("short", SHORT)]);
    let client = Client::new();
    // Nothing listens on this port.
    let closed = format!("127.0.0.1:{}", free_port());
    let (status, body) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({
            "movie": "short",
            "upload": {"extension": "mp4", "async": true,
                       "destination": {"type": "s3", "bucket": "videos", "s3host": closed, "secure": false,
                                       "aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "hush-hush"},
                       "onerror": receiver.url("/failed")},
        }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "an async upload is accepted: {body}"
    );
    let token = body["token"].as_str().expect("token").to_owned();
    receiver.wait_for("onerror", |s| s.path == "/failed").await;
    let event = &receiver.events("/failed")[0];
    assert_eq!(event["event"], "upload_failed");
    assert_eq!(event["upload"]["attempts"], 3, "{event}");
    assert_eq!(event["upload"]["state"], "failed");
    assert!(!event.to_string().contains("hush-hush"));
    let progress = get_json(&client, &server.url(&format!("/v2/progress/{token}"))).await;
    assert_eq!(progress["uploads"][0]["state"], "failed", "{progress}");
}

#[tokio::test]
async fn http_uploads_reach_the_receiver_and_server_errors_are_retried() {
    let receiver = Receiver::start().await;
    let server = server("http-upload", &[("short", SHORT)]);
    let client = Client::new();
    let (status, body) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({
            "movie": "short",
            "upload": [
                {"extension": "mp4", "destination": {"type": "http", "url": receiver.url("/put/a.mp4?sig=abc"),
                  "headers": {"Authorization": "Bearer upload-token", "X-Campaign": "spring"}}},
                {"extension": "webm", "destination": {"type": "http", "method": "POST", "url": receiver.url("/post/a.webm")}},
                {"extension": "mp4", "destination": {"type": "http", "url": receiver.url("/fail/a.mp4")},
                 "onerror": receiver.url("/gave-up")},
            ],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().expect("token");
    let uploads = body["uploads"].as_array().expect("uploads");
    assert_eq!(uploads[0]["state"], "done");
    assert_eq!(
        uploads[0]["url"],
        receiver.url("/put/a.mp4"),
        "no query in results"
    );
    assert_eq!(uploads[1]["state"], "done");
    assert_eq!(
        (uploads[2]["state"].as_str(), uploads[2]["status"].as_u64()),
        (Some("failed"), Some(503))
    );
    assert_eq!(uploads[2]["attempts"], 3);
    assert!(!body.to_string().contains("upload-token"));

    let put = receiver.wait_for("PUT", |s| s.path == "/put/a.mp4").await;
    assert_eq!(put.method, "PUT");
    assert_eq!(put.headers["authorization"], "Bearer upload-token");
    assert_eq!(put.headers["x-campaign"], "spring");
    assert_eq!(put.headers["content-type"], "video/mp4");
    assert_eq!(put.body, output_bytes(&client, &server, token, "mp4").await);
    let post_seen = receiver
        .wait_for("POST", |s| s.path == "/post/a.webm")
        .await;
    assert_eq!(post_seen.method, "POST");
    assert_eq!(
        post_seen.body,
        output_bytes(&client, &server, token, "webm").await
    );
    let tries = receiver
        .all()
        .iter()
        .filter(|s| s.path == "/fail/a.mp4")
        .count();
    assert_eq!(tries, 3);
    receiver.wait_for("onerror", |s| s.path == "/gave-up").await;
}

#[tokio::test]
async fn a_token_made_without_rendering_uploads_when_its_output_is_first_rendered() {
    let receiver = Receiver::start().await;
    let server = server("token-upload", &[("short", SHORT)]);
    let client = Client::new();
    let (status, body) = post(
        &client,
        &server.url("/v2/token/test"),
        json!({"movie": "short", "upload": [
               {"extension": "mp4", "destination": {"type": "http", "url": receiver.url("/later.mp4")}},
               {"extension": "gif", "destination": {"type": "http", "url": receiver.url("/later.gif")}}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().expect("token");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        receiver.all().is_empty(),
        "nothing is sent before the render"
    );
    let bytes = output_bytes(&client, &server, token, "mp4").await;
    let seen = receiver
        .wait_for("upload", |s| s.path == "/later.mp4")
        .await;
    assert_eq!(seen.body, bytes);
    // The default output starts every task, each with its own output.
    let gif = receiver
        .wait_for("gif upload", |s| s.path == "/later.gif")
        .await;
    assert_eq!(gif.body, output_bytes(&client, &server, token, "gif").await);
    assert_eq!(gif.headers["content-type"], "image/gif");
    // Served again: sent once only.
    output_bytes(&client, &server, token, "mp4").await;
    output_bytes(&client, &server, token, "gif").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = |path: &str| receiver.all().iter().filter(|s| s.path == path).count();
    assert_eq!(sent("/later.gif"), 1);
    assert_eq!(sent("/later.mp4"), 1);

    // A stop between storing the output and starting its uploads leaves no claim; the
    // next start finds the stored output and sends them.
    let (data, projects) = server.stop();
    let db = rusqlite::Connection::open(data.join("tokens.sqlite")).expect("store");
    db.execute("DELETE FROM uploads WHERE token = ?1", [token])
        .expect("claims forgotten");
    drop(db);
    let args = server_args("token-upload");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _restarted = Server::start_on(data, projects, &args);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sent("/later.mp4") < 2 || sent("/later.gif") < 2 {
        assert!(
            Instant::now() < deadline,
            "uploads not started after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn webhook_events_are_signed_and_tell_the_render_from_start_to_end() {
    let receiver = Receiver::start().await;
    let server = server("webhooks", &[("short", SHORT), ("broken", BROKEN)]);
    let client = Client::new();
    let (status, body) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({"movie": "short", "webhook": receiver.url("/events"),
               "upload": {"extension": "mp4", "destination": {"type": "http", "url": receiver.url("/file.mp4")}}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().expect("token");
    receiver
        .wait_for("uploaded event", |s| {
            s.path == "/events" && String::from_utf8_lossy(&s.body).contains("\"uploaded\"")
        })
        .await;
    let events = receiver.events("/events");
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for expected in ["started", "finished", "uploaded"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    for event in &events {
        assert_eq!(event["token"], token);
        assert!(event["time"].as_i64().is_some() && event["id"].as_str().is_some());
    }
    let finished = events
        .iter()
        .find(|e| e["event"] == "finished")
        .expect("finished");
    assert_eq!(finished["url"], body["url"]);

    // A failing render reports `failed`.
    let (status, body) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({"movie": "broken", "webhook": receiver.url("/failures")}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    receiver
        .wait_for("failed event", |s| s.path == "/failures")
        .await;
    let failed = &receiver.events("/failures")[0];
    assert!(
        failed["event"] == "failed" || failed["event"] == "started",
        "{failed}"
    );
    receiver
        .wait_for("failed", |s| {
            s.path == "/failures" && String::from_utf8_lossy(&s.body).contains("\"failed\"")
        })
        .await;

    // Webhooks obey the address policy: a server that may not reach loopback refuses.
    let strict = Server::with_movies("webhooks-strict", &[("short", SHORT)], &[]);
    let (status, body) = post(
        &client,
        &strict.url("/v2/render/test"),
        json!({"movie": "short", "webhook": receiver.url("/events")}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("loopback"),
        "{body}"
    );
    let (status, body) = post(
        &client,
        &strict.url("/v2/render/test"),
        json!({"movie": "short", "upload": {"extension": "mp4",
               "destination": {"type": "http", "url": receiver.url("/x.mp4")}}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["message"].as_str().expect("message");
    assert!(
        message.starts_with("upload[0].destination: ") && message.contains("loopback"),
        "{body}"
    );
    let (status, body) = post(
        &client,
        &strict.url("/v2/render/test"),
        json!({"movie": "short", "upload": {"extension": "mp4", "destination": {"type": "ftp"}}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("s3, http"),
        "{body}"
    );
}

async fn wait_for_batch(client: &Client, server: &Server, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let status = get_json(client, &server.url(&format!("/v2/batch/{id}"))).await;
        if status["state"] == "done" {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "batch still {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_batch_of_fifty_finishes_with_fifty_valid_results() {
    let receiver = Receiver::start().await;
    let server = server("batch", &[("short", SHORT)]);
    let client = Client::new();
    let (status, created) = post(
        &client,
        &server.url("/v2/batch"),
        json!({"routing": "default", "webhook": receiver.url("/batch-events")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let tasks: Vec<Value> = (0..50)
        .map(|i| {
            // Bare names use the default project; `project/movie` names its own.
            let movie = if i % 2 == 0 { "short" } else { "test/short" };
            let mut task =
                json!({"movie": movie, "params": {"name": format!("N{i}")}, "format": "mp4"});
            // Uploads of another output render it within the task's slot, even async ones.
            if i < 6 {
                task["upload"] = json!({"extension": "gif", "async": true, "destination":
                    {"type": "http", "url": receiver.url(&format!("/batch-{i}.gif"))}});
            }
            task
        })
        .collect();
    let (status, added) = post(
        &client,
        &server.url(&format!("/v2/batch/{id}/tasks")),
        json!({"tasks": tasks[..20]}),
    )
    .await;
    assert_eq!(
        (status, added["total"].as_u64()),
        (StatusCode::OK, Some(20)),
        "{added}"
    );
    let (status, added) = post(
        &client,
        &server.url(&format!("/v2/batch/{id}/tasks")),
        json!({"tasks": tasks[20..]}),
    )
    .await;
    assert_eq!(
        (status, added["total"].as_u64()),
        (StatusCode::OK, Some(50)),
        "{added}"
    );
    let (status, bad) = post(
        &client,
        &server.url(&format!("/v2/batch/{id}/tasks")),
        json!({"tasks": [{"movie": "short"}, {"movie": "short", "params": {"name": "x".repeat(30)}}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad["message"]
            .as_str()
            .expect("message")
            .starts_with("tasks[1]"),
        "{bad}"
    );

    let (status, run) = post(
        &client,
        &server.url(&format!("/v2/batch/{id}/run")),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let run_id = run["runId"].as_str().expect("runId").to_owned();
    let (status, _) = post(
        &client,
        &server.url(&format!("/v2/batch/{id}/tasks")),
        json!({"tasks": [{"movie": "short"}]}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a running batch takes no tasks"
    );

    // Batch renders run on threads at the lowest scheduling priority.
    let mut background = 0;
    for task in std::fs::read_dir(format!("/proc/{}/task", server.child.id())).expect("threads") {
        let task = task.expect("thread").path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if name.starts_with("render-backgrou") {
            let stat = std::fs::read_to_string(task.join("stat")).expect("stat");
            // The fields after the command's closing parenthesis; nice is the 17th.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .expect("stat")
                .1
                .split_whitespace()
                .collect();
            assert_eq!(fields[16], "19", "{name}: {stat}");
            background += 1;
        }
    }
    assert!(background > 0, "no background render threads");
    let started = Instant::now();
    loop {
        let in_flight = server.metric(&client, "framecast_renders_in_flight").await;
        assert!(
            in_flight <= 2,
            "{in_flight} renders beside a batch of two slots"
        );
        let status = get_json(&client, &server.url(&format!("/v2/batch/{id}"))).await;
        if status["state"] == "done" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "batch still {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done = wait_for_batch(&client, &server, &id).await;
    assert_eq!(
        (
            done["total"].as_u64(),
            done["done"].as_u64(),
            done["failed"].as_u64()
        ),
        (Some(50), Some(50), Some(0)),
        "{done}"
    );
    for i in 0..6 {
        let path = format!("/batch-{i}.gif");
        let gif = receiver.wait_for("batch upload", |s| s.path == path).await;
        assert!(gif.body.starts_with(b"GIF89a"), "{path}");
    }
    let results = get_json(&client, &server.url(&format!("/v2/batch/{run_id}/results"))).await;
    let results = results["results"].as_array().expect("results");
    assert_eq!(results.len(), 50);
    let mut tokens = std::collections::HashSet::new();
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["status"], "done", "{result}");
        assert!(tokens.insert(result["token"].as_str().expect("token").to_owned()));
        let url = result["url"].as_str().expect("url");
        assert!(url.ends_with(".mp4"));
        if i % 10 == 0 {
            let probe = common::ffprobe_json(url);
            assert_eq!(probe["streams"][0]["nb_read_frames"], "30", "task {i}");
        }
    }
    receiver
        .wait_for("batch_finished", |s| {
            s.path == "/batch-events" && String::from_utf8_lossy(&s.body).contains("batch_finished")
        })
        .await;
    let finished = receiver
        .events("/batch-events")
        .into_iter()
        .find(|e| e["event"] == "batch_finished")
        .expect("batch_finished");
    assert_eq!(
        (finished["done"].as_u64(), finished["failed"].as_u64()),
        (Some(50), Some(0))
    );
}

/// A batch made with `body` and `count` renders of `short`, started; its id.
async fn started_batch(client: &Client, server: &Server, body: Value, count: usize) -> String {
    let (status, created) = post(client, &server.url("/v2/batch"), body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let tasks: Vec<Value> = (0..count)
        .map(|i| json!({"movie": "short", "params": {"name": format!("N{i}")}}))
        .collect();
    let tasks_url = server.url(&format!("/v2/batch/{id}/tasks"));
    let (status, added) = post(client, &tasks_url, json!({"tasks": tasks})).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let run_url = server.url(&format!("/v2/batch/{id}/run"));
    let (status, run) = post(client, &run_url, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    id
}

#[tokio::test]
async fn a_bare_movie_name_is_in_the_project_of_the_callers_key() {
    let dir = test_dir("key-projects");
    let projects = dir.join("projects");
    for project in ["test", "other"] {
        std::fs::create_dir_all(projects.join(project)).expect("project");
    }
    std::fs::write(projects.join("other/onlyother.json"), SHORT).expect("movie");
    let settings = dir.join("settings.toml");
    std::fs::write(
        &settings,
        "[server]\ndefault_project = \"test\"\n[server.tiers.pro]\nconcurrent_renders = 2\n\
         [server.keys]\n\"key-other\" = \"pro\"\n[server.key_projects]\n\"key-other\" = \"other\"\n",
    )
    .expect("settings");
    let config = settings.to_string_lossy().into_owned();
    let server = Server::start_on(dir.join("data"), projects, &["--config", &config]);
    let client = Client::new();

    // Made without a key, the batch's own project is the default one.
    let (status, created) = post(&client, &server.url("/v2/batch"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["project"], "test");
    let tasks = server.url(&format!(
        "/v2/batch/{}/tasks",
        created["id"].as_str().expect("id")
    ));
    let body = json!({"tasks": [{"movie": "onlyother"}]});
    let (status, answer) = post(&client, &tasks, body.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    let response = client
        .post(&tasks)
        .bearer_auth("key-other")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status();
    let answer: Value = serde_json::from_str(&response.text().await.expect("body")).expect("json");
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["added"], 1);
}

#[tokio::test]
async fn a_batch_survives_a_restart_and_can_be_cancelled() {
    let server = server("batch-restart", &[("short", SHORT)]);
    let client = Client::new();
    let id = started_batch(&client, &server, json!({}), 12).await;
    // Stopped while the batch runs: it goes on after the next start.
    let before = get_json(&client, &server.url(&format!("/v2/batch/{id}"))).await;
    assert!(before["done"].as_u64().expect("done") < 12, "{before}");
    let (data, projects) = server.stop();
    let settings = test_dir("batch-restart-settings").join("settings.toml");
    std::fs::write(&settings, "[delivery]\nbatch_concurrency = 2\n").expect("settings");
    let config = settings.to_string_lossy().into_owned();
    let server = Server::start_on(data, projects, &["--config", &config]);
    let done = wait_for_batch(&client, &server, &id).await;
    let all = get_json(&client, &server.url(&format!("/v2/batch/{id}/results"))).await;
    assert_eq!(
        (done["done"].as_u64(), done["failed"].as_u64()),
        (Some(12), Some(0)),
        "{done} {all}"
    );
    let results = get_json(
        &client,
        &server.url(&format!("/v2/batch/{id}/results?limit=5&offset=10")),
    )
    .await;
    let page = results["results"].as_array().expect("results");
    assert_eq!(page.len(), 2, "{results}");
    assert_eq!(page[0]["index"], 10);
    let probe = common::ffprobe_json(page[1]["url"].as_str().expect("url"));
    assert_eq!(probe["streams"][0]["nb_read_frames"], "30");

    let id = started_batch(&client, &server, json!({"project": "test"}), 30).await;
    let (status, cancelled) = post(
        &client,
        &server.url(&format!("/v2/batch/{id}/cancel")),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert!(cancelled["cancelled"].as_u64().expect("cancelled") > 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = get_json(&client, &server.url(&format!("/v2/batch/{id}"))).await;
    assert_eq!(status["state"], "cancelled");
    assert_eq!(
        status["done"].as_u64().unwrap_or(0)
            + status["failed"].as_u64().unwrap_or(0)
            + status["cancelled"].as_u64().unwrap_or(0)
            + status["running"].as_u64().unwrap_or(0),
        30
    );
    assert_eq!(status["pending"], 0);
    let missing = client
        .get(server.url("/v2/batch/nope"))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn credentials_stay_out_of_answers_and_logs() {
    let receiver = Receiver::start().await;
    let dir = test_dir("secrets");
    let projects = dir.join("projects");
    std::fs::create_dir_all(projects.join("test")).expect("project");
    std::fs::write(projects.join("test/short.json"), SHORT).expect("movie");
    let settings = dir.join("settings.toml");
    std::fs::write(&settings, "[delivery]\nattempts = 2\nbackoff_ms = 20\n").expect("settings");
    let log = dir.join("server.log");
    let config = settings.to_string_lossy().into_owned();
    let server = Server::start_logged(
        dir.join("data"),
        projects,
        &["--config", &config, "--allow-host", "127.0.0.1"],
        &log,
    );
    let client = Client::new();
    let closed = format!("127.0.0.1:{}", free_port());
    let (status, body) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({
            "movie": "short",
            "upload": [
                {"extension": "mp4", "destination": {"type": "s3", "bucket": "videos", "s3host": closed,
                 "secure": false, "aws_access_key_id": "AKIDLEAKCHECK", "aws_secret_access_key": "s3-secret-value"}},
                {"extension": "mp4", "destination": {"type": "http",
                 "url": receiver.url("/fail/x.mp4?X-Amz-Signature=query-secret-value"),
                 "headers": {"Authorization": "Bearer header-secret-value"}}},
            ],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["uploads"][0]["state"], "failed");
    assert_eq!(body["uploads"][1]["state"], "failed");
    let progress = get_json(
        &client,
        &server.url(&format!(
            "/v2/progress/{}",
            body["token"].as_str().expect("token")
        )),
    )
    .await;

    // URLs refused when the request arrives are named without their credentials too.
    let (refused_status, refused_upload) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({"movie": "short", "upload": {"extension": "mp4", "destination": {"type": "http",
               "url": "http://user:userinfo-secret-value@10.1.2.3/x?X-Amz-Signature=refused-secret-value"}}}),
    )
    .await;
    assert_eq!(refused_status, StatusCode::BAD_REQUEST, "{refused_upload}");
    let (refused_status, refused_hook) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({"movie": "short",
               "webhook": "http://10.1.2.3/hook?token=refused-secret-value"}),
    )
    .await;
    assert_eq!(refused_status, StatusCode::BAD_REQUEST, "{refused_hook}");
    assert!(
        refused_hook.to_string().contains("10.1.2.3"),
        "the answer names the refused host: {refused_hook}"
    );
    drop(server);
    let log = std::fs::read_to_string(&log).expect("log");
    assert!(
        log.contains("upload failed"),
        "the log tells of the failures: {log}"
    );
    for secret in [
        "s3-secret-value",
        "query-secret-value",
        "header-secret-value",
        "userinfo-secret-value",
        "refused-secret-value",
    ] {
        for (place, text) in [
            ("answer", body.to_string()),
            ("refused upload", refused_upload.to_string()),
            ("refused webhook", refused_hook.to_string()),
            ("progress", progress.to_string()),
            ("log", log.clone()),
        ] {
            assert!(!text.contains(secret), "{secret} appears in the {place}");
        }
    }
}

#[tokio::test]
async fn events_not_delivered_yet_are_sent_after_a_restart() {
    let dir = test_dir("events-restart");
    let projects = dir.join("projects");
    std::fs::create_dir_all(projects.join("test")).expect("project");
    std::fs::write(projects.join("test/short.json"), SHORT).expect("movie");
    let write_settings = |name: &str, backoff_ms: u64| {
        let path = dir.join(name);
        let text = format!(
            "[delivery]\nattempts = 3\nbackoff_ms = {backoff_ms}\nwebhook_secret = \"{SECRET}\"\n"
        );
        std::fs::write(&path, text).expect("settings");
        path.to_string_lossy().into_owned()
    };
    // Nothing listens on the webhook's port yet, and the first retry is a minute away.
    let port = free_port();
    let slow = write_settings("slow.toml", 60_000);
    let allow = ["--allow-host", "127.0.0.1"];
    let server = Server::start_on(
        dir.join("data"),
        projects.clone(),
        &[&["--config", slow.as_str()][..], &allow].concat(),
    );
    let client = Client::new();
    let (status, body) = post(
        &client,
        &server.url("/v2/render/test"),
        json!({"movie": "short", "webhook": format!("http://127.0.0.1:{port}/events")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().expect("token").to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (data, projects) = server.stop();

    let receiver = Receiver::start_on(port).await;
    let fast = write_settings("fast.toml", 50);
    let _server = Server::start_on(
        data,
        projects,
        &[&["--config", fast.as_str()][..], &allow].concat(),
    );
    receiver
        .wait_for("finished", |s| {
            String::from_utf8_lossy(&s.body).contains("\"finished\"")
        })
        .await;
    let events = receiver.events("/events");
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert!(
        names.contains(&"started") && names.contains(&"finished"),
        "{names:?}"
    );
    assert!(events.iter().all(|e| e["token"] == token.as_str()));
}
