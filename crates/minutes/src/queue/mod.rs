//! The worker side of the durable job queue: claiming with leases, heartbeats, retries with
//! backoff, dead letters and graceful shutdown. Job state itself lives in the store.
pub mod backoff;
pub mod clock;
pub mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use worker::{drain, Worker, WorkerOptions};
