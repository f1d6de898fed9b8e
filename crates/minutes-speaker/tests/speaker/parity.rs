//! The Rust features and embeddings match the PyTorch reference recorded in the fixture.

use minutes_speaker::fbank;

use crate::helpers::{clip, cosine, model, reference};

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
    let batched = model().embed_batch(&refs).unwrap();
    for (r, (samples, from_batch)) in reference.clips.iter().zip(clips.iter().zip(&batched)) {
        let single = model().embed(samples).unwrap();
        assert_eq!(single.len(), 192);
        let norm: f32 = single.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "not L2-normalized: {norm}");
        let cos = cosine(&single, &r.embedding);
        let cos_batch = cosine(from_batch, &r.embedding);
        println!(
            "{:16} cosine vs reference {cos:.6} (batched {cos_batch:.6})",
            r.stem()
        );
        assert!(cos >= 0.99, "{}: cosine {cos}", r.file);
        assert!(cos_batch >= 0.99, "{} batched: cosine {cos_batch}", r.file);
    }
}
