//! Scheduled jobs: `schedules` in the configuration are cron expressions (UTC). Every worker
//! serving the `maintenance` queue keeps the *next* run of each schedule enqueued; the run's job
//! id is derived from its fire time, so any number of workers make exactly one job per fire time,
//! and the next run is armed whatever the last one's outcome (a dead run does not stop the
//! schedule).
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use crate::app::App;
use crate::domain::job::{Job, JobKind, ScheduledRun};
use crate::store::StoreError;

/// Parses a 5-field cron expression (an optional leading seconds field is refused: schedules
/// are per minute at most).
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    if expr.split_whitespace().count() != 5 {
        return Err("use 5 fields: minute hour day-of-month month day-of-week".into());
    }
    croner::Cron::from_str(expr.trim()).map_err(|e| e.to_string())
}

/// The job id of `kind`'s run at `fire_at_ms`.
pub fn run_id(kind: JobKind, fire_at_ms: i64) -> String {
    format!("job_{}_{fire_at_ms}", kind.wire_name())
}

/// The job of a scheduled kind; `None` for kinds that are not periodic.
fn scheduled_job(kind: JobKind, run: ScheduledRun) -> Option<Job> {
    match kind {
        JobKind::Retention => Some(Job::Retention(run)),
        JobKind::PruneJobs => Some(Job::PruneJobs(run)),
        JobKind::Backup => Some(Job::Backup(run)),
        _ => None,
    }
}

/// Enqueues `kind`'s run for `fire_at_ms` unless it exists; true if this call created it.
pub async fn enqueue_run(app: &App, kind: JobKind, fire_at_ms: i64) -> Result<bool, StoreError> {
    let Some(job) = scheduled_job(kind, ScheduledRun { fire_at_ms }) else {
        return Err(StoreError::Conflict(format!(
            "`{}` is not a scheduled job kind",
            kind.wire_name()
        )));
    };
    let mut row = crate::pipeline::new_job(app, run_id(kind, fire_at_ms), None, &job, -10);
    row.run_at_ms = fire_at_ms;
    row.max_attempts = row.max_attempts.min(3);
    app.store.enqueue_once(&row).await
}

fn at_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(Utc::now)
}

/// The next fire time strictly after `now_ms`.
fn next_fire(cron: &croner::Cron, now_ms: i64) -> Option<i64> {
    cron.find_next_occurrence(&at_ms(now_ms), false)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Makes sure the next run of every enabled schedule is enqueued; returns the earliest of
/// those fire times (when the caller should arm again).
pub async fn arm(app: &App) -> Result<Option<i64>, StoreError> {
    let now = app.clock.now_ms();
    let mut earliest: Option<i64> = None;
    for (kind, expr) in app.config.schedules.entries() {
        // Validated at startup; a schedule that cannot parse is skipped rather than fatal here.
        let Ok(cron) = parse_cron(expr) else { continue };
        let Some(fire) = next_fire(&cron, now) else {
            continue;
        };
        if enqueue_run(app, kind, fire).await? {
            tracing::debug!(
                job.kind = kind.wire_name(),
                fire_at_ms = fire,
                "scheduled run armed"
            );
        }
        earliest = Some(earliest.map_or(fire, |e: i64| e.min(fire)));
    }
    Ok(earliest)
}

#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub job_id: String,
    pub state: String,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScheduleStatus {
    pub kind: &'static str,
    pub cron: String,
    pub next_run_at: Option<DateTime<Utc>>,
    /// The run of the latest fire time at or before now, if it was enqueued.
    pub last_run: Option<LastRun>,
}

/// Every enabled schedule with its next fire time and its latest run (for `/queue/status`).
pub async fn status(app: &App) -> Result<Vec<ScheduleStatus>, StoreError> {
    let now = app.clock.now_ms();
    let mut out = Vec::new();
    for (kind, expr) in app.config.schedules.entries() {
        let Ok(cron) = parse_cron(expr) else { continue };
        let previous = cron
            .find_previous_occurrence(&at_ms(now), true)
            .ok()
            .map(|t| t.timestamp_millis());
        let last_run = match previous {
            Some(fire) => app
                .store
                .get_job(&run_id(kind, fire))
                .await?
                .map(|j| LastRun {
                    job_id: j.id,
                    state: j.state,
                    finished_at: j.finished_at,
                }),
            None => None,
        };
        out.push(ScheduleStatus {
            kind: kind.wire_name(),
            cron: expr.to_string(),
            next_run_at: next_fire(&cron, now).map(at_ms),
            last_run,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_field_expressions_only() {
        assert!(parse_cron("0 * * * *").is_ok());
        assert!(parse_cron("*/15 2 * * MON-FRI").is_ok());
        assert!(parse_cron("0 0 * * * *").is_err(), "seconds field refused");
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_cron("hourly").is_err());
    }

    #[test]
    fn only_periodic_kinds_make_scheduled_jobs() {
        let run = ScheduledRun { fire_at_ms: 1 };
        assert_eq!(
            scheduled_job(JobKind::Retention, run),
            Some(Job::Retention(run))
        );
        assert_eq!(
            scheduled_job(JobKind::PruneJobs, run),
            Some(Job::PruneJobs(run))
        );
        assert_eq!(scheduled_job(JobKind::Transcribe, run), None);
    }

    #[test]
    fn the_next_fire_is_strictly_after_now() {
        let cron = parse_cron("0 * * * *").unwrap();
        let hour = 3_600_000;
        assert_eq!(next_fire(&cron, 5 * hour), Some(6 * hour));
        assert_eq!(next_fire(&cron, 5 * hour + 1), Some(6 * hour));
        assert_eq!(
            run_id(JobKind::Retention, 6 * hour),
            "job_retention_21600000"
        );
    }
}
