//! The speech-to-text server the chaos deployments call: an OpenAI-compatible
//! `/v1/audio/transcriptions` on a loopback port of the test process. It answers after a fixed
//! delay, so a transcribe stage is in flight long enough for a `kill -9` to land inside it, and
//! it counts the calls it received, so a test can wait until a worker is mid-call. The rest of
//! the pipeline is real: the recordings are decoded and normalized by the workers, speakers are
//! corrected and the minutes written by the offline extractive writer.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Default)]
struct Counters {
    started: AtomicUsize,
}

pub struct AsrStub {
    /// `asr.openai.base_url` for the deployment.
    pub base_url: String,
    counters: Arc<Counters>,
    server: tokio::task::JoinHandle<()>,
}

struct Shared {
    counters: Arc<Counters>,
    delay: Duration,
}

async fn transcriptions(State(s): State<Arc<Shared>>, _body: axum::body::Bytes) -> Json<Value> {
    s.counters.started.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(s.delay).await;
    Json(json!({
        "task": "transcribe", "language": "english", "duration": 60.0,
        "text": "Good morning. Let's plan the sprint. The staging cluster moves next week.",
        "segments": [
            {"id": 0, "start": 0.5, "end": 11.0, "text": " Good morning.", "avg_logprob": -0.1, "no_speech_prob": 0.01},
            {"id": 1, "start": 11.5, "end": 20.0, "text": " Let's plan the sprint.", "avg_logprob": -0.2, "no_speech_prob": 0.02},
            {"id": 2, "start": 20.5, "end": 31.0, "text": " The staging cluster moves next week.", "avg_logprob": -0.2, "no_speech_prob": 0.02}
        ]
    }))
}

impl AsrStub {
    /// Answers every transcription after `delay`.
    pub async fn start(delay: Duration) -> AsrStub {
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            counters: counters.clone(),
            delay,
        });
        let app = Router::new()
            .route("/v1/audio/transcriptions", post(transcriptions))
            // A minute of 16 kHz WAV is about 2 MB, axum's default limit.
            .layer(DefaultBodyLimit::disable())
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the ASR stub");
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the ASR stub serves");
        });
        AsrStub {
            base_url,
            counters,
            server,
        }
    }

    /// Transcription requests received so far (answered or not).
    pub fn started(&self) -> usize {
        self.counters.started.load(Ordering::SeqCst)
    }
}

impl Drop for AsrStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}
