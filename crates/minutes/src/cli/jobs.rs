//! `minutes jobs list|show|requeue|discard`: the dead letters from a shell. It runs with the
//! database's credentials, so it is operator-level: every tenant's jobs and the jobs of no
//! tenant (retention, pruning). Every requeue and discard is audited with user `cli`, in the
//! job's tenant (or `_platform` for a job of none). Tables for people, `--json` for scripts.
use std::io::Write;

use anyhow::Context;
use chrono::SecondsFormat;
use clap::builder::PossibleValuesParser;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::config::Config;
use crate::domain::job::{kind_names, queues};
use crate::http::{job_detail_view, job_view};
use crate::queue::{Clock, SystemClock};
use crate::store::{
    AuditEntry, JobAction, JobCursor, JobFilter, JobOutcome, JobRecord, JobSelection, Store,
    JOB_STATES, MAX_JOB_BATCH, MAX_JOB_PAGE,
};

/// The audit log's user for actions taken here.
pub const CLI_USER: &str = "cli";
/// Where actions on jobs of no tenant are audited (like `_unauthenticated` for failed logins).
pub const PLATFORM_AUDIT_TENANT: &str = "_platform";

#[derive(Debug, Clone, Subcommand)]
pub enum JobsAction {
    /// Jobs newest first (all states unless --state).
    List {
        #[arg(long, value_parser = PossibleValuesParser::new(JOB_STATES))]
        state: Option<String>,
        #[arg(long, value_parser = PossibleValuesParser::new(queues()))]
        queue: Option<String>,
        #[arg(long, value_parser = PossibleValuesParser::new(kind_names()))]
        kind: Option<String>,
        /// Only this tenant's jobs.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this task's jobs.
        #[arg(long)]
        task: Option<String>,
        /// Jobs per page (1–500).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// The next page: the cursor the previous page printed.
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One job: payload and every failed attempt (time, worker, error).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Put dead jobs back in their queue with their full attempt budget (a dead pipeline stage
    /// also puts its failed task back to `queued`).
    Requeue {
        /// Job ids (or --all-dead).
        #[arg(required_unless_present = "all_dead", conflicts_with = "all_dead")]
        ids: Vec<String>,
        /// Every dead job (500 per run), narrowed by --kind, --queue, --tenant.
        #[arg(long)]
        all_dead: bool,
        #[arg(long, requires = "all_dead", value_parser = PossibleValuesParser::new(kind_names()))]
        kind: Option<String>,
        #[arg(long, requires = "all_dead", value_parser = PossibleValuesParser::new(queues()))]
        queue: Option<String>,
        #[arg(long, requires = "all_dead")]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Give dead jobs up for good (they never run again; their task or speaker stays as it is:
    /// a discarded voiceprint erasure leaves the feature at the provider).
    Discard {
        #[arg(required = true)]
        ids: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: &Config, action: JobsAction) -> anyhow::Result<()> {
    let store = crate::app::connect(config, None).await?;
    let mut out = std::io::stdout().lock();
    let result = execute(&store, action, SystemClock.now_ms(), &mut out).await;
    store.close().await;
    result
}

/// Runs one `minutes jobs` command against `store`, writing to `out`; `now_ms` is when a
/// requeued job becomes due. An error when a named job was not acted on (after printing why).
pub async fn execute(
    store: &dyn Store,
    action: JobsAction,
    now_ms: i64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match action {
        JobsAction::List {
            state,
            queue,
            kind,
            tenant,
            task,
            limit,
            cursor,
            json,
        } => {
            anyhow::ensure!(
                (1..=MAX_JOB_PAGE).contains(&limit),
                "--limit must be between 1 and {MAX_JOB_PAGE}"
            );
            let after = cursor
                .map(|c| {
                    JobCursor::decode(&c).with_context(|| format!("`{c}` is not a job cursor"))
                })
                .transpose()?;
            let filter = JobFilter {
                state,
                queue,
                kind,
                task_id: task,
            };
            let page = store
                .list_jobs(tenant.as_deref(), &filter, after.as_ref(), limit)
                .await?;
            let next = page.next.map(|c| c.encode());
            if json {
                let jobs: Vec<Value> = page.jobs.iter().map(job_view).collect();
                writeln!(out, "{}", json!({"jobs": jobs, "next_cursor": next}))?;
            } else {
                write_table(out, &page.jobs)?;
                if let Some(next) = next {
                    writeln!(out, "more: --cursor {next}")?;
                }
            }
        }
        JobsAction::Show { id, json } => {
            let detail = store
                .job_detail(None, &id)
                .await?
                .with_context(|| format!("no job `{id}`"))?;
            if json {
                writeln!(out, "{}", json!({"job": job_detail_view(&detail)}))?;
            } else {
                write_detail(out, &job_detail_view(&detail))?;
            }
        }
        JobsAction::Requeue {
            ids,
            all_dead,
            kind,
            queue,
            tenant,
            json,
        } => {
            let selection = if all_dead {
                JobSelection::Dead(JobFilter {
                    state: Some("dead".into()),
                    queue,
                    kind,
                    task_id: None,
                })
            } else {
                anyhow::ensure!(
                    ids.len() <= MAX_JOB_BATCH,
                    "at most {MAX_JOB_BATCH} job ids at a time"
                );
                JobSelection::Ids(ids)
            };
            // --tenant narrows --all-dead to one tenant's scope; by id, every tenant's.
            let actions = store
                .requeue_dead_jobs(tenant.as_deref(), &selection, now_ms)
                .await?;
            audit_all(store, "job.requeue", &actions).await;
            report(out, "requeued", &actions, json)?;
        }
        JobsAction::Discard { ids, json } => {
            anyhow::ensure!(
                ids.len() <= MAX_JOB_BATCH,
                "at most {MAX_JOB_BATCH} job ids at a time"
            );
            let actions = store.discard_dead_jobs(None, &ids).await?;
            audit_all(store, "job.discard", &actions).await;
            report(out, "discarded", &actions, json)?;
        }
    }
    Ok(())
}

/// One audit entry per job acted on. The action already happened: a failed entry is logged.
async fn audit_all(store: &dyn Store, action: &str, actions: &[JobAction]) {
    for a in actions {
        let JobOutcome::Done { job, task_reopened } = &a.outcome else {
            continue;
        };
        let entry = AuditEntry {
            tenant_id: job
                .tenant_id
                .clone()
                .unwrap_or_else(|| PLATFORM_AUDIT_TENANT.to_string()),
            user_id: Some(CLI_USER.to_string()),
            action: action.to_string(),
            resource_type: "job".into(),
            resource_id: job.id.clone(),
            details: json!({
                "kind": job.kind, "queue": job.queue, "task_id": job.task_id,
                "tenant_id": job.tenant_id, "task_reopened": task_reopened, "via": "cli",
            }),
        };
        if let Err(e) = store.insert_audit(&entry).await {
            tracing::warn!(error = %e, action, job_id = %job.id, "could not write an audit entry");
        }
    }
}

fn outcome_text(outcome: &JobOutcome, verb: &str) -> String {
    match outcome {
        JobOutcome::Done {
            task_reopened: true,
            ..
        } => format!("{verb} (its task is queued again)"),
        JobOutcome::Done { .. } => verb.to_string(),
        JobOutcome::NotFound => "not found".into(),
        JobOutcome::NotDead { state } => format!("not dead ({state}): left alone"),
        JobOutcome::TaskMoved { task_id, state } => {
            format!("left alone: task {task_id} is {state} (retry the task instead)")
        }
    }
}

fn report(
    out: &mut dyn Write,
    verb: &str,
    actions: &[JobAction],
    json: bool,
) -> anyhow::Result<()> {
    let done = actions
        .iter()
        .filter(|a| matches!(a.outcome, JobOutcome::Done { .. }))
        .count();
    if json {
        let results: Vec<Value> = actions
            .iter()
            .map(|a| {
                json!({"job_id": a.job_id, "done": matches!(a.outcome, JobOutcome::Done { .. }),
                            "outcome": outcome_text(&a.outcome, verb)})
            })
            .collect();
        writeln!(
            out,
            "{}",
            json!({"action": verb, "done": done, "results": results})
        )?;
    } else {
        for a in actions {
            writeln!(out, "{}  {}", a.job_id, outcome_text(&a.outcome, verb))?;
        }
        writeln!(out, "{done} of {} job(s) {verb}", actions.len())?;
    }
    anyhow::ensure!(
        done == actions.len(),
        "{} job(s) were not {verb}",
        actions.len() - done
    );
    Ok(())
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// One line of the `list` table (the header too).
fn write_row(out: &mut dyn Write, cols: [&str; 8]) -> std::io::Result<()> {
    let [id, kind, queue, state, attempts, tenant, created, error] = cols;
    writeln!(
        out,
        "{id:<34} {kind:<20} {queue:<11} {state:<9} {attempts:>8}  {tenant:<20} {created:<24} {error}"
    )
}

fn write_table(out: &mut dyn Write, jobs: &[JobRecord]) -> anyhow::Result<()> {
    let header = [
        "JOB",
        "KIND",
        "QUEUE",
        "STATE",
        "ATTEMPTS",
        "TENANT",
        "CREATED",
        "LAST ERROR",
    ];
    write_row(out, header)?;
    for j in jobs {
        let error = j
            .errors
            .0
            .last()
            .map(|e| clip(&format!("{}: {}", e.code, e.detail), 60))
            .unwrap_or_default();
        let attempts = format!("{}/{}", j.attempts, j.max_attempts);
        let tenant = clip(j.tenant_id.as_deref().unwrap_or("-"), 20);
        let created = j.created_at.to_rfc3339_opts(SecondsFormat::Secs, true);
        write_row(
            out,
            [
                &j.id, &j.kind, &j.queue, &j.state, &attempts, &tenant, &created, &error,
            ],
        )?;
    }
    writeln!(out, "{} job(s)", jobs.len())?;
    Ok(())
}

fn write_detail(out: &mut dyn Write, v: &Value) -> anyhow::Result<()> {
    let text = |key: &str| match &v[key] {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for key in [
        "job_id",
        "kind",
        "queue",
        "state",
        "tenant_id",
        "task_id",
        "priority",
        "due_at",
        "locked_by",
        "lease_expires_at",
        "lease_gen",
        "created_at",
        "updated_at",
        "finished_at",
    ] {
        writeln!(out, "{key:<17} {}", text(key))?;
    }
    writeln!(
        out,
        "attempts          {}/{}",
        text("attempts"),
        text("max_attempts")
    )?;
    writeln!(out, "payload           {}", v["payload"])?;
    let errors = v["errors"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    writeln!(out, "errors            {}", errors.len())?;
    for e in errors {
        let field = |k: &str| {
            e[k].as_str()
                .map(str::to_string)
                .unwrap_or_else(|| "-".into())
        };
        let attempt = e["attempt"].as_i64().map_or("-".into(), |a| a.to_string());
        writeln!(
            out,
            "  #{attempt:<3} {}  {}  {}: {}",
            field("at"),
            field("worker"),
            field("code"),
            field("detail")
        )?;
    }
    Ok(())
}
