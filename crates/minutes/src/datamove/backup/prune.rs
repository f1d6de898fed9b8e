//! `minutes backup prune`: the retention policy applied to a destination, then the pool's
//! unreferenced objects.
use super::destination::{self, Destination};
use super::{archives, crypt::BackupKey, objects, read_manifest, retention};

/// What `prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub kept: Vec<String>,
    pub deleted: Vec<String>,
    /// Pooled objects no kept archive references.
    pub objects_deleted: u64,
    pub object_bytes_freed: u64,
}

/// Deletes archives the retention policy does not keep, then pooled objects no kept archive
/// references. When a kept archive's manifest cannot be read, no object is deleted.
pub async fn prune(
    dest: &Destination,
    policy: &retention::Retention,
    key: Option<&BackupKey>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Pruned> {
    let all = archives(dest).await?;
    let dated: Vec<(String, chrono::DateTime<chrono::Utc>)> = all
        .iter()
        .filter_map(|(id, _, _)| created_at(id).map(|t| (id.clone(), t)))
        .collect();
    let keep = retention::keep(&dated, policy, now);
    let mut pruned = Pruned::default();
    for (id, _, encrypted) in &all {
        if keep.contains(id) || created_at(id).is_none() {
            pruned.kept.push(id.clone());
        } else {
            dest.storage
                .delete(&dest.key(&dest.archive_path(id, *encrypted)))
                .await?;
            pruned.deleted.push(id.clone());
        }
    }
    let mut referenced = std::collections::HashSet::new();
    for id in &pruned.kept {
        match read_manifest(dest, id, key).await {
            Ok(m) => {
                for o in m.objects {
                    referenced.insert(objects::pool_path(&o.sha256, m.encrypted));
                }
            }
            Err(e) => {
                tracing::warn!(archive = %id, error = %e, "a kept archive's manifest is unreadable: pooled objects are left in place");
                return Ok(pruned);
            }
        }
    }
    for o in dest.list(destination::OBJECTS).await? {
        let incoming = o.key.contains("/incoming/");
        // A half-copied object of a running backup is younger than a day; leave it.
        let stale_incoming = incoming && now - o.modified > chrono::Duration::days(1);
        if (!incoming && !referenced.contains(&o.key)) || stale_incoming {
            dest.storage.delete(&dest.key(&o.key)).await?;
            pruned.objects_deleted += 1;
            pruned.object_bytes_freed += o.size;
        }
    }
    Ok(pruned)
}

/// The time in an archive id (`minutes-20261208T031500.123Z`).
pub fn created_at(id: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let stamp = id.strip_prefix("minutes-")?.strip_suffix('Z')?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.3f")
        .ok()
        .map(|n| n.and_utc())
}
