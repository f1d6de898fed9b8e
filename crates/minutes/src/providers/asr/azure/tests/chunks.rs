//! Audio longer than one request: cuts in pauses, phrase times on the meeting's timeline, and
//! the checkpoint that keeps finished chunks across a retry.
use super::*;

/// 50 s of 4 s tones and 1 s of silence: every cut has a pause within reach.
fn long_meeting(dir: &Path) -> (PathBuf, Vec<i16>) {
    let mut samples = Vec::new();
    for _ in 0..10 {
        samples.extend(tone(4.0));
        samples.extend(std::iter::repeat_n(0i16, 16_000));
    }
    let path = dir.join("long.wav");
    write_wav(&path, &samples);
    (path, samples)
}

/// The first sample of every chunk answered so far, in order.
type Starts = Arc<std::sync::Mutex<Vec<u64>>>;

/// Each chunk is answered with one phrase 1.0–1.5 s into it, named after its first sample
/// (chunks arrive in order and are contiguous, so it follows from the sizes before it).
fn answer_chunk(
    starts: &Starts,
    ends: &std::sync::Mutex<u64>,
    seen: &Seen,
) -> axum::response::Response {
    let mut end = ends.lock().expect("lock");
    let start = *end;
    *end += seen.samples();
    starts.lock().expect("lock").push(start);
    ok(phrase_body(1000, 500, &format!("from {start}"), None))
}

#[tokio::test]
async fn long_audio_is_cut_in_pauses_and_offsets_shifted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wav, samples) = long_meeting(dir.path());
    let starts = Starts::default();
    let fake = {
        let (starts, end) = (starts.clone(), std::sync::Mutex::new(0));
        fake(move |_, seen| answer_chunk(&starts, &end, seen)).await
    };
    let mut s = settings(&fake.base);
    s.max_chunk_secs = 20;
    let (asr, _) = adapter(s, None);
    let out = asr
        .transcribe(&request(&wav, "en-US", &[]))
        .await
        .expect("ok");

    let seen = fake.seen();
    assert!(
        seen.len() >= 3,
        "50 s in chunks of at most 20 s: {}",
        seen.len()
    );
    let mut start = 0usize;
    for (i, chunk) in seen.iter().enumerate() {
        let n = chunk.samples() as usize;
        assert!(n <= 20 * 16_000, "chunk {i} has {n} samples");
        // Each chunk is exactly its stretch of the meeting, and each cut falls in a pause.
        let expected: Vec<u8> = samples[start..start + n]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        assert_eq!(&chunk.audio[44..], &expected[..], "chunk {i}");
        if start > 0 {
            assert!(
                samples[start - 160..start + 160].iter().all(|&s| s == 0),
                "cut {i} in a pause"
            );
        }
        start += n;
    }
    assert_eq!(start, samples.len(), "the chunks cover the meeting");

    assert_eq!(out.segments.len(), seen.len());
    let starts = starts.lock().expect("lock").clone();
    for (segment, chunk_start) in out.segments.iter().zip(&starts) {
        let offset = *chunk_start as f64 / 16_000.0;
        assert_eq!(segment.text, format!("from {chunk_start}"));
        assert!((segment.start - (offset + 1.0)).abs() < 1e-9, "{segment:?}");
        assert!((segment.end - (offset + 1.5)).abs() < 1e-9, "{segment:?}");
    }
    assert!(out.segments.windows(2).all(|w| w[0].start < w[1].start));
}

#[tokio::test]
async fn a_retry_resumes_after_the_chunks_already_paid_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wav, _) = long_meeting(dir.path());
    let mem = Arc::new(MemCheckpoint::default());
    let mut req = request(&wav, "en-US", &[]);
    req.checkpoint = Some(checkpoint(&mem));

    // The first chunk is transcribed, then the service fails for good this attempt.
    let (starts, end) = (Starts::default(), Arc::new(std::sync::Mutex::new(0)));
    let failing = {
        let (starts, end) = (starts.clone(), end.clone());
        fake(move |n, seen| match n {
            0 => answer_chunk(&starts, &end, seen),
            _ => status(
                503,
                &[],
                r#"{"code": "ServiceUnavailable", "message": "Busy."}"#,
            ),
        })
        .await
    };
    let mut s = settings(&failing.base);
    s.max_chunk_secs = 20;
    let err = adapter(s.clone(), None)
        .0
        .transcribe(&req)
        .await
        .expect_err("second chunk fails");
    assert!(err.is_retryable(), "{err:?}");
    let saved = mem.state().expect("progress checkpointed");
    assert_eq!(saved["done"][0][0]["text"], "from 0");
    assert!(saved["done"][1].is_null());
    let first_chunk = failing.seen()[0].audio.clone();

    // The job queue retries: only the chunks not yet done are sent.
    let resumed = fake(move |_, seen| answer_chunk(&starts, &end, seen)).await;
    s.endpoint = Some(resumed.base.clone());
    let out = adapter(s, None).0.transcribe(&req).await.expect("resumed");
    let sent = resumed.seen();
    assert!(!sent.is_empty());
    assert!(
        sent.iter().all(|s| s.audio != first_chunk),
        "chunk 0 was not paid for twice"
    );
    assert_eq!(out.segments.len(), sent.len() + 1);
    assert_eq!(out.segments[0].text, "from 0");
    assert!((out.segments[0].start - 1.0).abs() < 1e-9);
    let second_start = first_chunk.len() as f64 / 2.0 / 16_000.0 - 44.0 / 2.0 / 16_000.0;
    assert!(
        (out.segments[1].start - (second_start + 1.0)).abs() < 1e-9,
        "{:?}",
        out.segments[1]
    );
    assert_eq!(
        mem.state(),
        None,
        "a finished transcription leaves no checkpoint"
    );
}
