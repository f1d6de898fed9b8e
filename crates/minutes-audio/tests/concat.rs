//! Joining multi-file meetings, writing normalized WAVs and slicing them.

mod common;

use std::path::PathBuf;

use common::*;
use minutes_audio::*;

#[derive(serde::Deserialize)]
struct PartsJson {
    sample_rate: u32,
    parts: Vec<PartJson>,
}

#[derive(serde::Deserialize)]
struct PartJson {
    file: String,
    offset_s: f64,
    duration_s: f64,
    offset_samples: u64,
    num_samples: u64,
}

#[test]
fn concat_parts_rebuilds_the_meeting() {
    let parts_dir = data_dir().join("parts");
    let spec: PartsJson = serde_json::from_str(
        &std::fs::read_to_string(parts_dir.join("zh02_incident_review.parts.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(spec.sample_rate, TARGET_SAMPLE_RATE);
    let inputs: Vec<PathBuf> = spec.parts.iter().map(|p| parts_dir.join(&p.file)).collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("joined.wav");
    let timeline = concat_to_wav(&inputs, &out, &Limits::default()).unwrap();

    assert_eq!(timeline.parts.len(), 3);
    for (i, (got, want)) in timeline.parts.iter().zip(&spec.parts).enumerate() {
        assert_eq!(got.part_index, i);
        assert!(
            (got.offset_secs - want.offset_s).abs() < 0.001,
            "part {i} offset {}",
            got.offset_secs
        );
        assert!(
            (got.duration_secs - want.duration_s).abs() < 0.001,
            "part {i} duration"
        );
        assert_eq!(got.samples, want.num_samples);
        assert_eq!(
            (got.offset_secs * 16_000.0).round() as u64,
            want.offset_samples
        );
    }
    let full = read_wav_f32(&data_dir().join("zh02_incident_review.wav")).unwrap();
    let joined = read_wav_f32(&out).unwrap();
    assert_eq!(joined.len(), full.len());
    assert_eq!(
        (timeline.total_secs() * 16_000.0).round() as usize,
        full.len()
    );
    assert!(joined == full, "the parts must rejoin sample-identical");

    // Boundaries belong to the part that starts there.
    let b1 = spec.parts[1].offset_s;
    let b2 = spec.parts[2].offset_s;
    assert_eq!(timeline.locate(0.0), Some((0, 0.0)));
    let (i, t) = timeline.locate(b1 - 0.01).unwrap();
    assert!(i == 0 && (t - (b1 - 0.01)).abs() < 1e-9);
    let (i, t) = timeline.locate(b1).unwrap();
    assert!(i == 1 && t.abs() < 0.001);
    let (i, t) = timeline.locate(b2 + 1.0).unwrap();
    assert!(i == 2 && (t - 1.0).abs() < 0.001);
    let (i, _) = timeline.locate(timeline.total_secs() + 5.0).unwrap();
    assert_eq!(i, 2);
}

#[test]
fn concat_names_the_failing_part_and_limits_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.mp3");
    std::fs::write(&bad, b"no audio here").unwrap();
    let out = dir.path().join("joined.wav");
    let inputs = vec![meeting("wav"), bad, meeting("flac")];
    match concat_to_wav(&inputs, &out, &Limits::default()) {
        Err(AudioError::Part { index: 1, source }) => {
            assert!(matches!(*source, AudioError::NotAudio))
        }
        other => panic!("expected part 1 to fail, got {other:?}"),
    }
    assert!(!out.exists(), "a failed join leaves no output behind");

    // Each part is 63.6 s: the second one pushes the total over 100 s.
    let inputs = vec![meeting("wav"), meeting("mp3")];
    let err = concat_to_wav(
        &inputs,
        &out,
        &Limits {
            max_duration_secs: 100.0,
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, AudioError::TooLong { limit_secs } if limit_secs == 100.0),
        "{err:?}"
    );
}

#[test]
fn normalize_then_slice_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("norm.wav");
    let n = normalize_to_wav(&meeting("m4a"), &out, &Limits::default()).unwrap();
    assert!((n as i64 - 1_017_836).abs() <= 1_600);
    let samples = read_wav_f32(&out).unwrap();
    assert_eq!(samples.len() as u64, n);
    let info = probe(&out).unwrap();
    assert_eq!(
        (info.container, info.sample_rate, info.channels),
        (Container::Wav, 16_000, 1)
    );

    let slice = slice_wav(&out, 10.0, 12.5).unwrap();
    assert_eq!(&slice[0..4], b"RIFF");
    assert_eq!(&slice[8..16], b"WAVEfmt ");
    assert_eq!(
        u32::from_le_bytes(slice[24..28].try_into().unwrap()),
        16_000
    );
    assert_eq!(
        u32::from_le_bytes(slice[40..44].try_into().unwrap()),
        40_000 * 2
    );
    assert_eq!(slice.len(), 44 + 40_000 * 2);
    let first = i16::from_le_bytes([slice[44], slice[45]]);
    assert_eq!(f32::from(first) / 32_768.0, samples[160_000]);
    // The slice is itself a file this crate reads.
    let sliced = dir.path().join("slice.wav");
    std::fs::write(&sliced, &slice).unwrap();
    assert_eq!(read_wav_f32(&sliced).unwrap(), samples[160_000..200_000]);
    assert!(slice_wav(&out, 500.0, 600.0).is_err());

    // A failed normalization leaves nothing behind.
    let bad = dir.path().join("bad.bin");
    std::fs::write(&bad, b"nope").unwrap();
    let out2 = dir.path().join("norm2.wav");
    assert!(normalize_to_wav(&bad, &out2, &Limits::default()).is_err());
    assert!(!out2.exists());
}
