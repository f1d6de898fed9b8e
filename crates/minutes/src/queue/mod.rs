//! The worker side of the durable job queue: delivery backends, the outbox relay, claiming with
//! leases, heartbeats, time limits, retries with backoff, dead letters, the worker registry,
//! cron schedules and graceful shutdown. Job state itself lives in the store.
pub mod backoff;
pub mod clock;
pub mod delivery;
pub mod fleet;
pub mod relay;
pub mod schedule;
pub mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use worker::{drain, Worker, WorkerOptions};
