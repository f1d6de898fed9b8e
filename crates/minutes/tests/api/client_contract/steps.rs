//! Runs a flow's steps in page order and keeps going after a failed one, so one pipeline run
//! reports every broken frontend call; the test fails at the end with the list of failures.
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use super::server::Server;

pub struct Steps<'a> {
    server: &'a Server,
    passed: Vec<String>,
    failed: Vec<String>,
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

impl<'a> Steps<'a> {
    pub fn new(server: &'a Server) -> Steps<'a> {
        Steps {
            server,
            passed: vec![],
            failed: vec![],
        }
    }

    /// Runs one step; its panic is recorded as the step's failure and `None` returned.
    pub async fn run<T>(&mut self, name: &str, step: impl Future<Output = T>) -> Option<T> {
        match AssertUnwindSafe(step).catch_unwind().await {
            Ok(value) => {
                self.passed.push(name.to_string());
                Some(value)
            }
            Err(payload) => {
                self.failed
                    .push(format!("{name}: {}", panic_text(payload.as_ref())));
                None
            }
        }
    }

    /// Records a step that could not run because an earlier one it needs failed.
    pub fn skip(&mut self, name: &str, needs: &str) {
        self.failed
            .push(format!("{name}: not run, it needs {needs} (failed above)"));
    }

    /// Fails the test when any step failed, listing all of them and the server's last log lines.
    pub fn finish(self) {
        if self.failed.is_empty() {
            return;
        }
        panic!(
            "{} of {} frontend steps failed:\n- {}\n(passed: {})\nlast server log lines:\n{}",
            self.failed.len(),
            self.failed.len() + self.passed.len(),
            self.failed.join("\n- "),
            self.passed.join(", "),
            self.server.log_tail(30)
        );
    }
}
