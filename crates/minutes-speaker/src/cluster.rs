//! Average-linkage agglomerative clustering of embeddings on cosine distance.
//!
//! The number of speakers is estimated by cutting the dendrogram at a distance threshold: two
//! groups of windows are merged while their average pairwise cosine distance is at most
//! `threshold`. A threshold suits speaker embeddings better than an eigengap estimate here:
//! CAM++ distances are calibrated across recordings (the same threshold works for 2 or 4
//! speakers), while the eigengap of a 20-200 window affinity matrix is unstable when one speaker
//! talks much less than the others. A known upper bound (`max_speakers`) forces further merges.
//!
//! The dendrogram is built with the nearest-neighbour-chain algorithm: O(n^2) time and a
//! condensed O(n^2 / 2) distance matrix, so an hour of 0.75 s hops (4,800 windows) takes about
//! 46 MB and well under a second.

/// Cluster labels for `embeddings`, numbered 0.. in order of first appearance.
///
/// `threshold` is a cosine *distance* (1 - similarity). With `max_speakers = Some(k)` merging
/// continues past the threshold until at most `k` clusters remain.
pub fn agglomerative(
    embeddings: &[Vec<f32>],
    threshold: f32,
    max_speakers: Option<usize>,
) -> Vec<usize> {
    let n = embeddings.len();
    if n == 0 {
        return Vec::new();
    }
    let mut merges = dendrogram(embeddings);
    // Average linkage never produces inversions, so merges sorted by height are a valid
    // bottom-up order and any prefix of them is a cut of the tree.
    merges.sort_by(|a, b| a.height.total_cmp(&b.height));
    let max_clusters = max_speakers.unwrap_or(n).max(1);
    let mut sets = DisjointSets::new(n);
    let mut clusters = n;
    for merge in merges {
        if merge.height > threshold && clusters <= max_clusters {
            break;
        }
        sets.union(merge.a, merge.b);
        clusters -= 1;
    }
    let roots: Vec<usize> = (0..n).map(|i| sets.find(i)).collect();
    renumber(&roots)
}

/// Moves the members of clusters with fewer than `min_size` members to the cluster whose
/// centroid is most similar, then renumbers by first appearance.
///
/// A threshold low enough to keep two similar voices apart also splits off a few outlier
/// windows of one voice (a laugh, a breath, a word in another register) as tiny clusters; they
/// are not speakers. Nothing changes when no cluster reaches `min_size`.
pub fn absorb_small(labels: &[usize], embeddings: &[Vec<f32>], min_size: usize) -> Vec<usize> {
    let clusters = labels.iter().max().map_or(0, |m| m + 1);
    let mut sizes = vec![0usize; clusters];
    for &l in labels {
        sizes[l] += 1;
    }
    let big: Vec<usize> = (0..clusters).filter(|&c| sizes[c] >= min_size).collect();
    if big.is_empty() || big.len() == clusters {
        return labels.to_vec();
    }
    let centroids: Vec<Vec<f32>> = big
        .iter()
        .map(|&c| {
            let members = labels
                .iter()
                .zip(embeddings)
                .filter(|(&l, _)| l == c)
                .map(|(_, e)| e.as_slice());
            crate::vector::centroid(members).unwrap_or_default()
        })
        .collect();
    let moved: Vec<usize> = labels
        .iter()
        .zip(embeddings)
        .map(|(&l, e)| {
            if sizes[l] >= min_size {
                return l;
            }
            let nearest = (0..big.len()).max_by(|&a, &b| {
                let (ca, cb) = (&centroids[a], &centroids[b]);
                crate::vector::cosine(e, ca).total_cmp(&crate::vector::cosine(e, cb))
            });
            nearest.map_or(l, |i| big[i])
        })
        .collect();
    renumber(&moved)
}

/// Renumbers labels 0.. in order of first appearance.
pub(crate) fn renumber(labels: &[usize]) -> Vec<usize> {
    let mut map = std::collections::HashMap::new();
    labels
        .iter()
        .map(|&l| {
            let next = map.len();
            *map.entry(l).or_insert(next)
        })
        .collect()
}

/// One merge of the dendrogram: the clusters containing points `a` and `b` join at `height`.
struct Merge {
    a: usize,
    b: usize,
    height: f32,
}

/// Upper triangle of a symmetric matrix, without the diagonal.
struct Condensed {
    n: usize,
    values: Vec<f32>,
}

impl Condensed {
    fn index(&self, i: usize, j: usize) -> usize {
        let (i, j) = if i < j { (i, j) } else { (j, i) };
        i * self.n - i * (i + 1) / 2 + (j - i - 1)
    }
    fn get(&self, i: usize, j: usize) -> f32 {
        self.values[self.index(i, j)]
    }
    fn set(&mut self, i: usize, j: usize, v: f32) {
        let k = self.index(i, j);
        self.values[k] = v;
    }
}

fn dendrogram(embeddings: &[Vec<f32>]) -> Vec<Merge> {
    let n = embeddings.len();
    let normalized: Vec<Vec<f32>> = embeddings
        .iter()
        .map(|e| crate::vector::l2_normalized(e.clone()))
        .collect();
    let mut dist = Condensed {
        n,
        values: Vec::with_capacity(n * n.saturating_sub(1) / 2),
    };
    for i in 0..n {
        for j in i + 1..n {
            let dot: f32 = normalized[i]
                .iter()
                .zip(&normalized[j])
                .map(|(a, b)| a * b)
                .sum();
            dist.values.push(1.0 - dot);
        }
    }
    // Each active cluster lives in the slot of one of its points.
    let mut size = vec![1usize; n];
    let mut active = vec![true; n];
    let mut chain: Vec<usize> = Vec::with_capacity(n);
    let mut merges = Vec::with_capacity(n.saturating_sub(1));
    while merges.len() + 1 < n {
        if chain.is_empty() {
            chain.extend(active.iter().position(|&a| a));
        }
        let (a, b, height) = loop {
            let a = chain[chain.len() - 1];
            let previous = chain.len().checked_sub(2).map(|i| chain[i]);
            // Prefer the previous chain element on ties so the chain always terminates.
            let mut best = previous.map(|p| (p, dist.get(a, p)));
            for c in (0..n).filter(|&c| active[c] && c != a) {
                let d = dist.get(a, c);
                if best.is_none_or(|(_, bd)| d < bd) {
                    best = Some((c, d));
                }
            }
            let Some((b, d)) = best else {
                unreachable!("at least two clusters are active while merging");
            };
            if Some(b) == previous {
                chain.truncate(chain.len() - 2);
                break (a, b, d);
            }
            chain.push(b);
        };
        // Lance-Williams update for average linkage; the merged cluster keeps slot `b`.
        let (na, nb) = (size[a] as f32, size[b] as f32);
        for c in (0..n).filter(|&c| active[c] && c != a && c != b) {
            let merged = (na * dist.get(a, c) + nb * dist.get(b, c)) / (na + nb);
            dist.set(b, c, merged);
        }
        active[a] = false;
        size[b] += size[a];
        merges.push(Merge { a, b, height });
    }
    merges
}

struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    fn new(n: usize) -> Self {
        DisjointSets {
            parent: (0..n).collect(),
        }
    }
    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(angle_deg: f32) -> Vec<f32> {
        let r = angle_deg.to_radians();
        vec![r.cos(), r.sin()]
    }

    #[test]
    fn separates_two_tight_groups_at_the_threshold() {
        let points: Vec<Vec<f32>> = [0., 5., 10., 90., 95., 2.].map(unit).to_vec();
        assert_eq!(agglomerative(&points, 0.3, None), vec![0, 0, 0, 1, 1, 0]);
    }

    #[test]
    fn a_low_threshold_keeps_everything_apart_and_max_speakers_forces_merges() {
        // Pairs (0, 30) and (90, 125) are close; the two pairs are far apart.
        let points: Vec<Vec<f32>> = [0., 30., 90., 125.].map(unit).to_vec();
        assert_eq!(agglomerative(&points, 0.01, None), vec![0, 1, 2, 3]);
        let two = agglomerative(&points, 0.01, Some(2));
        assert_eq!(two, vec![0, 0, 1, 1]);
        assert_eq!(agglomerative(&points, 0.01, Some(1)), vec![0; 4]);
    }

    #[test]
    fn uses_average_not_single_linkage() {
        // A chain 0-20-40-60-80 degrees: single linkage at distance 0.07 (20 degrees) would
        // join everything, average linkage stops once the mean distance exceeds it.
        let points: Vec<Vec<f32>> = [0., 20., 40., 60., 80.].map(unit).to_vec();
        let labels = agglomerative(&points, 0.07, None);
        assert!(labels.iter().max().copied().unwrap_or(0) >= 1, "{labels:?}");
    }

    #[test]
    fn small_clusters_join_their_nearest_big_cluster() {
        let points: Vec<Vec<f32>> = [0., 5., 10., 90., 95., 100., 30.].map(unit).to_vec();
        let labels = vec![0, 0, 0, 1, 1, 1, 2];
        assert_eq!(absorb_small(&labels, &points, 2), vec![0, 0, 0, 1, 1, 1, 0]);
        // Nothing is big enough: keep everything as it was.
        assert_eq!(absorb_small(&labels, &points, 4), labels);
    }

    #[test]
    fn handles_empty_and_single_inputs() {
        assert!(agglomerative(&[], 0.5, None).is_empty());
        assert_eq!(agglomerative(&[vec![1.0, 0.0]], 0.5, Some(3)), vec![0]);
    }

    #[test]
    fn nn_chain_matches_a_naive_average_linkage() {
        // Deterministic pseudo-random points in 3-D; compare merge heights with a brute force.
        let mut seed = 12345u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let points: Vec<Vec<f32>> = (0..30).map(|_| vec![next(), next(), next()]).collect();
        let mut fast: Vec<f32> = dendrogram(&points).iter().map(|m| m.height).collect();
        fast.sort_by(f32::total_cmp);
        let mut clusters: Vec<Vec<usize>> = (0..points.len()).map(|i| vec![i]).collect();
        let d = |i: usize, j: usize| 1.0 - crate::vector::cosine(&points[i], &points[j]);
        let mut slow = Vec::new();
        while clusters.len() > 1 {
            let mut best = (0, 1, f32::MAX);
            for x in 0..clusters.len() {
                for y in x + 1..clusters.len() {
                    let total: f32 = clusters[x]
                        .iter()
                        .flat_map(|&i| clusters[y].iter().map(move |&j| (i, j)))
                        .map(|(i, j)| d(i, j))
                        .sum();
                    let avg = total / (clusters[x].len() * clusters[y].len()) as f32;
                    if avg < best.2 {
                        best = (x, y, avg);
                    }
                }
            }
            let merged = clusters.remove(best.1);
            clusters[best.0].extend(merged);
            slow.push(best.2);
        }
        for (f, s) in fast.iter().zip(&slow) {
            assert!((f - s).abs() < 1e-4, "{fast:?} vs {slow:?}");
        }
    }
}
