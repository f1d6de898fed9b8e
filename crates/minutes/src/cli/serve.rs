//! `minutes serve [--with-worker]` and `minutes worker`: long-running processes with graceful
//! shutdown on SIGINT/SIGTERM.
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::Config;
use crate::queue::{Worker, WorkerOptions};

pub async fn serve(config: &Config, with_worker: bool) -> anyhow::Result<()> {
    let app = Arc::new(App::build(config).await?);
    let listener = tokio::net::TcpListener::bind(&config.server.bind)
        .await
        .with_context(|| {
            format!(
                "binding {} (server.bind / MINUTES__SERVER__BIND)",
                config.server.bind
            )
        })?;
    let shutdown = shutdown_token();
    let worker = with_worker.then(|| {
        let opts = WorkerOptions::all_queues(config.queue.concurrency);
        tokio::spawn(Worker::new(app.clone(), opts).run(shutdown.clone()))
    });
    // An API-only process still announces what it enqueues (a worker process runs its own relay).
    let relay = (!with_worker)
        .then(|| tokio::spawn(crate::queue::relay::run(app.clone(), shutdown.clone())));
    tracing::info!(bind = %config.server.bind, database = app.store.backend(), with_worker, "serving the API");
    let stop = shutdown.clone();
    let header_timeout = Duration::from_secs(config.server.header_read_timeout_secs);
    crate::http::serve(
        listener,
        crate::http::router(app.clone()),
        header_timeout,
        async move { stop.cancelled().await },
    )
    .await;
    if let Some(worker) = worker {
        worker.await.context("worker task")?;
    }
    if let Some(relay) = relay {
        relay.await.context("relay task")?;
    }
    app.sql.close().await;
    Ok(())
}

pub async fn worker(
    config: &Config,
    queues: Vec<String>,
    concurrency: Option<usize>,
) -> anyhow::Result<()> {
    // The delivery backend sizes its prefetch from the concurrency, so the override goes in first.
    let mut config = config.clone();
    config.queue.concurrency = concurrency.unwrap_or(config.queue.concurrency).max(1);
    let config = &config;
    let app = Arc::new(App::build(config).await?);
    let mut opts = WorkerOptions::all_queues(config.queue.concurrency);
    if !queues.is_empty() {
        for q in &queues {
            let known = crate::domain::job::queues();
            if !known.contains(&q.as_str()) {
                anyhow::bail!("unknown queue `{q}`; use {}", known.join(", "));
            }
        }
        opts.queues = queues;
    }
    let shutdown = shutdown_token();
    if let (true, Some(bind)) = (config.metrics.enabled, &config.metrics.worker_bind) {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding metrics.worker_bind {bind}"))?;
        tracing::info!(%bind, "serving /metrics and /health");
        let router = crate::http::worker_router(app.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "the metrics listener stopped");
            }
        });
    }
    Worker::new(app.clone(), opts).run(shutdown).await;
    app.sql.close().await;
    Ok(())
}

/// Cancelled on Ctrl-C or SIGTERM.
fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C still works");
                        let _ = ctrl_c.await;
                        t.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutdown requested");
        t.cancel();
    });
    token
}
