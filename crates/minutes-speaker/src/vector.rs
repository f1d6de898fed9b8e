//! Small vector helpers shared by clustering, diarization and identification.

/// Cosine similarity in [-1, 1]; 0 when either vector is all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norms = norm(a) * norm(b);
    if norms > 0.0 {
        dot / norms
    } else {
        0.0
    }
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// `v / |v|`, or `v` unchanged when it is all zeros.
pub fn l2_normalized(mut v: Vec<f32>) -> Vec<f32> {
    let n = norm(&v);
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// The L2-normalized mean of L2-normalized vectors: a cluster centroid or an enrolled voiceprint
/// built from several clips. `None` for an empty list.
pub fn centroid<'a>(vectors: impl IntoIterator<Item = &'a [f32]>) -> Option<Vec<f32>> {
    let mut sum: Option<Vec<f32>> = None;
    for v in vectors {
        let v = l2_normalized(v.to_vec());
        match &mut sum {
            None => sum = Some(v),
            Some(s) => s.iter_mut().zip(&v).for_each(|(a, b)| *a += b),
        }
    }
    sum.map(l2_normalized)
}
