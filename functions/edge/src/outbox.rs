//! The data work of storage-drain between its SQL and Storage calls: reading
//! `claim_storage_deletions`' answer into Storage delete requests — one
//! bucket each, at most [`MAX_DELETE_PREFIXES`] names — and the answer of a
//! drain pass. Pure functions over JSON, tested without a host.
//!
//! The bucket of an outbox entry is one of the project's two buckets (a check
//! on `storage_deletion_outbox.bucket_id`), so every claimed entry can be sent.

use crate::error::EdgeError;
use crate::storage::MAX_DELETE_PREFIXES;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Claimed outbox entries of one bucket, at most [`MAX_DELETE_PREFIXES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionBatch {
    pub bucket: String,
    pub ids: Vec<i64>,
    pub names: Vec<String>,
}

#[derive(Deserialize)]
struct Claimed {
    #[serde(default)]
    deletions: Vec<ClaimedDeletion>,
}

#[derive(Deserialize)]
struct ClaimedDeletion {
    id: i64,
    bucket_id: String,
    object_name: String,
}

/// Group `claim_storage_deletions`' answer by bucket into delete batches.
pub fn plan_deletions(claimed: Value) -> Result<Vec<DeletionBatch>, EdgeError> {
    let claimed: Claimed = serde_json::from_value(claimed)
        .map_err(|error| EdgeError::internal(format!("claim_storage_deletions answer: {error}")))?;
    let mut by_bucket: BTreeMap<String, Vec<ClaimedDeletion>> = BTreeMap::new();
    for deletion in claimed.deletions {
        by_bucket.entry(deletion.bucket_id.clone()).or_default().push(deletion);
    }
    Ok(by_bucket
        .into_iter()
        .flat_map(|(bucket, deletions)| {
            deletions
                .chunks(MAX_DELETE_PREFIXES)
                .map(|chunk| DeletionBatch {
                    bucket: bucket.clone(),
                    ids: chunk.iter().map(|deletion| deletion.id).collect(),
                    names: chunk.iter().map(|deletion| deletion.object_name.clone()).collect(),
                })
                .collect::<Vec<_>>()
        })
        .collect())
}

/// The answer of one pass: how many entries it claimed (a scheduler that
/// asked for `max_items` and got as many runs again at once), and how many
/// of them Storage deleted or refused (those are retried later with backoff).
pub fn drain_answer(claimed: usize, deleted: u64, failed: u64) -> Value {
    json!({"claimed": claimed, "deleted": deleted, "failed": failed})
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";

    #[test]
    fn deletions_are_grouped_by_bucket_in_batches_of_1000() {
        let mut deletions: Vec<Value> = (0..1001)
            .map(|i| json!({"id": i, "bucket_id": "workspace-temp", "object_name": format!("{USER}/j/{i}.png")}))
            .collect();
        deletions.push(json!({"id": 5000, "bucket_id": "user-library", "object_name": format!("{USER}/l.png")}));
        let batches = plan_deletions(json!({"deletions": deletions})).unwrap();
        let shape: Vec<(&str, usize)> = batches.iter().map(|b| (b.bucket.as_str(), b.ids.len())).collect();
        assert_eq!(shape, vec![("user-library", 1), ("workspace-temp", 1000), ("workspace-temp", 1)]);
        assert_eq!(batches[1].names[0], format!("{USER}/j/0.png"));
        assert_eq!(batches[2].ids, vec![1000]);
    }

    #[test]
    fn nothing_claimed_is_no_batch_and_a_malformed_claim_is_a_server_fault() {
        assert!(plan_deletions(json!({"deletions": []})).unwrap().is_empty());
        assert_eq!(plan_deletions(json!({"deletions": [{"id": "x"}]})).unwrap_err().status(), 500);
    }

    #[test]
    fn the_answer_counts_claimed_deleted_and_failed() {
        assert_eq!(drain_answer(3, 2, 1), json!({"claimed": 3, "deleted": 2, "failed": 1}));
    }
}
