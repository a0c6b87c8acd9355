//! Hot reload: on `SIGHUP` (or, with `--watch`, when the manifest or a component file changes) the
//! host loads the manifest, the runtime config and the components again, checks the new app as it
//! checks at startup — composition, variables, and the app's own `/health`, which must answer 200
//! before the app serves anything — and only then makes it current (`LiveApp`). Requests in flight
//! finish on the old app; the embedded gateway's sockets, subscriptions and queues are untouched,
//! because they live outside the app. A new app that fails a check is refused with the reason
//! logged, and the old one keeps serving.

use crate::app::live::LiveApp;
use crate::app::manifest::Manifest;
use crate::app::runtime_config::RuntimeConfig;
use crate::app::{App, LoadOptions};
use crate::ops::self_check;
use crate::up::{GRIP_ISS_VARIABLE, GRIP_KEY_VARIABLE, PUBLISH_TOKEN_VARIABLE};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Why a reload was refused; the old app keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0:#}")]
    Load(anyhow::Error),
    #[error("{path} answered {status}: {body}", path = self_check::HEALTH_PATH)]
    Unhealthy { status: u16, body: String },
    #[error(
        "the application variables the embedded gateway uses (grip_key, grip_iss, \
         grip_publish_token) changed; the gateway keeps the values it started with, so restart \
         the host to change them"
    )]
    GatewayVariablesChanged,
}

/// How to load the app again, and where to put it.
pub struct Reloader {
    pub manifest_path: PathBuf,
    pub runtime_config_file: Option<PathBuf>,
    /// The startup's options; the runtime config is read again each time.
    pub options: LoadOptions,
    pub live: Arc<LiveApp>,
    /// The HTTP trigger address: the host a request to the new app's `/health` names.
    pub address: SocketAddr,
    /// The values of the variables the embedded gateway read at startup, if it runs.
    pub gateway_variables: Option<GatewayVariables>,
    /// One reload at a time: a signal during a reload waits for it.
    pub running: tokio::sync::Mutex<()>,
}

/// The application variables the embedded gateway reads once, at startup.
#[derive(Debug, PartialEq, Eq)]
pub struct GatewayVariables(Vec<Option<String>>);

impl GatewayVariables {
    const NAMES: [&str; 3] = [GRIP_KEY_VARIABLE, GRIP_ISS_VARIABLE, PUBLISH_TOKEN_VARIABLE];

    pub fn of(app: &App) -> Self {
        Self(
            Self::NAMES
                .iter()
                .map(|name| app.variables.application(name).map(str::to_string))
                .collect(),
        )
    }
}

impl Reloader {
    /// Loads, checks and (if every check passes) switches to the app as the files now say.
    pub async fn reload(&self) -> Result<Duration, Refused> {
        let _one_at_a_time = self.running.lock().await;
        let started = Instant::now();
        let checked = self.load_and_check().await;
        // Counted before the new app serves and before it is logged: whoever sees either
        // then sees the count.
        let label = if checked.is_ok() {
            "applied"
        } else {
            "refused"
        };
        crate::ops::metrics::get()
            .reloads
            .get_or_create(&crate::ops::metrics::Outcome { outcome: label })
            .inc();
        let outcome = checked.map(|app| {
            self.live.replace(app);
            started.elapsed()
        });
        match &outcome {
            Ok(took) => tracing::info!("reloaded in {took:.0?}: new requests go to the new app"),
            Err(refused) => {
                tracing::error!("reload refused, the running app keeps serving: {refused}")
            }
        }
        outcome
    }

    async fn load_and_check(&self) -> Result<App, Refused> {
        let (manifest_path, runtime_config_file, mut options) = (
            self.manifest_path.clone(),
            self.runtime_config_file.clone(),
            self.options.clone(),
        );
        // Compiling a changed component takes a core for a while: off the threads that serve.
        let app = tokio::task::spawn_blocking(move || -> anyhow::Result<App> {
            let manifest = Manifest::load(&manifest_path)?;
            if let Some(path) = &runtime_config_file {
                options.runtime_config = RuntimeConfig::load(path)?;
            }
            App::load(&manifest, &options)
        })
        .await
        .context("the reload task failed")
        .and_then(|loaded| loaded)
        .map_err(Refused::Load)?;
        if let Some(started_with) = &self.gateway_variables
            && GatewayVariables::of(&app) != *started_with
        {
            return Err(Refused::GatewayVariablesChanged);
        }
        if app.router.route(self_check::HEALTH_PATH).is_some() {
            let (status, body) = self_check::ask_in_process(&app, self.address).await;
            if status != 200 {
                return Err(Refused::Unhealthy { status, body });
            }
        }
        Ok(app)
    }

    /// Reloads on every `SIGHUP` `hangups` receives.
    pub async fn on_sighup(self: Arc<Self>, mut hangups: tokio::signal::unix::Signal) {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading {}", self.manifest_path.display());
            let _ = self.reload().await;
        }
    }

    /// Reloads whenever the manifest, the runtime config or a component's file changes, looking
    /// every `interval`. For development: a half-written file is refused like any broken one, and
    /// the next change is picked up.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        let mut seen = self.fingerprint();
        loop {
            tokio::time::sleep(interval).await;
            let now = self.fingerprint();
            if now != seen {
                seen = now;
                tracing::info!("a watched file changed: reloading");
                let _ = self.reload().await;
            }
        }
    }

    /// The modification time and size of every file the app is loaded from.
    fn fingerprint(&self) -> Vec<(PathBuf, Option<(SystemTime, u64)>)> {
        let mut files = vec![self.manifest_path.clone()];
        files.extend(self.runtime_config_file.clone());
        if let Ok(manifest) = Manifest::load(&self.manifest_path) {
            files.extend(manifest.component_files());
        }
        files
            .into_iter()
            .map(|path| {
                let stamp = std::fs::metadata(&path)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())));
                (path, stamp)
            })
            .collect()
    }
}
