//! Delivery to other services: upload tasks that send finished outputs to S3-compatible
//! stores and HTTP endpoints, the callbacks that report their results, and webhook events
//! about renders, all signed and retried.
//!
//! ```text
//! POST /v2/render + upload ─▶ claim every task ─▶ render ─▶ sync tasks: send, answer with results
//!                                                        └▶ async tasks: send in the background
//! POST /v2/token + upload ─▶ (a retrieval renders the default output) ─▶ every task
//! each task: its output (rendered if missing) ─▶ s3 | http, retried ─▶ store the result
//!            ─▶ onsuccess | onerror callback ─▶ webhook event `uploaded` | `upload_failed`
//! renders with a webhook ─▶ started, progress (each quarter), finished | failed
//! ```
//!
//! A task is claimed in the store before it runs, so it is sent once however many renders
//! finish its output; tasks still running when the server stops run again when it starts,
//! and so do events not delivered yet.

pub mod http;
pub mod s3;
pub mod send;
pub mod sign;
pub mod task;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use serde_json::{json, Value};

pub use send::{DeliverySettings, Failure, Outbound};
pub use task::{parse_tasks, Destination, UploadTask};

use crate::assets::AddressPolicy;
use crate::deliver::finished::{
    public_message, Finished, Lookup, OutputRequest, Priority, RenderEvents,
};
use crate::error::Result;
use crate::output::{Format, OutputOptions};
use crate::store::{unix_now, OutputRecord, PendingEvent, TokenRecord, TokenStore, UploadState};

/// The id part of a token (`v2:<region>:<id>`), which names its folder of outputs.
fn token_id(token: &str) -> &str {
    token.rsplit(':').next().unwrap_or(token)
}

/// Sends uploads, callbacks and events.
pub struct Publisher {
    me: Weak<Publisher>,
    finished: Arc<Finished>,
    tokens: Arc<TokenStore>,
    outbound: Outbound,
    /// The base of URLs in events.
    base_url: String,
    /// The last quarter of progress told per token.
    quarters: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher whose requests obey `policy`; it listens to `finished`'s renders.
    pub fn new(
        finished: Arc<Finished>,
        tokens: Arc<TokenStore>,
        policy: Arc<AddressPolicy>,
        settings: DeliverySettings,
        base_url: String,
    ) -> Result<Arc<Self>> {
        let outbound = Outbound::new(policy, settings)?;
        let publisher = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            finished: Arc::clone(&finished),
            tokens,
            outbound,
            base_url,
            quarters: Mutex::new(HashMap::new()),
        });
        let events: Arc<dyn RenderEvents> = publisher.clone();
        finished.set_events(events);
        Ok(publisher)
    }

    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    fn output_url(&self, token: &str, format: &str) -> String {
        format!("{}/v2/render/{token}.{format}", self.base_url)
    }

    /// Checks a webhook or callback URL now (scheme, literal addresses); host names are
    /// checked when it is called.
    pub fn check_url(&self, url: &url::Url) -> Result<()> {
        self.outbound.check(url)
    }

    /// Checks every URL the tasks name (destinations, callbacks) the way [`Self::check_url`]
    /// does; the error names the task.
    pub fn check_tasks(&self, tasks: &[UploadTask]) -> Result<()> {
        for (index, task) in tasks.iter().enumerate() {
            let destination = match &task.destination {
                Destination::Http(d) => Some(d.url.clone()),
                Destination::S3(d) => d
                    .host
                    .as_ref()
                    .and_then(|_| url::Url::parse(&s3::Endpoint::of(d, "object").url()).ok()),
            };
            let named = [
                ("destination", destination.as_ref()),
                ("onsuccess", task.onsuccess.as_ref()),
                ("onerror", task.onerror.as_ref()),
            ];
            for (field, url) in named {
                if let Some(url) = url {
                    self.check_url(url).map_err(|e| {
                        crate::Error::new(
                            e.kind(),
                            format!("upload[{index}].{field}: {}", e.message()),
                        )
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Claims a token's upload tasks, so that only the caller runs them; the tasks it
    /// claimed (none that were claimed before, such as after a restart), with their
    /// indexes.
    pub fn claim(
        &self,
        record: &TokenRecord,
        tasks: &[UploadTask],
    ) -> Result<Vec<(u32, UploadTask)>> {
        let mut claimed = Vec::with_capacity(tasks.len());
        for (index, task) in tasks.iter().enumerate() {
            let index = index as u32;
            if self.tokens.claim_upload(&record.token, index)? {
                claimed.push((index, task.clone()));
            }
        }
        Ok(claimed)
    }

    /// Runs claimed tasks: synchronous ones now, their results returned in order;
    /// asynchronous ones in the background, reported as running. After a failed render
    /// (`render_error`) every task fails at once, without rendering again. At
    /// [`Priority::Background`] (a batch's task, already off any request) every task
    /// runs now, so that it stays within the batch's slot, and the outputs it renders
    /// take only the cores interactive renders leave.
    pub async fn run_claimed(
        &self,
        record: &TokenRecord,
        tasks: &[(u32, UploadTask)],
        render_error: Option<&crate::Error>,
        priority: Priority,
    ) -> Vec<Value> {
        let mut results = Vec::with_capacity(tasks.len());
        for (index, task) in tasks {
            let index = *index;
            if let Some(e) = render_error {
                let message = format!("the render failed: {}", public_message(e));
                let failed = Err((Failure::permanent(message), 0));
                results.push(self.finish_task(record, index, task, failed));
            } else if task.run_async && priority == Priority::Interactive {
                self.spawn_task(record.clone(), index, task.clone());
                results.push(json!({
                    "task": index,
                    "extension": task.extension.extension(),
                    "type": task.destination.kind(),
                    "state": UploadState::Running.as_str(),
                }));
            } else {
                results.push(self.run_task(record, index, task, priority).await);
            }
        }
        results
    }

    fn spawn_task(&self, record: TokenRecord, index: u32, task: UploadTask) {
        if let Some(me) = self.me.upgrade() {
            tokio::spawn(async move {
                me.run_task(&record, index, &task, Priority::Interactive)
                    .await;
            });
        }
    }

    /// Sends again the events, and runs again the uploads, that were on their way when
    /// the server stopped; how many.
    pub fn resume(&self) -> Result<usize> {
        let events = self.tokens.pending_events()?;
        let mut resumed = events.len();
        for pending in events {
            self.spawn_delivery(pending);
        }
        let rows = self.tokens.running_uploads()?;
        for row in rows {
            let Some(record) = self.tokens.get(&row.token, unix_now())? else {
                continue;
            };
            let tasks = record
                .upload
                .as_ref()
                .and_then(|u| parse_tasks(u).ok())
                .unwrap_or_default();
            if let Some(task) = tasks.get(row.task as usize) {
                self.spawn_task(record.clone(), row.task, task.clone());
                resumed += 1;
            }
        }
        Ok(resumed + self.resume_unclaimed()?)
    }

    /// The token's output in `format`, rendered if it is not stored yet.
    async fn output(
        &self,
        record: &TokenRecord,
        format: Format,
        priority: Priority,
    ) -> Result<OutputRecord> {
        let request = OutputRequest {
            record: record.clone(),
            token_id: token_id(&record.token).to_owned(),
            format,
            options: OutputOptions::default().for_format(format),
        };
        match self.finished.lookup(&request)? {
            Lookup::Stored(stored) => Ok(stored),
            Lookup::Rendering(render) => render.await,
            Lookup::Missing => self.finished.start_at(request, (), priority).await,
        }
    }

    /// Sends one task's output, records the result, and tells the callbacks and webhook.
    async fn run_task(
        &self,
        record: &TokenRecord,
        index: u32,
        task: &UploadTask,
        priority: Priority,
    ) -> Value {
        let token = &record.token;
        let id = token_id(token);
        let extension = task.extension.extension();
        let sent = match self.output(record, task.extension, priority).await {
            Err(e) => Err((
                Failure::permanent(format!(
                    "the {extension} output could not be rendered: {}",
                    public_message(&e)
                )),
                0,
            )),
            Ok(output) => match self.finished.path_of(id, &output) {
                Err(e) => Err((Failure::permanent(public_message(&e)), 0)),
                Ok(path) => match &task.destination {
                    Destination::S3(d) => {
                        let key = d
                            .filename
                            .clone()
                            .unwrap_or_else(|| format!("{id}.{extension}"));
                        let upload = s3::Upload {
                            outbound: &self.outbound,
                            destination: d,
                            key: &key,
                            file: &path,
                            size: output.size_bytes,
                            content_type: &output.content_type,
                        };
                        upload.run().await.map(|stored| {
                            json!({
                                "url": stored.url,
                                "status": stored.status,
                                "etag": stored.etag,
                                "bucket": d.bucket,
                                "key": key,
                                "parts": stored.parts,
                                "attempts": stored.attempts,
                            })
                        })
                    }
                    Destination::Http(d) => http::send(
                        &self.outbound,
                        d,
                        &path,
                        output.size_bytes,
                        &output.content_type,
                    )
                    .await
                    .map(|sent| {
                        json!({
                            "url": sent.url,
                            "status": sent.status,
                            "attempts": sent.attempts,
                        })
                    }),
                },
            },
        };
        self.finish_task(record, index, task, sent)
    }

    /// Records a task's end, and tells the callbacks and the webhook; its result.
    fn finish_task(
        &self,
        record: &TokenRecord,
        index: u32,
        task: &UploadTask,
        sent: std::result::Result<Value, (Failure, u32)>,
    ) -> Value {
        let token = &record.token;
        let extension = task.extension.extension();
        let (state, mut result) = match sent {
            Ok(result) => (UploadState::Done, result),
            Err((failure, attempts)) => (
                UploadState::Failed,
                json!({
                    "status": failure.status,
                    "error": failure.message,
                    "attempts": attempts,
                }),
            ),
        };
        result["task"] = index.into();
        result["extension"] = extension.into();
        result["type"] = task.destination.kind().into();
        result["state"] = state.as_str().into();
        if let Err(e) = self.tokens.end_upload(token, index, state, &result) {
            tracing::warn!(token = %token, task = index, error = %e, "upload result not saved");
        }
        match state {
            UploadState::Done => {
                tracing::info!(token = %token, task = index, destination = task.destination.kind(), "uploaded")
            }
            _ => tracing::warn!(
                token = %token,
                task = index,
                destination = task.destination.kind(),
                error = result["error"].as_str().unwrap_or_default(),
                "upload failed"
            ),
        }
        let (event, callback) = match state {
            UploadState::Done => ("uploaded", &task.onsuccess),
            _ => ("upload_failed", &task.onerror),
        };
        let payload = json!({"token": token, "upload": result});
        if let Some(url) = callback {
            self.send_event(url.to_string(), event, payload.clone());
        }
        self.event(token, event, payload);
        result
    }

    /// Sends `event` to the token's webhook, if it has one.
    pub fn event(&self, token: &str, event: &str, payload: Value) {
        match self.tokens.webhook(token) {
            Ok(Some(url)) => self.send_event(url, event, payload),
            Ok(None) => {}
            Err(e) => tracing::warn!(token, error = %e, "webhook lookup failed"),
        }
    }

    /// POSTs an event as signed JSON in the background, retried with backoff. The event
    /// is kept in the store until it is delivered or given up, so that a restart sends
    /// it again.
    pub fn send_event(&self, url: String, event: &str, payload: Value) {
        let id = random_id();
        let mut body = json!({"event": event, "id": id, "time": unix_now()});
        if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), payload) {
            body.extend(fields);
        }
        let pending = PendingEvent {
            id,
            url,
            event: event.to_owned(),
            body: body.to_string(),
        };
        if let Err(e) = self.tokens.queue_event(&pending, unix_now()) {
            tracing::warn!(event = %pending.event, error = %e, "event not kept for retries");
        }
        self.spawn_delivery(pending);
    }

    fn spawn_delivery(&self, pending: PendingEvent) {
        let outbound = self.outbound.clone();
        let tokens = Arc::clone(&self.tokens);
        tokio::spawn(async move {
            if let Ok(url) = url::Url::parse(&pending.url) {
                deliver_event(&outbound, &url, &pending).await;
            }
            if let Err(e) = tokens.event_done(&pending.id) {
                tracing::warn!(event = %pending.event, error = %e, "delivered event still kept");
            }
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each change under the lock is one map update.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One event's delivery: signed, retried; failures are logged.
async fn deliver_event(outbound: &Outbound, url: &url::Url, pending: &PendingEvent) {
    let signature = outbound
        .settings
        .webhook_secret
        .as_ref()
        .map(|secret| sign::body_signature(secret.as_bytes(), pending.body.as_bytes()));
    let build = || {
        let mut request = outbound
            .client()
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("x-framecast-event", pending.event.as_str())
            .body(pending.body.clone());
        if let Some(signature) = &signature {
            request = request.header("x-framecast-signature", signature.as_str());
        }
        Ok(request)
    };
    let describe = |status: u16, _: &[u8]| format!("the webhook answered {status}");
    let (result, attempts) = outbound.send(url, build, describe).await;
    if let Err(failure) = result {
        tracing::warn!(
            url = %task::shown_url(url),
            event = %pending.event,
            attempts,
            error = %failure.message,
            "event not delivered"
        );
    }
}

/// 128 random bits in hex, naming one event delivery.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness the id only loses uniqueness, which receivers use to dedupe.
    let _ = getrandom::fill(&mut bytes);
    sign::hex(&bytes)
}

impl RenderEvents for Publisher {
    fn started(&self, record: &TokenRecord) {
        lock(&self.quarters).insert(record.token.clone(), 0);
        self.event(
            &record.token,
            "started",
            json!({"token": record.token, "done": 0, "total": record.total_frames}),
        );
    }

    fn progress(&self, record: &TokenRecord, done: u64) {
        let total = record.total_frames.max(1);
        let quarter = (done * 4 / total).min(3);
        let told = {
            let mut quarters = lock(&self.quarters);
            let last = quarters.entry(record.token.clone()).or_insert(0);
            let new = quarter > *last;
            *last = (*last).max(quarter);
            new
        };
        if told {
            self.event(
                &record.token,
                "progress",
                json!({"token": record.token, "done": done, "total": record.total_frames}),
            );
        }
    }

    fn ended(&self, request: &OutputRequest, default: bool, result: &Result<OutputRecord>) {
        let record = &request.record;
        let token = &record.token;
        if default {
            lock(&self.quarters).remove(token);
            match result {
                Ok(_) => self.event(
                    token,
                    "finished",
                    json!({
                        "token": token,
                        "done": record.total_frames,
                        "total": record.total_frames,
                        "url": self.output_url(token, &record.format),
                    }),
                ),
                Err(e) => self.event(
                    token,
                    "failed",
                    json!({"token": token, "error": public_message(e)}),
                ),
            }
        }
        // A token made without rendering sends its uploads once their outputs exist.
        let plain = OutputOptions {
            parts_prefix: String::new(),
            ..request.options.clone()
        } == OutputOptions::default().for_format(request.format);
        let Some(upload) = record.upload.as_ref().filter(|_| result.is_ok() && plain) else {
            return;
        };
        let only = (!default).then_some(request.format);
        self.start_uploads(record, upload, only);
    }
}

impl Publisher {
    /// Claims and starts the upload tasks of a token made without rendering: every task
    /// once its default output exists (`only` is `None`), else those of format `only`.
    /// A task already claimed is left alone. How many started.
    fn start_uploads(&self, record: &TokenRecord, upload: &Value, only: Option<Format>) -> usize {
        let token = &record.token;
        let mut started = 0;
        let tasks = parse_tasks(upload).unwrap_or_default();
        for (index, task) in tasks.into_iter().enumerate() {
            if only.is_some_and(|format| task.extension != format) {
                continue;
            }
            match self.tokens.claim_upload(token, index as u32) {
                Ok(true) => {
                    self.spawn_task(record.clone(), index as u32, task);
                    started += 1;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(token = %token, error = %e, "upload not claimed"),
            }
        }
        started
    }

    /// Starts the uploads of tokens made without rendering whose output was stored just
    /// before a stop, too late for the render's end to start them.
    fn resume_unclaimed(&self) -> Result<usize> {
        let mut started = 0;
        for token in self.tokens.unclaimed_uploads()? {
            let Some(record) = self.tokens.get(&token, unix_now())? else {
                continue;
            };
            let Some(upload) = record.upload.as_ref() else {
                continue;
            };
            let stored = |format: Format| {
                let request = OutputRequest {
                    record: record.clone(),
                    token_id: token_id(&record.token).to_owned(),
                    format,
                    options: OutputOptions::default().for_format(format),
                };
                matches!(self.finished.lookup(&request), Ok(Lookup::Stored(_)))
            };
            if Format::from_extension(&record.format).is_ok_and(stored) {
                started += self.start_uploads(&record, upload, None);
                continue;
            }
            let formats: Vec<Format> = parse_tasks(upload)
                .unwrap_or_default()
                .iter()
                .map(|task| task.extension)
                .collect();
            for format in formats {
                if stored(format) {
                    started += self.start_uploads(&record, upload, Some(format));
                }
            }
        }
        Ok(started)
    }
}
