//! Speaker matching across chunks on real voices. The meeting is assembled from turns of a
//! synthetic meeting with ground truth (`shared/data/meetings`), arranged so that the second
//! chunk opens with the *other* speaker; the fake service numbers speakers per request by first
//! appearance, as Azure does, so the numbers of the two chunks are swapped. Matching by number,
//! or by order of appearance, would give each person two names. A voice first heard in the
//! second chunk must become a speaker of its own.
use std::sync::Mutex;

use super::*;

fn meetings_dir() -> PathBuf {
    std::env::var("MINUTES_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/meetings")
        })
}

/// The CAM++ weights from `$MINUTES_MODELS_DIR` (default `~/.cache/minutes/models`), where
/// `minutes models install campplus-zh-en` puts them (CI installs them before the tests).
fn campplus() -> PathBuf {
    let dir = std::env::var("MINUTES_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
                .join(".cache/minutes/models")
        });
    crate::models::resolve(
        &dir,
        "campplus-zh-en",
        crate::models::ModelKind::SpeakerEmbedding,
    )
    .unwrap_or_else(|e| {
        panic!(
            "the CAM++ model is needed ({e}): run `minutes models install campplus-zh-en` with \
             MINUTES_MODELS_DIR={}",
            dir.display()
        )
    })
}

/// A turn on the assembled meeting's timeline.
#[derive(Debug, Clone)]
struct Turn {
    start: f64,
    end: f64,
    person: String,
    text: String,
}

/// The listed ground-truth segments (meeting, index), in this order, 1.5 s apart (a 2 s pause
/// after pick `long_pause_after`, where the cut will fall).
fn assemble(picks: &[(&str, usize)], long_pause_after: usize, out: &Path) -> Vec<Turn> {
    let dir = meetings_dir();
    let mut samples: Vec<i16> = vec![0; 8000];
    let mut turns = Vec::new();
    for (n, &(meeting, i)) in picks.iter().enumerate() {
        let truth: Value = serde_json::from_slice(
            &std::fs::read(dir.join(format!("{meeting}.json")))
                .expect("ground truth (set MINUTES_TEST_DATA)"),
        )
        .expect("json");
        let audio =
            minutes_audio::read_wav_f32(&dir.join(format!("{meeting}.wav"))).expect("meeting wav");
        let seg = &truth["segments"][i];
        let (a, b) = (
            seg["start"].as_f64().expect("start"),
            seg["end"].as_f64().expect("end"),
        );
        let start = samples.len() as f64 / 16_000.0;
        samples.extend(
            audio[(a * 16_000.0) as usize..(b * 16_000.0) as usize]
                .iter()
                .map(|x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16),
        );
        turns.push(Turn {
            start,
            end: samples.len() as f64 / 16_000.0,
            person: seg["speaker"].as_str().expect("speaker").to_string(),
            text: seg["text"].as_str().expect("text").to_string(),
        });
        let pause = if n == long_pause_after { 2.0 } else { 1.5 };
        samples.extend(std::iter::repeat_n(0i16, (pause * 16_000.0) as usize));
    }
    write_wav(out, &samples);
    turns
}

/// Per chunk answered, the people in it with the number the service gave them.
type Numbered = Arc<Mutex<Vec<Vec<(String, u32)>>>>;

/// Answers each chunk with the turns inside it, speakers numbered 0, 1, … by first appearance
/// within the chunk (what a per-request diarizer does).
fn diarizing_service(
    turns: Vec<Turn>,
    numbered: Numbered,
) -> impl Fn(usize, &Seen) -> axum::response::Response {
    let offset = Mutex::new(0.0f64);
    move |_, seen| {
        let mut offset = offset.lock().expect("lock");
        let (start, end) = (*offset, *offset + seen.samples() as f64 / 16_000.0);
        *offset = end;
        let mut ids: Vec<(String, u32)> = Vec::new();
        let mut phrases = Vec::new();
        for t in turns.iter().filter(|t| t.start < end && t.end > start) {
            let next = ids.len() as u32;
            let id = match ids.iter().find(|(p, _)| *p == t.person) {
                Some((_, id)) => *id,
                None => {
                    ids.push((t.person.clone(), next));
                    next
                }
            };
            let (a, b) = (t.start.max(start) - start, t.end.min(end) - start);
            phrases.push(json!({
                "speaker": id, "offsetMilliseconds": (a * 1000.0).round() as u64,
                "durationMilliseconds": ((b - a) * 1000.0).round() as u64,
                "text": t.text, "locale": "en-US", "confidence": 0.9
            }));
        }
        numbered.lock().expect("lock").push(ids);
        ok(json!({"durationMilliseconds": ((end - start) * 1000.0) as u64, "phrases": phrases}))
    }
}

/// Transcribes the assembled meeting in chunks of `max_chunk_secs` and returns each person's
/// speaker labels.
async fn labels_by_person(
    picks: &[(&str, usize)],
    long_pause_after: usize,
    max_chunk_secs: u64,
    model: Option<PathBuf>,
) -> HashMap<String, std::collections::BTreeSet<String>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("meeting.wav");
    let turns = assemble(picks, long_pause_after, &wav);
    let numbered = Numbered::default();
    let fake = fake(diarizing_service(turns.clone(), numbered.clone())).await;
    let mut s = settings(&fake.base);
    s.max_chunk_secs = max_chunk_secs;
    let out = adapter(s, model)
        .0
        .transcribe(&request(&wav, "en-US", &[]))
        .await
        .expect("transcript");

    // The set-up is what the test claims: two chunks, several people in each, and the second
    // opening with someone else than the first.
    let numbered = numbered.lock().expect("lock").clone();
    assert_eq!(numbered.len(), 2, "{numbered:?}");
    let order = |ids: &[(String, u32)]| ids.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    let (first, second) = (order(&numbered[0]), order(&numbered[1]));
    assert!(first.len() >= 2 && second.len() >= 2, "{numbered:?}");
    assert_ne!(
        first[0], second[0],
        "the second chunk opens with another speaker: {numbered:?}"
    );

    let mut by_person: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
    for seg in &out.segments {
        let mid = (seg.start + seg.end) / 2.0;
        let turn = turns
            .iter()
            .find(|t| mid >= t.start && mid <= t.end)
            .unwrap_or_else(|| panic!("segment {seg:?} lies in no turn"));
        by_person
            .entry(turn.person.clone())
            .or_default()
            .insert(seg.speaker.clone().expect("labelled"));
    }
    by_person
}

fn assert_one_label_per_person(
    by_person: &HashMap<String, std::collections::BTreeSet<String>>,
    people: usize,
) {
    assert_eq!(by_person.len(), people, "{by_person:?}");
    let mut all = std::collections::BTreeSet::new();
    for (person, labels) in by_person {
        assert_eq!(labels.len(), 1, "{person} got several names: {by_person:?}");
        all.extend(labels.iter().cloned());
    }
    assert_eq!(all.len(), people, "two people share a name: {by_person:?}");
}

const EN01: &str = "en01_sprint_planning";
const EN02: &str = "en02_customer_escalation";

// en02: david (segments 0, 2, 4, 6, 8) and sarah (1, 3, 5, 7), two clearly different voices.
// Chunk one: david, sarah; the 2 s pause after them takes the cut; chunk two: sarah, david,
// sarah, david.
const TWO: &[(&str, usize)] = &[
    (EN02, 0),
    (EN02, 1),
    (EN02, 3),
    (EN02, 4),
    (EN02, 5),
    (EN02, 6),
];
// en01: priya (0, 3, 6), marcus (1, 5), elena (2, 4, 7); priya and elena are both US-English
// female voices. Chunk one: priya, marcus, elena; chunk two: marcus, elena, priya, so every
// number means someone else.
const THREE: &[(&str, usize)] = &[
    (EN01, 0),
    (EN01, 1),
    (EN01, 2),
    (EN01, 5),
    (EN01, 7),
    (EN01, 6),
];
// Chunk one: david, sarah; chunk two: sarah, then elena (from en01, heard nowhere before), then
// david. Elena must become a third speaker, not be folded into sarah.
const NEWCOMER: &[(&str, usize)] = &[(EN02, 0), (EN02, 1), (EN02, 3), (EN01, 2), (EN02, 4)];

#[tokio::test]
async fn swapped_speaker_numbers_are_matched_by_voice_on_fbank_statistics() {
    // The degraded engine (no model): clearly different voices still match.
    let by_person = labels_by_person(TWO, 1, 30, None).await;
    assert_one_label_per_person(&by_person, 2);
}

#[tokio::test]
async fn three_voices_are_matched_one_to_one_on_fbank_statistics() {
    // The two female voices are close on this engine (0.75-0.78 against each other, 0.94-0.99
    // for the same voice across chunks).
    let by_person = labels_by_person(THREE, 2, 40, None).await;
    assert_one_label_per_person(&by_person, 3);
}

#[tokio::test]
async fn a_voice_not_heard_before_is_a_new_speaker_on_fbank_statistics() {
    let by_person = labels_by_person(NEWCOMER, 1, 30, None).await;
    assert_one_label_per_person(&by_person, 3);
}

#[tokio::test]
async fn swapped_speaker_numbers_are_matched_by_voice_with_campplus() {
    let by_person = labels_by_person(TWO, 1, 30, Some(campplus())).await;
    assert_one_label_per_person(&by_person, 2);
}

#[tokio::test]
async fn three_voices_are_matched_one_to_one_with_campplus() {
    let by_person = labels_by_person(THREE, 2, 40, Some(campplus())).await;
    assert_one_label_per_person(&by_person, 3);
}

#[tokio::test]
async fn a_voice_not_heard_before_is_a_new_speaker_with_campplus() {
    let by_person = labels_by_person(NEWCOMER, 1, 30, Some(campplus())).await;
    assert_one_label_per_person(&by_person, 3);
}
