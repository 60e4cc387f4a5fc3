//! The request bodies of the four functions and their validation.
//!
//! serde does the shape (`deny_unknown_fields`, types, enums); the `parse_*`
//! functions then check what serde cannot (bounds, combinations, ownership of
//! storage paths) and return a validated value, so a handler cannot reach the
//! database with an unchecked body. Limits live here as constants; the SQL
//! functions re-check ranges, this layer exists so bad input is a precise 400
//! before any connection is opened.

use crate::error::EdgeError;
use crate::paths::{self, PathError, LIBRARY_BUCKET, WORKSPACE_BUCKET};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

pub const MAX_PROMPT_CHARS: usize = 4000;
pub const MAX_MODEL_CHARS: usize = 64;
pub const MAX_STYLE_CHARS: usize = 500;
pub const MAX_REFERENCE_CHARS: usize = 2048;
pub const MAX_IMAGE_BATCH: u32 = 4;
pub const MAX_INFERENCE_STEPS: u32 = 200;
pub const MAX_GUIDANCE_SCALE: f64 = 50.0;
pub const MAX_ASSET_IDS: usize = 100;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 50;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
pub const MAX_WORKER_ID_CHARS: usize = 128;
pub const MAX_ERROR_CHARS: usize = 2000;
pub const MAX_CALLBACK_ASSETS: usize = 100;
pub const MAX_ASSET_INDEX: u32 = 99;
pub const MAX_DIMENSION: u32 = 16384;
pub const MAX_DURATION_SECONDS: f64 = 3600.0;
/// The buckets' `file_size_limit` (seed 001): 1 GiB.
pub const MAX_FILE_SIZE_BYTES: u64 = 1 << 30;
/// The buckets' `allowed_mime_types` (seed 001).
pub const ALLOWED_MIME_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/webp", "video/mp4"];
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;
pub const DEFAULT_DRAIN_ITEMS: u32 = 100;
pub const MAX_DRAIN_ITEMS: u32 = 1000;

// ---------------------------------------------------------------- queue-job

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Image,
    Video,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    Fast,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AspectRatio {
    #[serde(rename = "16:9")]
    Landscape,
    #[serde(rename = "1:1")]
    Square,
    #[serde(rename = "9:16")]
    Portrait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShotType {
    Wide,
    Medium,
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraAngle {
    None,
    EyeLevel,
    LowAngle,
    OverShoulder,
    Overhead,
    BirdEye,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    Sfw,
    Nsfw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnhancementModel {
    QwenBase,
    QwenInstruct,
}

/// `settings` of a queue-job body; forwarded as `generation_settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<AspectRatio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shot_type: Option<ShotType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_angle: Option<CameraAngle>,
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
    pub num_inference_steps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<ContentType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enhancement_model: Option<EnhancementModel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_copy_mode: Option<bool>,
}

/// The queue-job body as sent; see [`parse_queue_job`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueJobBody {
    pub mode: Mode,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "objects_only::one")]
    pub settings: Option<Settings>,
}

/// A validated queue-job body.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueJob(QueueJobBody);

impl QueueJob {
    pub fn body(&self) -> &QueueJobBody {
        &self.0
    }

    /// The `request` argument of `enqueue_job`.
    pub fn to_json(&self) -> Value {
        json!(self.0)
    }
}

/// Validate a queue-job body for `user`: bounds, the mode's batch sizes,
/// and that a `reference_image`/`style_reference` is a URL or one of the
/// user's own storage objects.
pub fn parse_queue_job(mut body: QueueJobBody, user: Uuid) -> Result<QueueJob, EdgeError> {
    check_text("prompt", &body.prompt, 1, MAX_PROMPT_CHARS, Lines::Allowed)?;
    if let Some(model) = &body.model {
        check_identifier("model", model, MAX_MODEL_CHARS)?;
    }
    if let Some(batch_size) = body.batch_size {
        let max = match body.mode {
            Mode::Image => MAX_IMAGE_BATCH,
            Mode::Video => 1,
        };
        if !(1..=max).contains(&batch_size) {
            return Err(EdgeError::invalid(format!("batch_size must be between 1 and {max} for this mode")));
        }
    }
    if matches!(body.seed, Some(seed) if seed < 0) {
        return Err(EdgeError::invalid("seed must not be negative"));
    }
    if let Some(settings) = &mut body.settings {
        check_settings(settings, user)?;
    }
    Ok(QueueJob(body))
}

fn check_settings(settings: &mut Settings, user: Uuid) -> Result<(), EdgeError> {
    if let Some(style) = &settings.style {
        check_text("settings.style", style, 0, MAX_STYLE_CHARS, Lines::Refused)?;
    }
    if let Some(reference) = &settings.style_reference {
        settings.style_reference = Some(reference_source("settings.style_reference", reference, user)?);
    }
    if let Some(reference) = &settings.reference_image {
        settings.reference_image = Some(reference_source("settings.reference_image", reference, user)?);
    }
    check_range("settings.reference_strength", settings.reference_strength, 0.0, 1.0)?;
    check_range("settings.guidance_scale", settings.guidance_scale, 0.0, MAX_GUIDANCE_SCALE)?;
    if let Some(steps) = settings.num_inference_steps {
        if !(1..=MAX_INFERENCE_STEPS).contains(&steps) {
            return Err(EdgeError::invalid(format!(
                "settings.num_inference_steps must be between 1 and {MAX_INFERENCE_STEPS}"
            )));
        }
    }
    Ok(())
}

/// A reference is an `http(s)` URL, or a storage object of the caller's
/// (`[bucket/]{user_id}/...` in workspace-temp or user-library), returned
/// normalised.
fn reference_source(field: &str, value: &str, user: Uuid) -> Result<String, EdgeError> {
    if value.starts_with("https://") || value.starts_with("http://") {
        check_text(field, value, 1, MAX_REFERENCE_CHARS, Lines::Refused)?;
        if value.chars().any(char::is_whitespace) {
            return Err(EdgeError::invalid(format!("{field} must not contain whitespace")));
        }
        return Ok(value.to_owned());
    }
    let (bucket, rest) = match value.trim_start_matches('/').split_once('/') {
        Some((bucket @ (WORKSPACE_BUCKET | LIBRARY_BUCKET), rest)) => (Some(bucket), rest),
        _ => (None, value),
    };
    let name = paths::normalize(rest, None).map_err(|error| path_error(field, error))?;
    if paths::owner(&name) != Some(user) {
        return Err(EdgeError::invalid(format!("{field} must be a URL or a storage path of your own")));
    }
    Ok(match bucket {
        Some(bucket) => format!("{bucket}/{name}"),
        None => name,
    })
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters.
pub fn parse_idempotency_key(value: Option<&str>) -> Result<Option<&str>, EdgeError> {
    match value {
        None => Ok(None),
        Some(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY_CHARS && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key))
        }
        Some(_) => Err(EdgeError::invalid(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
        ))),
    }
}

// ------------------------------------------------------------- job-callback

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackStatus {
    Processing,
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackAsset {
    pub asset_index: u32,
    pub storage_path: String,
    pub mime_type: String,
    pub file_size_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_seed: Option<i64>,
}

/// The job-callback body as sent; see [`parse_job_callback`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobCallbackBody {
    pub job_id: Uuid,
    pub status: CallbackStatus,
    pub worker_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "objects_only::many")]
    pub assets: Option<Vec<CallbackAsset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A validated callback.
#[derive(Debug, Clone, PartialEq)]
pub struct JobCallback(JobCallbackBody);

impl JobCallback {
    /// The `result` argument of `record_job_result`.
    pub fn to_json(&self) -> Value {
        json!(self.0)
    }
}

/// Validate a callback: assets only with `completed` (and at least one),
/// unique indexes, media metadata in range, every path inside
/// `workspace-temp/{user_id}/{job_id}/` (the user id itself is checked by
/// SQL, which knows the job's owner), `error` only with `failed`.
pub fn parse_job_callback(mut body: JobCallbackBody) -> Result<JobCallback, EdgeError> {
    check_identifier("worker_id", &body.worker_id, MAX_WORKER_ID_CHARS)?;
    if let Some(error) = &body.error {
        if body.status != CallbackStatus::Failed {
            return Err(EdgeError::invalid("error is only allowed with status failed"));
        }
        check_text("error", error, 0, MAX_ERROR_CHARS, Lines::Allowed)?;
    }
    let assets = body.assets.as_deref_mut().unwrap_or_default();
    match body.status {
        CallbackStatus::Completed if assets.is_empty() => {
            return Err(EdgeError::invalid("a completed callback must carry at least one asset"));
        }
        CallbackStatus::Processing | CallbackStatus::Failed if !assets.is_empty() => {
            return Err(EdgeError::invalid("assets are only allowed with status completed"));
        }
        _ => {}
    }
    if assets.len() > MAX_CALLBACK_ASSETS {
        return Err(EdgeError::invalid(format!("at most {MAX_CALLBACK_ASSETS} assets per callback")));
    }
    let mut seen = Vec::with_capacity(assets.len());
    for asset in assets.iter_mut() {
        if seen.contains(&asset.asset_index) {
            return Err(EdgeError::invalid(format!("asset_index {} appears twice", asset.asset_index)));
        }
        seen.push(asset.asset_index);
        check_callback_asset(asset, body.job_id)?;
    }
    Ok(JobCallback(body))
}

fn check_callback_asset(asset: &mut CallbackAsset, job_id: Uuid) -> Result<(), EdgeError> {
    if asset.asset_index > MAX_ASSET_INDEX {
        return Err(EdgeError::invalid(format!("asset_index must be between 0 and {MAX_ASSET_INDEX}")));
    }
    if !ALLOWED_MIME_TYPES.contains(&asset.mime_type.as_str()) {
        return Err(EdgeError::invalid(format!("mime_type must be one of {}", ALLOWED_MIME_TYPES.join(", "))));
    }
    if !(1..=MAX_FILE_SIZE_BYTES).contains(&asset.file_size_bytes) {
        return Err(EdgeError::invalid(format!("file_size_bytes must be between 1 and {MAX_FILE_SIZE_BYTES}")));
    }
    for (field, value) in [("width", asset.width), ("height", asset.height)] {
        if matches!(value, Some(pixels) if !(1..=MAX_DIMENSION).contains(&pixels)) {
            return Err(EdgeError::invalid(format!("{field} must be between 1 and {MAX_DIMENSION}")));
        }
    }
    if matches!(asset.duration_seconds, Some(seconds) if !(seconds > 0.0 && seconds <= MAX_DURATION_SECONDS)) {
        return Err(EdgeError::invalid(format!("duration_seconds must be above 0 and at most {MAX_DURATION_SECONDS}")));
    }
    if matches!(asset.generation_seed, Some(seed) if seed < 0) {
        return Err(EdgeError::invalid("generation_seed must not be negative"));
    }
    asset.storage_path = job_object("storage_path", &asset.storage_path, job_id)?;
    if let Some(thumbnail) = &asset.thumbnail_path {
        asset.thumbnail_path = Some(job_object("thumbnail_path", thumbnail, job_id)?);
    }
    Ok(())
}

/// A workspace-temp object of the job: `{user_id}/{job_id}/...`, normalised.
fn job_object(field: &str, path: &str, job_id: Uuid) -> Result<String, EdgeError> {
    let name = paths::normalize(path, Some(WORKSPACE_BUCKET)).map_err(|error| path_error(field, error))?;
    let mut segments = name.split('/');
    let user_segment = segments.next().and_then(|segment| Uuid::parse_str(segment).ok());
    let job_segment = segments.next().and_then(|segment| Uuid::parse_str(segment).ok());
    if user_segment.is_none() || job_segment != Some(job_id) || segments.next().is_none() {
        return Err(EdgeError::invalid(format!("{field} must lie under {{user_id}}/{{job_id}}/ of this job")));
    }
    Ok(name)
}

// -------------------------------------------------------- workspace-actions

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    Save,
    Discard,
    Clear,
    DrainStorageDeletions,
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
    #[serde(default)]
    pub max_items: Option<u32>,
}

/// Which workspace assets an action applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Distinct ids, in the order given.
    Assets(Vec<Uuid>),
    /// Every asset of the job.
    Job(Uuid),
}

/// A validated workspace action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceAction {
    Save { target: Target, collection_id: Option<Uuid>, custom_title: Option<String>, tags: Option<Vec<String>> },
    Discard { target: Target },
    Clear,
    DrainStorageDeletions { max_items: u32 },
}

/// Validate a workspace action: each action takes only its own fields;
/// save/discard need exactly one of `asset_ids` (1–100) and `job_id`.
pub fn parse_workspace_action(body: WorkspaceActionBody) -> Result<WorkspaceAction, EdgeError> {
    let present = |name: &'static str, is_set: bool| is_set.then_some(name);
    let fields = [
        present("asset_ids", body.asset_ids.is_some()),
        present("job_id", body.job_id.is_some()),
        present("collection_id", body.collection_id.is_some()),
        present("custom_title", body.custom_title.is_some()),
        present("tags", body.tags.is_some()),
        present("max_items", body.max_items.is_some()),
    ];
    let (action_name, allowed): (&str, &[&str]) = match body.action {
        ActionName::Save => ("save", &["asset_ids", "job_id", "collection_id", "custom_title", "tags"]),
        ActionName::Discard => ("discard", &["asset_ids", "job_id"]),
        ActionName::Clear => ("clear", &[]),
        ActionName::DrainStorageDeletions => ("drain_storage_deletions", &["max_items"]),
    };
    if let Some(field) = fields.into_iter().flatten().find(|field| !allowed.contains(field)) {
        return Err(EdgeError::invalid(format!("{field} is not allowed with action {action_name}")));
    }
    Ok(match body.action {
        ActionName::Save => WorkspaceAction::Save {
            target: target(body.asset_ids, body.job_id)?,
            collection_id: body.collection_id,
            custom_title: match body.custom_title {
                Some(title) => {
                    check_text("custom_title", &title, 1, MAX_TITLE_CHARS, Lines::Refused)?;
                    Some(title)
                }
                None => None,
            },
            tags: body.tags.map(check_tags).transpose()?,
        },
        ActionName::Discard => WorkspaceAction::Discard { target: target(body.asset_ids, body.job_id)? },
        ActionName::Clear => WorkspaceAction::Clear,
        ActionName::DrainStorageDeletions => {
            let max_items = body.max_items.unwrap_or(DEFAULT_DRAIN_ITEMS);
            if !(1..=MAX_DRAIN_ITEMS).contains(&max_items) {
                return Err(EdgeError::invalid(format!("max_items must be between 1 and {MAX_DRAIN_ITEMS}")));
            }
            WorkspaceAction::DrainStorageDeletions { max_items }
        }
    })
}

fn target(asset_ids: Option<Vec<Uuid>>, job_id: Option<Uuid>) -> Result<Target, EdgeError> {
    match (asset_ids, job_id) {
        (Some(ids), None) => Ok(Target::Assets(check_asset_ids(ids)?)),
        (None, Some(job_id)) => Ok(Target::Job(job_id)),
        _ => Err(EdgeError::invalid("exactly one of asset_ids and job_id is required")),
    }
}

fn check_asset_ids(ids: Vec<Uuid>) -> Result<Vec<Uuid>, EdgeError> {
    if ids.is_empty() || ids.len() > MAX_ASSET_IDS {
        return Err(EdgeError::invalid(format!("asset_ids must hold 1 to {MAX_ASSET_IDS} ids")));
    }
    let mut distinct = Vec::with_capacity(ids.len());
    for id in ids {
        if !distinct.contains(&id) {
            distinct.push(id);
        }
    }
    Ok(distinct)
}

fn check_tags(tags: Vec<String>) -> Result<Vec<String>, EdgeError> {
    if tags.len() > MAX_TAGS {
        return Err(EdgeError::invalid(format!("at most {MAX_TAGS} tags")));
    }
    tags.into_iter()
        .map(|tag| {
            let tag = tag.trim().to_owned();
            check_text("each tag", &tag, 1, MAX_TAG_CHARS, Lines::Refused)?;
            Ok(tag)
        })
        .collect()
}

/// The workspace listing's query string: `page_size` (1–100, default 20)
/// and the cursor `before_created_at` + `before_job_id` (both or neither),
/// which is the `next` object of the previous page.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub page_size: u32,
    pub before: Option<Value>,
}

pub fn parse_list_query(pairs: &[(String, String)]) -> Result<ListQuery, EdgeError> {
    let mut page_size = None;
    let mut created_at = None;
    let mut job_id = None;
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "page_size" => &mut page_size,
            "before_created_at" => &mut created_at,
            "before_job_id" => &mut job_id,
            _ => return Err(EdgeError::invalid(format!("unknown query parameter {name:?}"))),
        };
        if slot.replace(value.as_str()).is_some() {
            return Err(EdgeError::invalid(format!("query parameter {name} is given twice")));
        }
    }
    let page_size = match page_size {
        None => DEFAULT_PAGE_SIZE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|size| (1..=MAX_PAGE_SIZE).contains(size))
            .ok_or_else(|| EdgeError::invalid(format!("page_size must be between 1 and {MAX_PAGE_SIZE}")))?,
    };
    let before = match (created_at, job_id) {
        (None, None) => None,
        (Some(created_at), Some(job_id)) => {
            let job_id = Uuid::parse_str(job_id).map_err(|_| EdgeError::invalid("before_job_id must be a UUID"))?;
            if !is_timestamp(created_at) {
                return Err(EdgeError::invalid("before_created_at must be an ISO 8601 timestamp"));
            }
            Some(json!({"created_at": created_at, "job_id": job_id}))
        }
        _ => return Err(EdgeError::invalid("before_created_at and before_job_id go together")),
    };
    Ok(ListQuery { page_size, before })
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.f+][Z|±HH[:MM]]`, the forms Postgres prints for
/// `timestamptz` in JSON.
fn is_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes.get(range).is_some_and(|part| part.iter().all(u8::is_ascii_digit));
    let at = |index: usize, expected: &[u8]| bytes.get(index).is_some_and(|b| expected.contains(b));
    let date_time = digits(0..4) && at(4, b"-") && digits(5..7) && at(7, b"-") && digits(8..10) && at(10, b"T ")
        && digits(11..13) && at(13, b":") && digits(14..16) && at(16, b":") && digits(17..19);
    if !date_time {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let length = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if length == 0 || length > 9 {
            return false;
        }
        rest = &fraction[length..];
    }
    match rest.as_bytes() {
        [] | [b'Z'] => true,
        [b'+' | b'-', h1, h2] => h1.is_ascii_digit() && h2.is_ascii_digit(),
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()),
        _ => false,
    }
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

// ------------------------------------------------------------------ helpers

/// serde lets a struct be written as an array of its field values; for the
/// nested structs of a body (the top level is checked in `request`) these
/// insist on a JSON object, so every field is named.
mod objects_only {
    use serde::de::{DeserializeOwned, Error, Unexpected};
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    pub fn one<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D) -> Result<Option<T>, D::Error> {
        Option::<Value>::deserialize(deserializer)?.map(object).transpose()
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lines {
    /// Newlines and tabs are part of the text (prompts, error reports).
    Allowed,
    Refused,
}

/// Length in characters within `min..=max` (after trimming, for the lower
/// bound), and no control characters — NUL in particular, which Postgres
/// text cannot hold and would otherwise surface as a 500.
fn check_text(field: &str, value: &str, min: usize, max: usize, lines: Lines) -> Result<(), EdgeError> {
    let length = value.chars().count();
    if value.trim().chars().count() < min || length > max {
        return Err(if min > 0 {
            EdgeError::invalid(format!("{field} must be {min} to {max} characters and not blank"))
        } else {
            EdgeError::invalid(format!("{field} must be at most {max} characters"))
        });
    }
    let allowed_control = |c: char| lines == Lines::Allowed && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed_control(c)) {
        return Err(EdgeError::invalid(format!("{field} must not contain control characters")));
    }
    Ok(())
}

/// Names such as models and worker ids: `[A-Za-z0-9._:@/-]`, 1..=max.
fn check_identifier(field: &str, value: &str, max: usize) -> Result<(), EdgeError> {
    let valid_byte = |b: u8| b.is_ascii_alphanumeric() || b"._:@/-".contains(&b);
    if value.is_empty() || value.len() > max || !value.bytes().all(valid_byte) {
        return Err(EdgeError::invalid(format!(
            "{field} must be 1 to {max} characters of letters, digits and . _ : @ / -"
        )));
    }
    Ok(())
}

fn check_range(field: &str, value: Option<f64>, min: f64, max: f64) -> Result<(), EdgeError> {
    match value {
        Some(number) if !(min..=max).contains(&number) => {
            Err(EdgeError::invalid(format!("{field} must be between {min} and {max}")))
        }
        _ => Ok(()),
    }
}

fn path_error(field: &str, error: PathError) -> EdgeError {
    EdgeError::invalid(format!("{field} {error}"))
}
