//! The request bodies of the functions: their shape, and nothing more.
//!
//! serde checks the shape — the field names (`deny_unknown_fields`), their
//! JSON types, which fields an action takes — and the body goes to its SQL
//! function as it came. Every limit, range, enum and ownership rule is the SQL
//! API's (`pg_extension/sql/rules.sql`): a value out of range comes back from
//! SQL as a `PT400` with the SQL's own sentence, exactly the answer a PostgREST
//! RPC caller gets, so the two doors of the contract cannot drift apart.

use crate::error::EdgeError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

// ---------------------------------------------------------------- queue-job

/// `settings` of a queue-job body (ARCHITECTURE.md); `enqueue_job` checks
/// each value and stores them as the job's `generation_settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shot_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_angle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_strength: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance_scale: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_inference_steps: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enhancement_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_copy_mode: Option<bool>,
}

/// The queue-job body: the `request` argument of `enqueue_job`. `mode` and
/// `prompt` may come from `from_asset` (one of the caller's assets, whose
/// prompt, model, settings and seed a job reuses; `reuse_seed: false` draws a
/// new seed), so `enqueue_job` says when one is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueJobBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Checked against [`Settings`] for its shape, and passed on as written:
    /// a JSON `null` inside drops a setting inherited from `from_asset`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "settings_shape")]
    pub settings: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_asset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_seed: Option<bool>,
}

impl QueueJobBody {
    pub fn to_json(&self) -> Value {
        json!(self)
    }
}

fn settings_shape<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    let settings = objects_only::one::<D, Settings>(deserializer)?;
    Ok(settings.map(|(_, written)| written))
}

// ------------------------------------------------------------- job-callback

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackAsset {
    pub asset_index: i64,
    pub storage_path: String,
    pub mime_type: String,
    pub file_size_bytes: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_seed: Option<i64>,
}

/// The job-callback body: the `result` argument of `record_job_result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobCallbackBody {
    pub job_id: Uuid,
    pub status: String,
    pub worker_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "objects_only::many")]
    pub assets: Option<Vec<CallbackAsset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A callback ready for `record_job_result`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobCallback(JobCallbackBody);

impl JobCallback {
    pub fn to_json(&self) -> Value {
        json!(self.0)
    }
}

/// The callback as `record_job_result` takes it. Only its shape is the
/// edge's (checked by serde before this); transitions, paths, media metadata
/// and seeds are checked by the SQL function, which alone knows the job.
pub fn parse_job_callback(body: JobCallbackBody) -> Result<JobCallback, EdgeError> {
    Ok(JobCallback(body))
}

// -------------------------------------------------------- workspace-actions

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    Save,
    Dismiss,
    Restore,
    Discard,
    Clear,
}

/// The workspace-actions POST body as sent; see [`parse_workspace_action`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceActionBody {
    pub action: ActionName,
    #[serde(default)]
    pub asset_ids: Option<Vec<Uuid>>,
    #[serde(default)]
    pub job_id: Option<Uuid>,
    #[serde(default)]
    pub collection_id: Option<Uuid>,
    #[serde(default)]
    pub custom_title: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// Which workspace assets an action applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The ids as given (the SQL drops duplicates and bounds the count).
    Assets(Vec<Uuid>),
    /// Every asset of the job.
    Job(Uuid),
}

/// A workspace action, in the shape its SQL calls take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceAction {
    Save { target: Target, collection_id: Option<Uuid>, custom_title: Option<String>, tags: Option<Vec<String>> },
    /// Hide from the listing, keep until expiry (seed 002's two-level deletion).
    Dismiss { target: Target },
    Restore { target: Target },
    Discard { target: Target },
    /// Dismiss everything.
    Clear,
}

/// Read a workspace action: each action takes only its own fields, and
/// save/dismiss/restore/discard exactly one of `asset_ids` and `job_id`.
pub fn parse_workspace_action(body: WorkspaceActionBody) -> Result<WorkspaceAction, EdgeError> {
    let present = |name: &'static str, is_set: bool| is_set.then_some(name);
    let fields = [
        present("asset_ids", body.asset_ids.is_some()),
        present("job_id", body.job_id.is_some()),
        present("collection_id", body.collection_id.is_some()),
        present("custom_title", body.custom_title.is_some()),
        present("tags", body.tags.is_some()),
    ];
    let (action_name, allowed): (&str, &[&str]) = match body.action {
        ActionName::Save => ("save", &["asset_ids", "job_id", "collection_id", "custom_title", "tags"]),
        ActionName::Dismiss => ("dismiss", &["asset_ids", "job_id"]),
        ActionName::Restore => ("restore", &["asset_ids", "job_id"]),
        ActionName::Discard => ("discard", &["asset_ids", "job_id"]),
        ActionName::Clear => ("clear", &[]),
    };
    if let Some(field) = fields.into_iter().flatten().find(|field| !allowed.contains(field)) {
        return Err(EdgeError::invalid(format!("{field} is not allowed with action {action_name}")));
    }
    Ok(match body.action {
        ActionName::Save => WorkspaceAction::Save {
            target: target(body.asset_ids, body.job_id)?,
            collection_id: body.collection_id,
            custom_title: body.custom_title,
            tags: body.tags,
        },
        ActionName::Dismiss => WorkspaceAction::Dismiss { target: target(body.asset_ids, body.job_id)? },
        ActionName::Restore => WorkspaceAction::Restore { target: target(body.asset_ids, body.job_id)? },
        ActionName::Discard => WorkspaceAction::Discard { target: target(body.asset_ids, body.job_id)? },
        ActionName::Clear => WorkspaceAction::Clear,
    })
}

fn target(asset_ids: Option<Vec<Uuid>>, job_id: Option<Uuid>) -> Result<Target, EdgeError> {
    match (asset_ids, job_id) {
        (Some(ids), None) => Ok(Target::Assets(ids)),
        (None, Some(job_id)) => Ok(Target::Job(job_id)),
        _ => Err(EdgeError::invalid("exactly one of asset_ids and job_id is required")),
    }
}

/// The workspace listing's query string: `page_size`, the cursor
/// `before_created_at` + `before_job_id` (the `next` object of the previous
/// page), and the filters the library's listing shares — `search`,
/// `asset_type`, `model`, `created_after`, `created_before` — and
/// `include_dismissed`. `list_workspace` checks the values: the page size's
/// range and default, the cursor, the filters (the edge passes them as text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    pub page_size: Option<i32>,
    pub before: Option<Value>,
    pub search: Option<String>,
    pub asset_type: Option<String>,
    pub model: Option<String>,
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    pub include_dismissed: Option<String>,
}

pub fn parse_list_query(pairs: &[(String, String)]) -> Result<ListQuery, EdgeError> {
    let mut page_size = None;
    let mut created_at = None;
    let mut job_id = None;
    let mut query = ListQuery::default();
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "page_size" => &mut page_size,
            "before_created_at" => &mut created_at,
            "before_job_id" => &mut job_id,
            "search" => &mut query.search,
            "asset_type" => &mut query.asset_type,
            "model" => &mut query.model,
            "created_after" => &mut query.created_after,
            "created_before" => &mut query.created_before,
            "include_dismissed" => &mut query.include_dismissed,
            _ => return Err(EdgeError::invalid(format!("unknown query parameter {name:?}"))),
        };
        if slot.replace(value.clone()).is_some() {
            return Err(EdgeError::invalid(format!("query parameter {name} is given twice")));
        }
    }
    query.page_size = page_size
        .map(|text| text.parse::<i32>().map_err(|_| EdgeError::invalid("page_size must be an integer")))
        .transpose()?;
    query.before = match (created_at, job_id) {
        (None, None) => None,
        (created_at, job_id) => Some(json!({"created_at": created_at, "job_id": job_id})),
    };
    Ok(query)
}

// ---------------------------------------------------- delete-workspace-item

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteItemBody {
    #[serde(default)]
    pub asset_id: Option<Uuid>,
    #[serde(default)]
    pub job_id: Option<Uuid>,
}

/// What to delete: one asset, or a whole job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteItem {
    Asset(Uuid),
    Job(Uuid),
}

pub fn parse_delete_item(body: DeleteItemBody) -> Result<DeleteItem, EdgeError> {
    match (body.asset_id, body.job_id) {
        (Some(asset_id), None) => Ok(DeleteItem::Asset(asset_id)),
        (None, Some(job_id)) => Ok(DeleteItem::Job(job_id)),
        _ => Err(EdgeError::invalid("exactly one of asset_id and job_id is required")),
    }
}

// ------------------------------------------------------------ storage-drain

/// The storage-drain POST body: how many outbox entries one pass may claim
/// (`claim_storage_deletions` bounds it and has its own default).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageDrainBody {
    #[serde(default)]
    pub max_items: Option<u32>,
}

// ------------------------------------------------------------------ helpers

/// serde lets a struct be written as an array of its field values; for the
/// nested structs of a body (the top level is checked in `request`) these
/// insist on a JSON object, so every field is named.
mod objects_only {
    use serde::de::{DeserializeOwned, Error, Unexpected};
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    /// The object read as `T`, with the JSON it was read from.
    pub fn one<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D) -> Result<Option<(T, Value)>, D::Error> {
        Option::<Value>::deserialize(deserializer)?
            .map(|value| object(value.clone()).map(|read| (read, value)))
            .transpose()
    }

    pub fn many<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D) -> Result<Option<Vec<T>>, D::Error> {
        Option::<Vec<Value>>::deserialize(deserializer)?
            .map(|values| values.into_iter().map(object).collect())
            .transpose()
    }

    fn object<T: DeserializeOwned, E: Error>(value: Value) -> Result<T, E> {
        if value.is_object() {
            T::deserialize(value).map_err(E::custom)
        } else {
            Err(E::invalid_type(Unexpected::Other("a non-object value"), &"a JSON object"))
        }
    }
}
