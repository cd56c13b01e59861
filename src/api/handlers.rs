//! The handlers behind each [`Route`]: v2 token creation, progress and deletion, the
//! retrieval of a token's outputs and their parts, v1 direct rendering, and health.
//!
//! `render` answers with finished outputs; `get` and `play` with streams
//! (`crate::deliver::stream`), except for outputs that only exist whole (stills, ProRes),
//! which every mode serves finished.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::accounts::RenderSlot;
use super::body::RenderBody;
use super::error::ApiError;
use super::route::{Mode, Route};
use super::server::App;
use super::token::Token;
use crate::deliver::file::{respond, StoredFile};
use crate::deliver::finished::{part_key, Lookup, OutputRequest, Priority};
use crate::deliver::stream::{StreamMode, StreamRequest};
use crate::deliver::{full, Body};
use crate::error::Result;
use crate::output::{Format, OutputOptions, RESERVED_KEYS};
use crate::project::{MovieChoice, Project};
use crate::store::{OutputRecord, RenderState, TokenRecord};

type Answer = Result<Response<Body>, ApiError>;

pub(super) use crate::store::unix_now;

pub(super) async fn dispatch(app: &Arc<App>, route: Route, request: Request<Incoming>) -> Answer {
    match route {
        Route::Health => Ok(health(app)),
        Route::Metrics => Ok(metrics(app)),
        Route::CreateRender { project } => create(app, &project, request, true).await,
        Route::CreateToken { project } => create(app, &project, request, false).await,
        Route::Progress { token } => progress(app, &token, &request),
        Route::DeleteToken { token } => delete(app, &token, &request),
        Route::Output {
            mode,
            token,
            extension,
        } => output(app, mode, &token, &extension, &request).await,
        Route::Part { mode, id, name } => part(app, mode, &id, &name, &request).await,
        Route::Direct {
            mode,
            project,
            movie,
            extension,
        } => direct(app, mode, &project, &movie, &extension, &request).await,
        Route::CreateBatch => super::batch::dispatch(app, None, None, request).await,
        Route::Batch { id, action } => {
            super::batch::dispatch(app, Some(&id), Some(action), request).await
        }
    }
}

pub(super) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(full(value.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The request body, refused with 413 beyond the limit.
pub(super) async fn read_body(app: &App, request: Request<Incoming>) -> Result<Bytes, ApiError> {
    let limit = app.settings.max_body_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let timeout = app.settings.body_read_timeout;
    let collected =
        tokio::time::timeout(timeout, Limited::new(request.into_body(), limit).collect())
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!(
                        "the request body did not arrive within {} s",
                        timeout.as_secs()
                    ),
                )
            })?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "the request body could not be read: {e}"
        ))),
    }
}

/// The URL of a token's output in `mode`.
pub(super) fn output_url(app: &App, mode: Mode, token: &str, format: Format) -> String {
    format!("{}/v2/{}/{token}.{format}", app.base_url, mode.as_str())
}

async fn create(app: &Arc<App>, project: &str, request: Request<Incoming>, start: bool) -> Answer {
    let caller = app.accounts.caller(request.headers())?;
    let bytes = read_body(app, request).await?;
    let body = RenderBody::parse(&bytes)?;
    if let Some(url) = &body.webhook {
        app.publisher.check_url(url)?;
    }
    app.publisher.check_tasks(&body.uploads)?;
    let total_frames = app
        .finished
        .check(project, &body.movie, &body.params, body.format)?;
    let token = Token::generate(&app.settings.region)?;
    let record = TokenRecord {
        routing_key: body.routing_key.clone(),
        parallel: body.parallel.unwrap_or(0),
        upload: body.upload.clone(),
        ..pending_record(
            app,
            &token,
            project,
            &body.movie,
            &body.params,
            body.format,
            total_frames,
        )
    };
    // A render beyond the caller's tier is refused before any token exists.
    let slot = start
        .then(|| app.accounts.start_render(&caller))
        .transpose()?;
    app.tokens.insert(&record)?;
    if let Some(url) = &body.webhook {
        app.tokens.set_webhook(&record.token, url.as_str())?;
    }
    let record_expires = record.expires_at;
    tracing::info!(token = %token, project, format = %body.format, start, "token created");

    let mut uploads = None;
    let mut accepted = false;
    if let Some(slot) = slot {
        // Claimed before the render, so that its end does not start them a second time.
        let tasks = app.publisher.claim(&record, &body.uploads)?;
        let request = OutputRequest {
            record: record.clone(),
            token_id: token.id().to_owned(),
            format: body.format,
            options: options_for(body.format, token.id(), &OutputOptions::default()),
        };
        let render = {
            let finished = Arc::clone(&app.finished);
            async move { finished.start(request, slot).await }
        };
        // The render and then its tasks run as a task of their own, so that a client that
        // hangs up cuts neither short; a failed render fails its tasks, which call `onerror`.
        let publisher = Arc::clone(&app.publisher);
        let work = tokio::spawn(async move {
            let rendered = render.await;
            let results = match tasks.is_empty() {
                true => Vec::new(),
                false => {
                    publisher
                        .run_claimed(
                            &record,
                            &tasks,
                            rendered.as_ref().err(),
                            Priority::Interactive,
                        )
                        .await
                }
            };
            (rendered, results)
        });
        if body.run_async {
            accepted = !body.uploads.is_empty();
        } else {
            let (rendered, results) = work
                .await
                .map_err(|e| ApiError::from(crate::Error::internal(format!("render task: {e}"))))?;
            rendered?;
            accepted = body.uploads.iter().any(|task| task.run_async);
            uploads = (!results.is_empty()).then_some(results);
        }
    }
    let status = if accepted {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut answer = serde_json::json!({
        "token": token.to_string(),
        "url": output_url(app, Mode::Render, &token.to_string(), body.format),
        "expires": record_expires,
        "status": status.as_u16(),
    });
    if let Some(uploads) = uploads {
        answer["uploads"] = uploads.into();
    }
    Ok(json(status, &answer))
}

/// A new token's record, not rendered yet, expiring after the configured lifetime.
pub(super) fn pending_record(
    app: &App,
    token: &Token,
    project: &str,
    movie: &MovieChoice,
    params: &serde_json::Map<String, serde_json::Value>,
    format: Format,
    total_frames: u64,
) -> TokenRecord {
    let now = unix_now();
    TokenRecord {
        token: token.to_string(),
        project: project.to_owned(),
        movie: movie.to_json(),
        params: serde_json::Value::Object(params.clone()),
        format: format.extension().to_owned(),
        routing_key: "default".to_owned(),
        parallel: 0,
        upload: None,
        created_at: now,
        expires_at: now + app.settings.token_lifetime.as_secs() as i64,
        total_frames,
        done_frames: 0,
        state: RenderState::Pending,
        error: None,
    }
}

/// A token of this region from a path segment, and its record; 404 otherwise, or a
/// redirect to the token's region when its base URL is configured.
fn find_token(
    app: &App,
    text: &str,
    request: &Request<Incoming>,
) -> Result<(Token, TokenRecord), ApiError> {
    let Some(token) = Token::parse(text) else {
        return Err(ApiError::not_found(format!("token {text:?} not found")));
    };
    let foreign = token.region() != app.settings.region;
    if let Some(base) = app.settings.regions.get(token.region()).filter(|_| foreign) {
        let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let location = format!("{}{target}", base.trim_end_matches('/'));
        let mut redirect = ApiError::new(
            StatusCode::TEMPORARY_REDIRECT,
            "other_region",
            format!(
                "token {token} is served by region {:?} at {location}",
                token.region()
            ),
        );
        redirect.location = Some(location);
        return Err(redirect);
    }
    if token.region() != app.settings.region {
        return Err(ApiError::not_found(format!(
            "token {token} belongs to region {:?}; this server is region {:?}",
            token.region(),
            app.settings.region
        )));
    }
    match app.tokens.get(&token.to_string(), unix_now())? {
        Some(record) => Ok((token, record)),
        None => Err(ApiError::not_found(format!(
            "token {token} not found (never made, deleted or expired)"
        ))),
    }
}

fn progress(app: &App, text: &str, request: &Request<Incoming>) -> Answer {
    let (token, record) = find_token(app, text, request)?;
    let total = record.total_frames;
    let live = app.finished.progress(&record.token).map_or(0, |p| p.done());
    let done = match record.state {
        RenderState::Done => total,
        _ => record.done_frames.max(live).min(total),
    };
    let mut body = serde_json::json!({
        "token": token.to_string(),
        "done": done,
        "total": total,
    });
    if let (RenderState::Failed, Some(error)) = (record.state, &record.error) {
        body["error"] = serde_json::Value::String(error.clone());
    }
    if record.upload.is_some() {
        let uploads: Vec<serde_json::Value> = app
            .tokens
            .uploads(&record.token)?
            .into_iter()
            .map(|row| {
                row.result.unwrap_or_else(
                    || serde_json::json!({"task": row.task, "state": row.state.as_str()}),
                )
            })
            .collect();
        body["uploads"] = uploads.into();
    }
    Ok(json(StatusCode::OK, &body))
}

/// Removes a token's record and files.
pub(super) fn remove_token(app: &App, token: &str) -> Result<bool> {
    let existed = app.tokens.delete(token)?;
    if let Some(parsed) = Token::parse(token) {
        app.finished.blobs().remove_token(parsed.id())?;
    }
    Ok(existed)
}

fn delete(app: &App, text: &str, request: &Request<Incoming>) -> Answer {
    let (token, _) = find_token(app, text, request)?;
    remove_token(app, &token.to_string())?;
    tracing::info!(token = %token, "token deleted");
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"token": token.to_string(), "deleted": true, "status": 200}),
    ))
}

/// Output options from the query string's reserved keys; HLS and DASH parts are named
/// under the token's id, so that playlists find them at `/v2/<mode>/<id>/<part>`.
pub(super) fn options_for(
    format: Format,
    token_id: &str,
    options: &OutputOptions,
) -> OutputOptions {
    let mut options = options.for_format(format);
    if matches!(format, Format::M3u8 | Format::Mpd) {
        options.parts_prefix = format!("{token_id}/");
    }
    options
}

fn query_pairs(request: &Request<Incoming>) -> Vec<(String, String)> {
    let query = request.uri().query().unwrap_or_default();
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn reserved_options(pairs: &[(String, String)]) -> Result<OutputOptions, ApiError> {
    let reserved = pairs
        .iter()
        .filter(|(k, _)| RESERVED_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()));
    Ok(OutputOptions::from_pairs(reserved)?)
}

async fn output(
    app: &Arc<App>,
    mode: Mode,
    text: &str,
    extension: &str,
    request: &Request<Incoming>,
) -> Answer {
    let (token, record) = find_token(app, text, request)?;
    let format = Format::from_extension(extension)?;
    let options = reserved_options(&query_pairs(request))?;
    serve_token_output(app, mode, &token, record, format, &options, request).await
}

/// Serves the output of `record` in `format`, rendering it first if needed.
async fn serve_token_output(
    app: &App,
    mode: Mode,
    token: &Token,
    record: TokenRecord,
    format: Format,
    options: &OutputOptions,
    request: &Request<Incoming>,
) -> Answer {
    if mode != Mode::Render {
        let options = options.for_format(format);
        let stream_request = StreamRequest {
            record: &record,
            token_id: token.id(),
            format,
            options: &options,
            headers: request.headers(),
            head: request.method() == Method::HEAD,
        };
        let admit = stream_admission(app, request);
        let answer = match mode {
            Mode::Get => app.streams.get(stream_request, admit).await?,
            _ => app.streams.play(stream_request, admit).await?,
        };
        if let Some(response) = answer {
            tracing::debug!(token = %token, mode = mode.as_str(), format = %format, "streaming");
            return Ok(response);
        }
    }
    let expires_at = record.expires_at;
    let output_request = OutputRequest {
        record,
        token_id: token.id().to_owned(),
        format,
        options: options_for(format, token.id(), options),
    };
    let output = get_output(app, output_request, request).await?;
    tracing::debug!(token = %token, mode = mode.as_str(), key = %output.key, "serving output");
    serve_output(app, token.id(), &output, expires_at, request).await
}

/// Admission for a stream that renders a whole output: it counts against the caller's
/// tier while it runs.
fn stream_admission<'a>(
    app: &'a App,
    request: &'a Request<Incoming>,
) -> impl FnOnce() -> Result<RenderSlot, ApiError> + 'a {
    || {
        let caller = app.accounts.caller(request.headers())?;
        app.accounts.start_render(&caller)
    }
}

async fn part(app: &App, mode: Mode, id: &str, name: &str, request: &Request<Incoming>) -> Answer {
    // Streams name their parts under `<id>.<ext>/`, finished outputs under `<id>/`.
    if let (Some((id, extension)), Some(stream_mode)) = (id.split_once('.'), stream_mode(mode)) {
        let Some(token) = Token::from_id(&app.settings.region, id) else {
            return Err(ApiError::not_found(format!("no token has the id {id:?}")));
        };
        let (token, record) = find_token(app, &token.to_string(), request)?;
        let format = Format::from_extension(extension)?;
        let options = OutputOptions::default();
        let stream_request = StreamRequest {
            record: &record,
            token_id: token.id(),
            format,
            options: &options,
            headers: request.headers(),
            head: request.method() == Method::HEAD,
        };
        let admit = stream_admission(app, request);
        return app
            .streams
            .part(stream_mode, stream_request, name, admit)
            .await;
    }
    let Some(token) = Token::from_id(&app.settings.region, id) else {
        return Err(ApiError::not_found(format!("no token has the id {id:?}")));
    };
    let (token, record) = find_token(app, &token.to_string(), request)?;
    let key = part_key(name);
    match app.finished.stored(&record.token, token.id(), &key)? {
        Some(output) => {
            app.finished.count_hit();
            serve_output(app, token.id(), &output, record.expires_at, request).await
        }
        None => Err(ApiError::not_found(format!(
            "token {token} has no part {name:?}; parts exist once its playlist is rendered"
        ))),
    }
}

/// A stored output at once; a render in flight joined; otherwise a new render, admitted
/// against the caller's tier.
async fn get_output(
    app: &App,
    output_request: OutputRequest,
    request: &Request<Incoming>,
) -> Result<OutputRecord, ApiError> {
    match app.finished.lookup(&output_request)? {
        Lookup::Stored(stored) => {
            app.finished.count_hit();
            Ok(stored)
        }
        Lookup::Rendering(render) => Ok(render.await?),
        Lookup::Missing => {
            let caller = app.accounts.caller(request.headers())?;
            let slot = app.accounts.start_render(&caller)?;
            Ok(app.finished.start(output_request, slot).await?)
        }
    }
}

async fn serve_output(
    app: &App,
    token_id: &str,
    output: &OutputRecord,
    expires_at: i64,
    request: &Request<Incoming>,
) -> Answer {
    let seconds_left = (expires_at - unix_now()).max(0);
    let file = StoredFile {
        path: app.finished.path_of(token_id, output)?,
        size_bytes: output.size_bytes,
        etag: output.etag.clone(),
        content_type: output.content_type.clone(),
        cache_control: format!("public, max-age={seconds_left}, immutable"),
    };
    let head = request.method() == Method::HEAD;
    Ok(respond(&file, request.headers(), head, &app.files).await)
}

/// v1: renders from the path and query alone. Requests with the same project, movie,
/// extension and params share one hidden token, so a repeated request is served from
/// the store, byte for byte the same.
async fn direct(
    app: &Arc<App>,
    mode: Mode,
    project_name: &str,
    movie_name: &str,
    extension: &str,
    request: &Request<Incoming>,
) -> Answer {
    let format = Format::from_extension(extension)?;
    let pairs = query_pairs(request);
    let options = reserved_options(&pairs)?;
    let project = Project::find(&app.settings.projects_dir, project_name)?;
    let movie = project.movie(movie_name)?;
    let variable_pairs = pairs
        .iter()
        .filter(|(k, _)| !RESERVED_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()));
    let params = crate::movie::Params::from_strings(&movie, variable_pairs)?;
    let typed: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_json()))
        .filter(|(_, value)| !value.is_null())
        .collect();

    let identity =
        serde_json::json!([project_name, movie_name, format.extension(), &typed]).to_string();
    let digest = blake3::hash(identity.as_bytes());
    let id: String = digest.as_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let token = Token::from_id(&app.settings.region, &id)
        .ok_or_else(|| ApiError::bad_request("cannot derive a token for this request"))?;
    let now = unix_now();
    let record = match app.tokens.get(&token.to_string(), now)? {
        Some(record) => record,
        None => {
            // An expired hidden token may linger until the janitor comes: replace it.
            remove_token(app, &token.to_string())?;
            let choice = MovieChoice::Name(movie_name.to_owned());
            let total_frames = app.finished.check(project_name, &choice, &typed, format)?;
            let record = pending_record(
                app,
                &token,
                project_name,
                &choice,
                &typed,
                format,
                total_frames,
            );
            // Two first requests at once: one insert wins, the other reads it back.
            if app.tokens.insert(&record).is_err() {
                app.tokens
                    .get(&record.token, now)?
                    .ok_or_else(|| ApiError::bad_request("the request's token vanished"))?
            } else {
                record
            }
        }
    };
    serve_token_output(app, mode, &token, record, format, &options, request).await
}

fn stream_mode(mode: Mode) -> Option<StreamMode> {
    match mode {
        Mode::Render => None,
        Mode::Get => Some(StreamMode::Get),
        Mode::Play => Some(StreamMode::Play),
    }
}

fn metrics(app: &App) -> Response<Body> {
    let mut response = Response::new(full(
        app.metrics
            .render(&app.finished.stats(), &app.streams.stats()),
    ));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn health(app: &App) -> Response<Body> {
    let encoders = app.finished.encoders();
    let formats: serde_json::Map<String, serde_json::Value> = Format::ALL
        .iter()
        .map(|f| {
            let available = f.ffmpeg_profile().is_none_or(|_| encoders.ffmpeg.is_some());
            (f.extension().to_owned(), available.into())
        })
        .collect();
    json(
        StatusCode::OK,
        &serde_json::json!({
            "status": "ok",
            "region": app.settings.region,
            "ffmpeg": encoders.ffmpeg.as_ref().map(|f| f.version()),
            "h264_encoder": encoders.h264.name(),
            "formats": formats,
        }),
    )
}
