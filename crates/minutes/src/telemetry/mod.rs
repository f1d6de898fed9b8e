//! Tracing setup: human-readable or JSON logs, filtered by `RUST_LOG` or `log.filter`, with
//! credentials and personal content redacted by field name and scrubbed from free text.
mod format;
pub mod metrics;
mod redact;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    drop(install(log.format, filter, std::io::stderr));
}

fn install<W>(format: LogFormat, filter: EnvFilter, writer: W) -> Result<(), impl std::fmt::Debug>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .fmt_fields(format::RedactingFields);
    match format {
        LogFormat::Json => builder.event_format(format::RedactingJson).try_init(),
        LogFormat::Pretty => builder.try_init(),
    }
}

/// `tokio::task::spawn_blocking` that keeps the caller's span, so what a decoder or an offline
/// engine logs on its blocking thread still carries the job's id, kind, attempt and task.
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::format::{RedactingFields, RedactingJson};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn emit() {
        let span = tracing::info_span!("request", path = "/api/v1/tasks", token = "span-secret");
        let _entered = span.enter();
        tracing::info!(
            task_id = "t-1",
            speaker_name = "Zhang Wei",
            transcript = "we agreed to ship",
            error = %"provider said Bearer sk-live-123 is invalid",
            attempts = 3u64,
            "job failed"
        );
    }

    fn assert_clean(out: &str) {
        for secret in [
            "Zhang Wei",
            "we agreed to ship",
            "sk-live-123",
            "span-secret",
        ] {
            assert!(!out.contains(secret), "{secret:?} leaked into: {out}");
        }
        assert!(out.contains("t-1"), "{out}");
        assert!(out.contains("job failed"), "{out}");
        assert!(out.contains("Bearer [redacted]"), "{out}");
    }

    #[test]
    fn text_logs_redact_sensitive_fields_and_scrub_values() {
        let buf = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buf.clone())
            .with_ansi(false)
            .fmt_fields(RedactingFields)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let out = buf.text();
        assert_clean(&out);
        assert!(out.contains("speaker_name=[redacted]"), "{out}");
        assert!(out.contains("attempts=3"), "{out}");
    }

    #[test]
    fn json_logs_redact_sensitive_fields_and_scrub_values() {
        let buf = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buf.clone())
            .fmt_fields(RedactingFields)
            .event_format(RedactingJson)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let out = buf.text();
        assert_clean(&out);
        let line: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["speaker_name"], "[redacted]");
        assert_eq!(line["fields"]["attempts"], 3);
        assert_eq!(line["fields"]["task_id"], "t-1");
        assert_eq!(line["spans"][0]["name"], "request");
        assert!(line["spans"][0]["fields"]
            .as_str()
            .unwrap()
            .contains("path=/api/v1/tasks"));
    }
}
