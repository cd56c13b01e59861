//! Request paths decoded once into a [`Route`], so that handlers get typed values and
//! every path that is not one of these is a 404 in one place.
//!
//! ```text
//! POST   /v2/render/{project}             render (sync, or async: true)
//! POST   /v2/token/{project}              token only
//! GET    /v2/progress/{token}             done and total frames
//! DELETE /v2/token/{token}                the token and its outputs
//! GET    /v2/{mode}/{token}.{ext}         a token's output (mode: render, get, play)
//! GET    /v2/{mode}/{id}/{part}           a part of one (HLS/DASH playlists, segments)
//! GET    /v1/{mode}/{project}/{movie}.{ext}?params   direct rendering
//! GET    /v1/{mode}/{project}/{id}/{part}            a part of one, as under /v2
//! POST   /v2/batch                        a new batch
//! POST   /v2/batch/{id}/tasks             add tasks (before it runs)
//! POST   /v2/batch/{id}/run               start it
//! POST   /v2/batch/{id}/cancel            stop it
//! GET    /v2/batch/{id}                   total, done, failed
//! GET    /v2/batch/{id}/results           token, url and status per task
//! GET    /healthz, /metrics
//! ```

use hyper::Method;

/// The three retrieval modes of the Render API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Render,
    Get,
    Play,
}

impl Mode {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "render" => Some(Self::Render),
            "get" => Some(Self::Get),
            "play" => Some(Self::Play),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Render => "render",
            Self::Get => "get",
            Self::Play => "play",
        }
    }
}

/// A recognised path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Metrics,
    CreateRender {
        project: String,
    },
    CreateToken {
        project: String,
    },
    Progress {
        token: String,
    },
    DeleteToken {
        token: String,
    },
    Output {
        mode: Mode,
        token: String,
        extension: String,
    },
    Part {
        mode: Mode,
        id: String,
        name: String,
    },
    Direct {
        mode: Mode,
        project: String,
        movie: String,
        extension: String,
    },
    CreateBatch,
    Batch {
        id: String,
        action: BatchAction,
    },
}

/// What a request does to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchAction {
    Status,
    Results,
    AddTasks,
    Run,
    Cancel,
}

impl Route {
    /// Reads a method and path (without its query). `None` for paths the API does not
    /// have. POST to `/v2/render/x` and `/v2/token/x` names a project; any other method
    /// there names a token.
    pub fn parse(method: &Method, path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        let creates = method == Method::POST;
        let route = match segments.as_slice() {
            ["healthz"] => Self::Health,
            ["metrics"] => Self::Metrics,
            ["v2", "batch"] => Self::CreateBatch,
            ["v2", "batch", id] => Self::Batch {
                id: (*id).to_owned(),
                action: BatchAction::Status,
            },
            ["v2", "batch", id, action] => Self::Batch {
                id: (*id).to_owned(),
                action: match *action {
                    "results" => BatchAction::Results,
                    "tasks" => BatchAction::AddTasks,
                    "run" => BatchAction::Run,
                    "cancel" => BatchAction::Cancel,
                    _ => return None,
                },
            },
            ["v2", "progress", token] => Self::Progress {
                token: (*token).to_owned(),
            },
            // Without an extension, `/v2/render/x` can only be the POST endpoint.
            ["v2", "render", project] if creates || !project.contains('.') => Self::CreateRender {
                project: (*project).to_owned(),
            },
            ["v2", "token", project] if creates => Self::CreateToken {
                project: (*project).to_owned(),
            },
            ["v2", "token", token] => Self::DeleteToken {
                token: (*token).to_owned(),
            },
            ["v2", mode, file] => {
                let (token, extension) = file.rsplit_once('.')?;
                Self::Output {
                    mode: Mode::parse(mode)?,
                    token: token.to_owned(),
                    extension: extension.to_owned(),
                }
            }
            ["v2", mode, id, name] => Self::Part {
                mode: Mode::parse(mode)?,
                id: (*id).to_owned(),
                name: (*name).to_owned(),
            },
            // Playlists of v1 outputs name their parts relative to the v1 path.
            ["v1", mode, _project, id, name] => Self::Part {
                mode: Mode::parse(mode)?,
                id: (*id).to_owned(),
                name: (*name).to_owned(),
            },
            ["v1", mode, project, file] => {
                let (movie, extension) = file.rsplit_once('.')?;
                Self::Direct {
                    mode: Mode::parse(mode)?,
                    project: (*project).to_owned(),
                    movie: movie.to_owned(),
                    extension: extension.to_owned(),
                }
            }
            _ => return None,
        };
        Some(route)
    }

    /// The methods the route answers (besides OPTIONS, which every route answers).
    pub fn methods(&self) -> &'static [Method] {
        match self {
            Self::CreateRender { .. } | Self::CreateToken { .. } | Self::CreateBatch => {
                &[Method::POST]
            }
            Self::Batch { action, .. } => match action {
                BatchAction::Status | BatchAction::Results => &[Method::GET],
                _ => &[Method::POST],
            },
            Self::DeleteToken { .. } => &[Method::DELETE],
            Self::Progress { .. } | Self::Health | Self::Metrics => &[Method::GET],
            Self::Output { .. } | Self::Part { .. } | Self::Direct { .. } => {
                &[Method::GET, Method::HEAD]
            }
        }
    }

    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Health => "healthz",
            Self::Metrics => "metrics",
            Self::CreateRender { .. } => "v2_render",
            Self::CreateToken { .. } => "v2_token",
            Self::Progress { .. } => "v2_progress",
            Self::DeleteToken { .. } => "v2_delete",
            Self::Output { .. } => "v2_output",
            Self::Part { .. } => "v2_part",
            Self::Direct { .. } => "v1_direct",
            Self::CreateBatch => "v2_batch_create",
            Self::Batch { action, .. } => match action {
                BatchAction::Status => "v2_batch_status",
                BatchAction::Results => "v2_batch_results",
                BatchAction::AddTasks => "v2_batch_tasks",
                BatchAction::Run => "v2_batch_run",
                BatchAction::Cancel => "v2_batch_cancel",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_path_of_the_api() {
        let token = "v2:local:0123456789abcdef0123456789abcdef";
        assert_eq!(
            Route::parse(&Method::POST, "/v2/render/demo"),
            Some(Route::CreateRender {
                project: "demo".into()
            })
        );
        assert_eq!(
            Route::parse(&Method::POST, "/v2/token/demo"),
            Some(Route::CreateToken {
                project: "demo".into()
            })
        );
        assert_eq!(
            Route::parse(&Method::DELETE, &format!("/v2/token/{token}")),
            Some(Route::DeleteToken {
                token: token.into()
            })
        );
        assert_eq!(
            Route::parse(&Method::GET, &format!("/v2/get/{token}.mp4")),
            Some(Route::Output {
                mode: Mode::Get,
                token: token.into(),
                extension: "mp4".into()
            })
        );
        let encoded = token.replace(':', "%3A");
        assert!(matches!(
            Route::parse(&Method::GET, &format!("/v2/render/{encoded}.m3u8")),
            Some(Route::Output { .. })
        ));
        assert_eq!(
            Route::parse(&Method::GET, "/v2/play/0123/segment-1.m4s"),
            Some(Route::Part {
                mode: Mode::Play,
                id: "0123".into(),
                name: "segment-1.m4s".into()
            })
        );
        assert_eq!(
            Route::parse(&Method::GET, "/v1/play/demo/0123.m3u8/init.mp4"),
            Some(Route::Part {
                mode: Mode::Play,
                id: "0123.m3u8".into(),
                name: "init.mp4".into()
            })
        );
        assert_eq!(
            Route::parse(&Method::GET, "/v1/render/demo/welcome-video.mp4"),
            Some(Route::Direct {
                mode: Mode::Render,
                project: "demo".into(),
                movie: "welcome-video".into(),
                extension: "mp4".into()
            })
        );
        assert_eq!(
            Route::parse(&Method::POST, "/v2/batch"),
            Some(Route::CreateBatch)
        );
        assert_eq!(
            Route::parse(&Method::GET, "/v2/batch/b1/results"),
            Some(Route::Batch {
                id: "b1".into(),
                action: BatchAction::Results
            })
        );
        for missing in [
            "/v2/batch/b1/explode",
            "/",
            "/v2",
            "/v2/watch/x.mp4",
            "/v1/render/demo",
            "/v3/render/a",
            "x",
        ] {
            assert_eq!(Route::parse(&Method::GET, missing), None, "{missing}");
        }
    }

    proptest! {
        #[test]
        fn any_path_parses_without_panicking(path in "/[a-z0-9:%./]{0,60}") {
            let _ = Route::parse(&Method::GET, &path);
            let _ = Route::parse(&Method::POST, &path);
        }
    }
}
