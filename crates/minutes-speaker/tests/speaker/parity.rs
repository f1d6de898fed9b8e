//! The Rust features and embeddings match the PyTorch reference recorded in the fixture.

use minutes_speaker::{fbank, SpeakerError};

use crate::helpers::{clip, clip_embedding, cosine, model, reference};

#[test]
fn fbank_matches_torchaudio_kaldi() {
    let mut worst = 0f32;
    for r in reference().clips {
        let frames = fbank::kaldi_fbank(&clip(r.stem()));
        assert_eq!(frames.len(), r.num_frames, "{}", r.file);
        for (index, row) in &r.fbank_rows {
            for (ours, theirs) in frames[*index].iter().zip(row) {
                worst = worst.max((ours - theirs).abs());
            }
        }
        for (bin, theirs) in r.fbank_bin_means.iter().enumerate() {
            let ours = frames.iter().map(|f| f[bin]).sum::<f32>() / frames.len() as f32;
            worst = worst.max((ours - theirs).abs());
        }
    }
    println!("fbank max abs diff vs torchaudio: {worst:.2e}");
    // The fixture is rounded to 1e-5; log-mel values span about -16..+5.
    assert!(worst < 1e-3, "fbank max abs diff {worst}");
}

#[test]
fn embeddings_match_the_pytorch_reference() {
    let reference = reference();
    let clips: Vec<Vec<f32>> = reference.clips.iter().map(|r| clip(r.stem())).collect();
    let refs: Vec<&[f32]> = clips.iter().map(Vec::as_slice).collect();
    // All clips have the same length, so this runs them through the network as one batch.
    let batched = model().embed_batch(&refs).unwrap();
    for (r, embedding) in reference.clips.iter().zip(&batched) {
        assert_eq!(embedding.len(), 192);
        let norm: f32 = embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "not L2-normalized: {norm}");
        let cos = cosine(embedding, &r.embedding);
        println!("{:16} cosine vs reference {cos:.6}", r.stem());
        assert!(cos >= 0.99, "{}: cosine {cos}", r.file);
    }
    // The single-clip path (batch of one, a different matrix shape) agrees too.
    let first = &reference.clips[0];
    let single = clip_embedding(first.stem());
    let cos = cosine(&single, &first.embedding);
    assert!(cos >= 0.99, "{} unbatched: cosine {cos}", first.file);
}

#[test]
fn clips_shorter_than_one_frame_fail_cleanly_and_one_frame_works() {
    let too_short = model().embed(&[0.1; 399]);
    assert!(
        matches!(too_short, Err(SpeakerError::TooShort { samples: 399 })),
        "{too_short:?}"
    );
    let tone: Vec<f32> = (0..400).map(|i| (i as f32 * 0.3).sin() * 0.3).collect();
    let one_frame = model().embed(&tone).unwrap();
    assert_eq!(one_frame.len(), 192);
    assert!(one_frame.iter().all(|v| v.is_finite()));
}
