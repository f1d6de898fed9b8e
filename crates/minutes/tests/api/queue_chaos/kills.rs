//! `kill -9` of a worker mid-stage, 20 times in a row, per backend. The test waits (polling the
//! `jobs` table) until the live worker runs a stage job, kills it, and starts a new worker; a
//! kill counts only if the job was still held by that worker's lease afterwards (it really was
//! interrupted, not finished a moment before). The stage aimed at rotates so that kills land in
//! every stage (a transcription is killed while its ASR call is in flight), falling back to
//! whatever runs when the aimed stage does not come up soon. Tasks are added while fewer than
//! two are open, so there is always a pipeline to interrupt.
use std::time::{Duration, Instant};

use super::checks;
use super::db::Leased;
use super::deployment::{Broker, Deployment};
use super::{ASR_DELAY, MEETINGS};

const KILLS: usize = 20;
/// Kills that found their job already finished do not count; this bounds the retries.
const MAX_KILLS: usize = 40;
/// Stages aimed at in turn (identifying speakers is skipped without voiceprints: too brief to
/// aim at, it is hit when it happens to run).
const AIMS: [&str; 4] = [
    "transcribe",
    "prepare_audio",
    "generate_artifact",
    "correct_speakers",
];
/// How long the aimed stage is waited for before any running stage will do.
const AIM_FOR: Duration = Duration::from_secs(5);
/// How long a new worker may take to run any stage.
const RUNNING_WITHIN: Duration = Duration::from_secs(60);
const OPEN_TASKS: usize = 2;

pub async fn twenty_kills(broker: Broker) {
    let started = Instant::now();
    let mut d = Deployment::start(super::db::Db::shared().await, broker, ASR_DELAY).await;
    let token = d.login(&format!("chaos_{}", d.broker.name())).await;
    let mut tasks = Vec::new();
    for m in MEETINGS {
        tasks.push(d.create_task(&token, m).await);
    }
    let mut asr_at_spawn = d.asr.started();
    let mut pid = d.start_worker();
    let mut interrupted: Vec<String> = Vec::new();
    let mut mid_call = 0;
    let mut kills = 0;
    while interrupted.len() < KILLS {
        assert!(
            kills < MAX_KILLS,
            "only {} of {kills} kills interrupted a stage{}",
            interrupted.len(),
            d.logs(20)
        );
        let aim = AIMS[interrupted.len() % AIMS.len()];
        let job = wait_for_stage(&mut d, &token, &mut tasks, pid, aim, asr_at_spawn).await;
        let in_call = job.kind == "transcribe" && d.asr.started() > asr_at_spawn;
        d.kill_worker(pid);
        kills += 1;
        if d.db.still_leased(&job).await {
            interrupted.push(job.kind.clone());
            mid_call += usize::from(in_call);
        }
        asr_at_spawn = d.asr.started();
        pid = d.start_worker();
    }
    let killing = started.elapsed();
    let drain = d.wait_all_finished(Duration::from_secs(120)).await;
    d.assert_all_alive("the last worker's run");
    let summary = checks::every_task_exactly_once(&d, &token, &tasks).await;
    // Every interrupted job was claimed again at least once (its lease generation moved on).
    assert!(
        summary.extra_claims >= KILLS as i64,
        "{} extra claims for {KILLS} interrupted jobs",
        summary.extra_claims
    );
    // Each transcription killed during its ASR call had to call again.
    assert!(
        summary.asr_calls >= tasks.len() + mid_call,
        "{} ASR calls for {} tasks and {mid_call} transcriptions killed mid-call",
        summary.asr_calls,
        tasks.len()
    );
    eprintln!(
        "chaos {}: {KILLS} kills mid-stage ({kills} tries; {interrupted:?}) over {} tasks in {:.1} s, \
         then {:.1} s to finish; {} extra claims, {} ASR calls ({mid_call} kills mid-call); {:.1} s in all",
        d.broker.name(),
        tasks.len(),
        killing.as_secs_f64(),
        drain.as_secs_f64(),
        summary.extra_claims,
        summary.asr_calls,
        started.elapsed().as_secs_f64()
    );
}

/// Creates tasks until `OPEN_TASKS` are unfinished.
async fn top_up(d: &Deployment, token: &str, tasks: &mut Vec<String>) {
    let states = d.db.task_states().await.expect("reading the tasks");
    let open = states
        .values()
        .filter(|s| {
            !matches!(
                s.as_str(),
                "success" | "partial_success" | "failed" | "cancelled"
            )
        })
        .count();
    for i in open..OPEN_TASKS {
        let meeting = MEETINGS[(tasks.len() + i) % MEETINGS.len()];
        tasks.push(d.create_task(token, meeting).await);
    }
}

/// Polls until worker `pid` runs a stage job: `aim` (a transcription only once its ASR call
/// is in flight) if it comes within `AIM_FOR`, otherwise any stage. Tasks are topped up
/// meanwhile: the pipelines may all finish while the aimed stage is awaited.
async fn wait_for_stage(
    d: &mut Deployment,
    token: &str,
    tasks: &mut Vec<String>,
    pid: u32,
    aim: &str,
    asr_at_spawn: usize,
) -> Leased {
    let started = Instant::now();
    loop {
        top_up(d, token, tasks).await;
        let running = d.db.running_stage_of(pid).await.expect("reading the jobs");
        let aimed = running
            .iter()
            .find(|j| j.kind == aim && (aim != "transcribe" || d.asr.started() > asr_at_spawn));
        if let Some(job) = aimed {
            return job.clone();
        }
        if started.elapsed() >= AIM_FOR {
            if let Some(job) = running.first() {
                return job.clone();
            }
        }
        d.assert_all_alive("the wait for a running stage");
        assert!(
            started.elapsed() < RUNNING_WITHIN,
            "worker {pid} ran no stage within {RUNNING_WITHIN:?}{}",
            d.logs(30)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
