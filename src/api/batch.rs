//! Batches: many renders submitted together, run beside interactive requests and kept in
//! the store so that they survive a restart.
//!
//! ```text
//! POST /v2/batch {routing, webhook?, project?}     ─▶ {id}
//! POST /v2/batch/{id}/tasks {tasks: [{movie, params, format, upload?}]}   (while open)
//! POST /v2/batch/{id}/run                          ─▶ runner: one task per free batch slot,
//!                                                     each a token rendered in the
//!                                                     background, then its uploads
//! GET  /v2/batch/{id}, /v2/batch/{id}/results      ─▶ counts; token, url, status per task
//! POST /v2/batch/{id}/cancel                       ─▶ pending tasks cancelled
//! ```
//!
//! A task's `movie` is `project/movie`, or a bare name in the project the caller's API key
//! is bound to, else the configured default project. Interactive requests keep priority:
//! batch tasks render on the background pool, whose threads run at the lowest scheduling
//! priority and so take only the processor time that requests leave idle.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::handlers::{json, options_for, output_url, pending_record, read_body, unix_now};
use super::route::{BatchAction, Mode};
use super::server::App;
use super::token::Token;
use crate::deliver::finished::{public_message, Lookup, OutputRequest, Priority};
use crate::error::Result;
use crate::output::{Format, OutputOptions};
use crate::project::{is_plain_name, MovieChoice};
use crate::publish::parse_tasks;
use crate::store::{BatchRecord, BatchState, BatchTask, TaskState, TokenRecord};

type Answer = std::result::Result<hyper::Response<crate::deliver::Body>, ApiError>;

/// Tasks one request may add.
const MAX_TASKS_PER_REQUEST: usize = 10_000;
/// Results one page lists, unless `limit` asks for fewer.
const RESULTS_PAGE: u32 = 1000;

pub(super) async fn dispatch(
    app: &Arc<App>,
    id: Option<&str>,
    action: Option<BatchAction>,
    request: Request<Incoming>,
) -> Answer {
    let Some(id) = id else {
        return create(app, request).await;
    };
    let batch = app
        .tokens
        .batch(id)?
        .ok_or_else(|| ApiError::not_found(format!("batch {id:?} not found")))?;
    match action.unwrap_or(BatchAction::Status) {
        BatchAction::Status => status(app, &batch),
        BatchAction::Results => results(app, &batch, &request),
        BatchAction::AddTasks => add_tasks(app, &batch, request).await,
        BatchAction::Run => run(app, &batch),
        BatchAction::Cancel => cancel(app, &batch),
    }
}

/// The request's JSON object; an empty body reads as `{}`.
async fn object_body(
    app: &App,
    request: Request<Incoming>,
) -> std::result::Result<Map<String, Value>, ApiError> {
    let bytes = read_body(app, request).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "request body: expected a JSON object",
        )),
        Err(e) => Err(ApiError::bad_request(format!(
            "request body: expected a JSON object ({e})"
        ))),
    }
}

async fn create(app: &Arc<App>, request: Request<Incoming>) -> Answer {
    app.accounts.caller(request.headers())?;
    let bound = key_project(app, request.headers())
        .unwrap_or(&app.settings.default_project)
        .clone();
    let body = object_body(app, request).await?;
    let routing = super::body::routing_field(
        body.get("routing").or_else(|| body.get("routingkey")),
        "routing",
    )?;
    let project = match body.get("project") {
        None | Some(Value::Null) => bound,
        Some(Value::String(name)) if is_plain_name(name) => name.clone(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "project: expected a project name, found {other}"
            )))
        }
    };
    let webhook = super::body::webhook_field(body.get("webhook").cloned())?;
    if let Some(url) = &webhook {
        app.publisher.check_url(url)?;
    }
    let id = crate::publish::random_id();
    let batch = BatchRecord {
        id: id.clone(),
        routing,
        project,
        webhook: webhook.map(String::from),
        state: BatchState::Open,
        created_at: unix_now(),
    };
    app.tokens.insert_batch(&batch)?;
    tracing::info!(batch = %id, project = %batch.project, "batch created");
    Ok(json(
        StatusCode::OK,
        &json!({"id": id, "project": batch.project, "routing": batch.routing, "status": 200}),
    ))
}

/// The project the configuration binds to the caller's API key, if any.
fn key_project<'a>(app: &'a App, headers: &hyper::HeaderMap) -> Option<&'a String> {
    app.accounts
        .key(headers)
        .and_then(|key| app.settings.key_projects.get(key))
}

fn conflict(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "batch_state", message)
}

async fn add_tasks(app: &Arc<App>, batch: &BatchRecord, request: Request<Incoming>) -> Answer {
    app.accounts.caller(request.headers())?;
    let request_headers = request.headers().clone();
    if batch.state != BatchState::Open {
        return Err(conflict(format!(
            "batch {} is {}; tasks are added before it runs",
            batch.id,
            batch.state.as_str()
        )));
    }
    let body = object_body(app, request).await?;
    let list = match body.get("tasks") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => {
            return Err(ApiError::bad_request(
                "tasks: required, a list of {movie, params, format} objects",
            ))
        }
    };
    if list.len() > MAX_TASKS_PER_REQUEST {
        return Err(ApiError::bad_request(format!(
            "tasks: at most {MAX_TASKS_PER_REQUEST} per request, found {}; send them in parts",
            list.len()
        )));
    }
    // A bare movie name is in the project the caller's key is bound to, else the batch's.
    let project = key_project(app, &request_headers).unwrap_or(&batch.project);
    let tasks = list
        .iter()
        .enumerate()
        .map(|(i, task)| {
            read_task(app, project, task).map_err(|e| e.with_prefix(&format!("tasks[{i}]")))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    // Checked again as they are added: the batch may have started meanwhile.
    let total = app
        .tokens
        .add_batch_tasks(&batch.id, &tasks)?
        .ok_or_else(|| {
            conflict(format!(
                "batch {} started while its tasks arrived; tasks are added before it runs",
                batch.id
            ))
        })?;
    Ok(json(
        StatusCode::OK,
        &json!({"id": batch.id, "added": tasks.len(), "total": total, "status": 200}),
    ))
}

/// One task, checked the way its render will check it.
fn read_task(app: &App, project: &str, task: &Value) -> std::result::Result<BatchTask, ApiError> {
    let Some(task) = task.as_object() else {
        return Err(ApiError::bad_request("expected an object with `movie`"));
    };
    let (project, movie) = match task.get("movie").and_then(Value::as_str) {
        Some(name) => match name.split_once('/') {
            Some((project, movie)) => (project.to_owned(), movie.to_owned()),
            None => (project.to_owned(), name.to_owned()),
        },
        None => {
            return Err(ApiError::bad_request(
                "movie: required, \"project/movie\" or a movie name",
            ))
        }
    };
    if !is_plain_name(&project) || !is_plain_name(&movie) {
        return Err(ApiError::bad_request(format!(
            "movie: expected \"project/movie\" or a movie name, found {:?}",
            task.get("movie")
        )));
    }
    let params = match task.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(ApiError::bad_request("params: expected an object")),
    };
    let format = match task.get("format").and_then(Value::as_str) {
        None => Format::Mp4,
        Some(ext) => Format::from_extension(ext.trim_start_matches('.'))
            .map_err(|e| ApiError::bad_request(format!("format: {e}")))?,
    };
    let upload = task.get("upload").filter(|v| !v.is_null()).cloned();
    if let Some(upload) = &upload {
        let tasks = parse_tasks(upload).map_err(ApiError::bad_request)?;
        app.publisher.check_tasks(&tasks)?;
    }
    app.finished
        .check(&project, &MovieChoice::Name(movie.clone()), &params, format)?;
    Ok(BatchTask {
        index: 0,
        project,
        movie,
        params: Value::Object(params),
        format: format.extension().to_owned(),
        upload,
        token: None,
        state: TaskState::Pending,
        error: None,
    })
}

fn run(app: &Arc<App>, batch: &BatchRecord) -> Answer {
    let counts = app.tokens.batch_counts(&batch.id)?;
    if counts.total == 0 {
        return Err(ApiError::bad_request(format!(
            "batch {} has no tasks; add them with POST /v2/batch/{}/tasks",
            batch.id, batch.id
        )));
    }
    if !app
        .tokens
        .set_batch_state(&batch.id, BatchState::Running, Some(BatchState::Open))?
    {
        return Err(conflict(format!(
            "batch {} is {}; a batch runs once",
            batch.id,
            batch.state.as_str()
        )));
    }
    tracing::info!(batch = %batch.id, tasks = counts.total, "batch started");
    if let Some(url) = &batch.webhook {
        app.publisher.send_event(
            url.clone(),
            "batch_started",
            json!({"batch": batch.id, "total": counts.total}),
        );
    }
    spawn_runner(app, batch.id.clone());
    Ok(json(
        StatusCode::OK,
        &json!({
            "id": batch.id,
            "runId": batch.id,
            "state": BatchState::Running.as_str(),
            "total": counts.total,
            "status": 200,
        }),
    ))
}

fn status(app: &App, batch: &BatchRecord) -> Answer {
    let counts = app.tokens.batch_counts(&batch.id)?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "id": batch.id,
            "state": batch.state.as_str(),
            "project": batch.project,
            "routing": batch.routing,
            "created": batch.created_at,
            "total": counts.total,
            "done": counts.done,
            "failed": counts.failed,
            "pending": counts.pending,
            "running": counts.running,
            "cancelled": counts.cancelled,
            "status": 200,
        }),
    ))
}

fn results(app: &App, batch: &BatchRecord, request: &Request<Incoming>) -> Answer {
    let query = request.uri().query().unwrap_or_default();
    let mut offset = 0;
    let mut limit = RESULTS_PAGE;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let number = || {
            value.parse::<u32>().map_err(|_| {
                ApiError::bad_request(format!("{key}: expected a whole number, found {value:?}"))
            })
        };
        match key.as_ref() {
            "offset" => offset = number()?,
            "limit" => limit = number()?.clamp(1, RESULTS_PAGE),
            _ => {}
        }
    }
    let tasks = app.tokens.batch_tasks(&batch.id, offset, limit)?;
    let mut listed = Vec::with_capacity(tasks.len());
    for task in &tasks {
        let format = Format::from_extension(&task.format).unwrap_or(Format::Mp4);
        let mut entry = json!({
            "index": task.index,
            "movie": format!("{}/{}", task.project, task.movie),
            "format": task.format,
            "token": task.token,
            "url": task.token.as_ref().map(|t| output_url(app, Mode::Render, t, format)),
            "status": task.state.as_str(),
        });
        if let Some(error) = &task.error {
            entry["error"] = error.clone().into();
        }
        if let (Some(token), Some(_)) = (&task.token, &task.upload) {
            let uploads: Vec<Value> = app
                .tokens
                .uploads(token)?
                .into_iter()
                .map(|row| {
                    row.result
                        .unwrap_or_else(|| json!({"task": row.task, "state": row.state.as_str()}))
                })
                .collect();
            entry["uploads"] = uploads.into();
        }
        listed.push(entry);
    }
    let next = (tasks.len() as u32 == limit).then(|| offset + limit);
    Ok(json(
        StatusCode::OK,
        &json!({
            "id": batch.id,
            "runId": batch.id,
            "state": batch.state.as_str(),
            "results": listed,
            "next_offset": next,
            "status": 200,
        }),
    ))
}

fn cancel(app: &App, batch: &BatchRecord) -> Answer {
    if matches!(batch.state, BatchState::Done | BatchState::Cancelled) {
        return Err(conflict(format!(
            "batch {} is already {}",
            batch.id,
            batch.state.as_str()
        )));
    }
    let cancelled_now = [BatchState::Open, BatchState::Running]
        .into_iter()
        .map(|from| {
            app.tokens
                .set_batch_state(&batch.id, BatchState::Cancelled, Some(from))
        })
        .collect::<Result<Vec<bool>>>()?
        .contains(&true);
    if !cancelled_now {
        return Err(conflict(format!("batch {} ended meanwhile", batch.id)));
    }
    let cancelled = app.tokens.cancel_batch_tasks(&batch.id)?;
    tracing::info!(batch = %batch.id, cancelled, "batch cancelled");
    if let Some(url) = &batch.webhook {
        let counts = app.tokens.batch_counts(&batch.id)?;
        app.publisher.send_event(
            url.clone(),
            "batch_cancelled",
            json!({"batch": batch.id, "total": counts.total, "done": counts.done,
                   "failed": counts.failed, "cancelled": counts.cancelled}),
        );
    }
    Ok(json(
        StatusCode::OK,
        &json!({
            "id": batch.id,
            "state": BatchState::Cancelled.as_str(),
            "cancelled": cancelled,
            "status": 200,
        }),
    ))
}

/// Starts the runners of batches that were running when the server stopped.
pub(super) fn resume(app: &Arc<App>) -> Result<usize> {
    let ids = app.tokens.resume_batches()?;
    for id in &ids {
        spawn_runner(app, id.clone());
    }
    Ok(ids.len())
}

fn spawn_runner(app: &Arc<App>, id: String) {
    tokio::spawn(run_batch(Arc::clone(app), id));
}

/// Runs a batch's pending tasks, each under one of the shared batch slots, until none is
/// left or the batch is cancelled.
async fn run_batch(app: Arc<App>, id: String) {
    let mut running = tokio::task::JoinSet::new();
    loop {
        let Ok(slot) = Arc::clone(&app.batch_slots).acquire_owned().await else {
            break;
        };
        if stopping(&app) {
            break;
        }
        let batch = match app.tokens.batch(&id) {
            Ok(Some(batch)) if batch.state == BatchState::Running => batch,
            _ => break,
        };
        let task = match app.tokens.claim_batch_task(&id) {
            Ok(Some(task)) => task,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(batch = %id, error = %e, "batch task not claimed");
                break;
            }
        };
        let app = Arc::clone(&app);
        running.spawn(async move {
            let _slot = slot;
            run_task(&app, &batch, task).await;
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
    if stopping(&app) {
        // Resumed at the next start.
        return;
    }
    let finished = app
        .tokens
        .set_batch_state(&id, BatchState::Done, Some(BatchState::Running));
    if let (Ok(true), Ok(Some(batch)), Ok(counts)) = (
        finished,
        app.tokens.batch(&id),
        app.tokens.batch_counts(&id),
    ) {
        tracing::info!(batch = %id, done = counts.done, failed = counts.failed, "batch finished");
        if let Some(url) = batch.webhook {
            app.publisher.send_event(
                url,
                "batch_finished",
                json!({"batch": id, "total": counts.total, "done": counts.done,
                       "failed": counts.failed}),
            );
        }
    }
}

fn stopping(app: &App) -> bool {
    app.stopping.load(std::sync::atomic::Ordering::SeqCst)
}

async fn run_task(app: &Arc<App>, batch: &BatchRecord, task: BatchTask) {
    let index = task.index;
    let (state, token, error) = match render_task(app, batch, &task).await {
        Ok(token) => (TaskState::Done, Some(token), None),
        // A render cut short by the shutdown runs again after the restart.
        Err((token, _)) if stopping(app) => (TaskState::Pending, token, None),
        Err((token, message)) => (TaskState::Failed, token, Some(message)),
    };
    if let Err(e) =
        app.tokens
            .set_batch_task(&batch.id, index, state, token.as_deref(), error.as_deref())
    {
        tracing::warn!(batch = %batch.id, task = index, error = %e, "batch task state not saved");
    }
}

/// Renders one task (a token of its own, made once and kept across restarts), then runs
/// its uploads. The token, or the token (if made) and why it failed.
async fn render_task(
    app: &Arc<App>,
    batch: &BatchRecord,
    task: &BatchTask,
) -> std::result::Result<String, (Option<String>, String)> {
    let fail =
        |token: Option<&str>, e: crate::Error| (token.map(str::to_owned), public_message(&e));
    let existing = match &task.token {
        Some(token) => app
            .tokens
            .get(token, unix_now())
            .map_err(|e| fail(Some(token), e))?,
        None => None,
    };
    let record = match existing {
        Some(record) => record,
        None => new_token(app, batch, task).map_err(|e| fail(None, e))?,
    };
    let token = record.token.clone();
    let format = Format::from_extension(&task.format).map_err(|e| fail(Some(&token), e))?;
    let uploads = record
        .upload
        .as_ref()
        .and_then(|u| parse_tasks(u).ok())
        .unwrap_or_default();
    // After a restart, uploads claimed before it are the publisher's to run again.
    let uploads = app
        .publisher
        .claim(&record, &uploads)
        .map_err(|e| fail(Some(&token), e))?;
    let id = token.rsplit(':').next().unwrap_or_default().to_owned();
    let request = OutputRequest {
        record: record.clone(),
        options: options_for(format, &id, &OutputOptions::default()),
        token_id: id,
        format,
    };
    let rendered = match app.finished.lookup(&request) {
        Ok(Lookup::Stored(stored)) => Ok(stored),
        Ok(Lookup::Rendering(render)) => render.await,
        Ok(Lookup::Missing) => {
            app.finished
                .start_at(request, (), Priority::Background)
                .await
        }
        Err(e) => Err(e),
    };
    if !uploads.is_empty() {
        let failed = rendered.as_ref().err();
        app.publisher
            .run_claimed(&record, &uploads, failed, Priority::Background)
            .await;
    }
    rendered
        .map(|_| token.clone())
        .map_err(|e| fail(Some(&token), e))
}

fn new_token(app: &App, batch: &BatchRecord, task: &BatchTask) -> Result<TokenRecord> {
    let format = Format::from_extension(&task.format)?;
    let choice = MovieChoice::Name(task.movie.clone());
    let params = task.params.as_object().cloned().unwrap_or_default();
    let total_frames = app
        .finished
        .check(&task.project, &choice, &params, format)?;
    let token = Token::generate(&app.settings.region)?;
    let record = TokenRecord {
        routing_key: batch.routing.clone(),
        parallel: 1,
        upload: task.upload.clone(),
        ..pending_record(
            app,
            &token,
            &task.project,
            &choice,
            &params,
            format,
            total_frames,
        )
    };
    app.tokens.insert(&record)?;
    if let Some(url) = &batch.webhook {
        app.tokens.set_webhook(&record.token, url)?;
    }
    app.tokens.set_batch_task(
        &batch.id,
        task.index,
        TaskState::Running,
        Some(&record.token),
        None,
    )?;
    Ok(record)
}
