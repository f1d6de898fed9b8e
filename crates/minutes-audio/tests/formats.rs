//! End-to-end checks against the synthetic meetings in shared/data/meetings.

use std::path::{Path, PathBuf};

use minutes_audio::*;

/// The shared test data; MINUTES_TEST_DATA overrides the default location beside the repo.
fn data_dir() -> PathBuf {
    let dir = std::env::var_os("MINUTES_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/meetings")
        });
    assert!(
        dir.join("en01_sprint_planning.wav").exists(),
        "test data not found in {}",
        dir.display()
    );
    dir
}

fn meeting(ext: &str) -> PathBuf {
    data_dir().join(format!("en01_sprint_planning.{ext}"))
}

fn decode_all(path: &Path, limits: &Limits) -> Result<Vec<f32>, AudioError> {
    let mut out = Vec::new();
    let n = decode_16k_mono(path, limits, &mut |s| {
        out.extend_from_slice(s);
        Ok(())
    })?;
    assert_eq!(
        n as usize,
        out.len(),
        "returned count must match what the sink got"
    );
    Ok(out)
}

/// Normalized cross-correlation of `a` against `b` shifted by `lag` samples.
fn ncc(a: &[f32], b: &[f32], lag: isize) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &x) in a.iter().enumerate() {
        let j = i as isize + lag;
        if j < 0 || j as usize >= b.len() {
            continue;
        }
        let y = b[j as usize];
        ab += f64::from(x) * f64::from(y);
        aa += f64::from(x) * f64::from(x);
        bb += f64::from(y) * f64::from(y);
    }
    ab / (aa.sqrt() * bb.sqrt()).max(1e-12)
}

fn best_lag(a: &[f32], b: &[f32]) -> (isize, f64) {
    (-800..=800isize)
        .step_by(1)
        .map(|lag| (lag, ncc(a, b, lag)))
        .fold(
            (0, f64::MIN),
            |best, cur| if cur.1 > best.1 { cur } else { best },
        )
}

#[test]
fn every_format_decodes_in_line_with_the_wav() {
    let reference = read_wav_f32(&meeting("wav")).unwrap();
    assert_eq!(reference.len(), 1_017_836);
    for (ext, container, codec) in [
        ("wav", Container::Wav, "pcm_s16le"),
        ("flac", Container::Flac, "flac"),
        ("mp3", Container::Mp3, "mp3"),
        ("m4a", Container::Mp4, "aac"),
        ("ogg", Container::Ogg, "vorbis"),
        ("opus", Container::Ogg, "opus"),
    ] {
        let path = meeting(ext);
        let info = probe(&path).unwrap();
        assert_eq!(
            (info.container, info.codec.as_str()),
            (container, codec),
            "{ext}"
        );
        let duration = info.duration_secs.unwrap();
        assert!(
            (duration - 63.615).abs() < 0.1,
            "{ext}: header duration {duration}"
        );

        let decoded = decode_all(&path, &Limits::default()).unwrap();
        let diff = decoded.len() as i64 - reference.len() as i64;
        assert!(
            diff.abs() <= 1_600,
            "{ext}: {} samples vs {}",
            decoded.len(),
            reference.len()
        );
        let zero_lag = ncc(&decoded, &reference, 0);
        let (lag, best) = best_lag(&decoded[..200_000], &reference[..200_000]);
        eprintln!("{ext}: len diff {diff}, ncc(0) {zero_lag:.4}, best lag {lag} ({best:.4})");
        match ext {
            "wav" | "flac" => assert_eq!(decoded, reference, "{ext} must be bit-exact"),
            // libopus's own output (opusdec, which this decoder matches bit for bit after the
            // pre-skip) sits ~2.7 samples at 48 kHz (56 us) ahead of the source in SILK mode: that
            // sub-sample offset costs correlation at lag 0 on wideband speech, not alignment.
            "opus" => {
                assert!(zero_lag > 0.85, "{ext}: correlation at lag 0 is {zero_lag}");
                assert!(
                    lag.abs() <= 1 && best > 0.95,
                    "{ext}: best lag {lag} ({best})"
                );
            }
            _ => {
                assert!(zero_lag > 0.9, "{ext}: correlation at lag 0 is {zero_lag}");
                assert_eq!(lag, 0, "{ext}: best lag");
            }
        }
    }
}

#[test]
fn sniffing_goes_by_content() {
    for (ext, want) in [
        ("wav", Container::Wav),
        ("flac", Container::Flac),
        ("mp3", Container::Mp3),
        ("m4a", Container::Mp4),
        ("ogg", Container::Ogg),
        ("opus", Container::Ogg),
    ] {
        let bytes = std::fs::read(meeting(ext)).unwrap();
        assert_eq!(sniff(&bytes[..64]), Some(want), "{ext}");
    }

    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect();
    let cases: [(&str, &[u8]); 4] = [
        (
            "notes.txt",
            b"Minutes of the meeting\nAttendees: everyone\n",
        ),
        (
            "image.png",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0\0\0\x01\0\x08\x06\0\0\0",
        ),
        ("random.bin", &random),
        ("empty.wav", b""),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(sniff(bytes), None, "{name}");
        assert!(matches!(probe(&path), Err(AudioError::NotAudio)), "{name}");
        assert!(
            matches!(
                decode_all(&path, &Limits::default()),
                Err(AudioError::NotAudio)
            ),
            "{name}"
        );
    }
    let msg = AudioError::NotAudio.to_string();
    assert_eq!(
        msg,
        "not a supported audio file (wav, mp3, m4a/aac, ogg/vorbis, opus, flac)"
    );

    // The name says wav, the bytes say mp3: the bytes win.
    let disguised = dir.path().join("really_mp3.wav");
    std::fs::copy(meeting("mp3"), &disguised).unwrap();
    let info = probe(&disguised).unwrap();
    assert_eq!(
        (info.container, info.codec.as_str()),
        (Container::Mp3, "mp3")
    );
    assert!(decode_all(&disguised, &Limits::default()).unwrap().len() > 1_000_000);
}

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
fn too_long_is_refused_while_decoding() {
    let limits = Limits {
        max_duration_secs: 10.0,
    };
    for ext in ["wav", "mp3", "opus"] {
        let mut seen = 0usize;
        let err = decode_16k_mono(&meeting(ext), &limits, &mut |s| {
            seen += s.len();
            Ok(())
        })
        .unwrap_err();
        assert!(
            matches!(err, AudioError::TooLong { limit_secs } if limit_secs == 10.0),
            "{ext}: {err:?}"
        );
        assert!(
            seen <= 11 * 16_000,
            "{ext}: stopped only after {seen} samples"
        );
    }
    // Exactly at the limit is fine.
    let n = decode_all(
        &meeting("wav"),
        &Limits {
            max_duration_secs: 1_017_836.0 / 16_000.0,
        },
    )
    .unwrap();
    assert_eq!(n.len(), 1_017_836);
}

/// A tiny 8 kHz 8-bit WAV whose header claims ~149 hours but holds 60 s: decoded output counts.
#[test]
fn header_claims_do_not_decide_the_length() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claims_149h.wav");
    let claimed: u32 = 0xFFFF_0000;
    let mut bytes = b"RIFF".to_vec();
    bytes.extend_from_slice(&claimed.wrapping_add(36).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&[1, 0, 1, 0]); // PCM, mono
    bytes.extend_from_slice(&8_000u32.to_le_bytes());
    bytes.extend_from_slice(&8_000u32.to_le_bytes());
    bytes.extend_from_slice(&[1, 0, 8, 0]); // block align 1, 8 bits
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&claimed.to_le_bytes());
    bytes.extend((0..60 * 8_000).map(|i: u32| (128.0 + 60.0 * (f64::from(i) * 0.3).sin()) as u8));
    std::fs::write(&path, &bytes).unwrap();

    let info = probe(&path).unwrap();
    assert!(info.duration_secs.unwrap() > 100.0 * 3600.0, "{info:?}");
    let err = decode_all(
        &path,
        &Limits {
            max_duration_secs: 10.0,
        },
    )
    .unwrap_err();
    assert!(matches!(err, AudioError::TooLong { .. }), "{err:?}");
    let decoded = decode_all(&path, &Limits::default()).unwrap();
    assert!(
        (decoded.len() as i64 - 60 * 16_000).abs() <= 16_000,
        "{}",
        decoded.len()
    );
}

#[test]
fn truncated_and_corrupt_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["wav", "flac", "mp3", "m4a", "ogg", "opus"] {
        let bytes = std::fs::read(meeting(ext)).unwrap();
        let path = dir.path().join(format!("cut.{ext}"));
        // Cut before any audio could be decoded: an error, never Ok and never a panic.
        let cuts: &[usize] = if ext == "wav" {
            &[0, 3, 12, 40]
        } else {
            &[0, 3, 12, 40, 64]
        };
        for &len in cuts {
            std::fs::write(&path, &bytes[..len]).unwrap();
            let err = probe(&path).unwrap_err();
            assert!(
                matches!(err, AudioError::Corrupt(_) | AudioError::NotAudio),
                "{ext} cut at {len}: {err:?}"
            );
            let err = decode_all(&path, &Limits::default()).unwrap_err();
            assert!(
                matches!(err, AudioError::Corrupt(_) | AudioError::NotAudio),
                "{ext} cut at {len}: {err:?}"
            );
        }
        // Cut in the middle: whatever decodes comes out, and no more than the file holds.
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        match decode_all(&path, &Limits::default()) {
            Ok(s) => assert!(
                s.len() < 1_017_836 * 3 / 4,
                "{ext}: {} samples from half a file",
                s.len()
            ),
            Err(e) => assert!(matches!(e, AudioError::Corrupt(_)), "{ext}: {e:?}"),
        }
        // Valid magic followed by garbage.
        let mut garbage = bytes[..16].to_vec();
        garbage.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        std::fs::write(&path, &garbage).unwrap();
        if let Ok(s) = decode_all(&path, &Limits::default()) {
            assert!(
                s.len() < 16_000 * 10,
                "{ext}: garbage decoded to {} samples",
                s.len()
            );
        }
        // Damage in the middle of a real file: decoders skip or conceal, never panic.
        let mut damaged = bytes.clone();
        let mid = damaged.len() / 2;
        damaged[mid..mid + 2_000]
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b ^= (i * 37) as u8);
        std::fs::write(&path, &damaged).unwrap();
        let _ = decode_all(&path, &Limits::default());
    }
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
