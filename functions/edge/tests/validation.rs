//! Every request body of the functions through the same path a handler
//! takes — `request::json_body` (content type, JSON, serde shape) then the
//! `bodies` readers — asserting that a body of the wrong *shape* is a 400
//! with a useful message, and that a body of the right shape reaches its SQL
//! function unchanged, however far its values are out of range: the rules
//! are the SQL API's (pg_extension/sql/rules.sql, specified by
//! pg_extension/tests/pg_regress/sql/11_rules.sql), and the edge holds none
//! of them.

use http::{HeaderMap, HeaderValue};
use ourvidz_edge::bodies::*;
use ourvidz_edge::request::{json_body, query_pairs};
use ourvidz_edge::{EdgeError, ErrorKind};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use uuid::Uuid;

const USER: &str = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";
const OTHER_USER: &str = "0b5c8f1e-0000-4000-8000-000000000002";
const JOB: &str = "9a3e2b8c-5d4f-4e6a-8b7c-1d2e3f4a5b6c";
const ASSET: &str = "11111111-1111-4111-8111-111111111111";

fn body<T: DeserializeOwned>(value: &Value) -> Result<T, EdgeError> {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    json_body(&headers, value.to_string().as_bytes())
}

/// The `request` argument queue-job hands to `enqueue_job`.
fn queue_job(value: Value) -> Result<Value, EdgeError> {
    body::<QueueJobBody>(&value).map(|job| job.to_json())
}

/// The `result` argument job-callback hands to `record_job_result`.
fn callback(value: Value) -> Result<Value, EdgeError> {
    body::<JobCallbackBody>(&value).and_then(parse_job_callback).map(|callback| callback.to_json())
}

fn action(value: Value) -> Result<WorkspaceAction, EdgeError> {
    parse_workspace_action(body(&value)?)
}

fn delete(value: Value) -> Result<DeleteItem, EdgeError> {
    parse_delete_item(body(&value)?)
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, EdgeError>, needle: &str) {
    let error = result.expect_err("expected a 400");
    assert_eq!(error.kind, ErrorKind::InvalidRequest, "{error}");
    assert!(error.message.contains(needle), "message {:?} lacks {needle:?}", error.message);
}

// ---------------------------------------------------------------- queue-job

#[test]
fn minimal_job_reaches_sql_with_only_the_given_fields() {
    let request = json!({"mode": "image", "prompt": "a lighthouse at dusk"});
    assert_eq!(queue_job(request.clone()).unwrap(), request);
}

#[test]
fn full_job_with_every_setting_reaches_sql_unchanged() {
    let request = json!({
        "mode": "video", "prompt": "waves", "model": "wan", "quality": "high", "batch_size": 1, "seed": 42,
        "settings": {
            "aspect_ratio": "9:16", "shot_type": "close", "camera_angle": "bird_eye", "style": "cinematic",
            "style_reference": "https://example.com/style.png",
            "reference_image": format!("user-library/{USER}/22222222-2222-4222-8222-222222222222.png"),
            "reference_strength": 0.5, "guidance_scale": 7.5, "num_inference_steps": 50,
            "content_type": "nsfw", "enhancement_model": "qwen_instruct", "exact_copy_mode": false
        }
    });
    assert_eq!(queue_job(request.clone()).unwrap(), request);
}

#[test]
fn values_out_of_range_are_left_to_sql() {
    // Each of these breaks a rule of enqueue_job; none is the edge's to judge.
    for request in [
        json!({"mode": "gif", "prompt": ""}),
        json!({"mode": "video", "prompt": "x".repeat(5000), "batch_size": 3, "seed": -1}),
        json!({"mode": "image", "prompt": "nul\u{0}byte", "model": "../m", "quality": "ultra", "batch_size": 0}),
        json!({"mode": "image", "prompt": "p", "seed": i64::MAX}),
        json!({"mode": "image", "prompt": "p", "settings": {
            "aspect_ratio": "99:1", "camera_angle": "dutch", "style": "a\nb", "reference_strength": 1.5,
            "guidance_scale": -1.0, "num_inference_steps": 0, "content_type": "adult", "enhancement_model": "gpt",
            "reference_image": format!("{OTHER_USER}/{JOB}/0.png"), "style_reference": "javascript:alert(1)"}}),
    ] {
        assert_eq!(queue_job(request.clone()).unwrap(), request);
    }
}

#[test]
fn json_nulls_are_absent_fields_but_settings_reach_sql_as_written() {
    // a null setting drops one a job would inherit from `from_asset`, so it
    // reaches enqueue_job (which stores no nulls)
    let request = json!({"mode": "image", "prompt": "p", "model": null, "settings": {"aspect_ratio": null}});
    assert_eq!(queue_job(request).unwrap(), json!({"mode": "image", "prompt": "p", "settings": {"aspect_ratio": null}}));
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "priority": 1})), "unknown field `priority`");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "settings": {"fps": 30}})), "unknown field `fps`");
}

#[test]
fn a_job_from_an_asset_leaves_mode_prompt_and_the_asset_to_sql() {
    // mode and prompt may come from the asset; enqueue_job says when they are
    // missing, and whether the asset is the caller's
    assert_eq!(queue_job(json!({"prompt": "p"})).unwrap(), json!({"prompt": "p"}));
    let reuse = json!({"from_asset": ASSET, "reuse_seed": false, "prompt": "again", "settings": {"style": null}});
    assert_eq!(queue_job(reuse.clone()).unwrap(), reuse);
    assert_eq!(queue_job(json!({"from_asset": "not a uuid"})).unwrap(), json!({"from_asset": "not a uuid"}));
    assert_invalid(queue_job(json!({"from_asset": 7})), "invalid type");
    assert_invalid(queue_job(json!({"from_asset": ASSET, "reuse_seed": "no"})), "invalid type");
}

#[test]
fn wrong_json_types_are_refused() {
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "batch_size": "3"})), "invalid type");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "seed": 1.5})), "invalid type");
    assert_invalid(queue_job(json!({"mode": 1, "prompt": "p"})), "invalid type");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": ["p"]})), "invalid type");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "settings": []})), "invalid type");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "settings": "16:9"})), "invalid type");
    let settings = |s: Value| json!({"mode": "image", "prompt": "p", "settings": s});
    assert_invalid(queue_job(settings(json!({"aspect_ratio": 169}))), "invalid type");
    assert_invalid(queue_job(settings(json!({"exact_copy_mode": "yes"}))), "invalid type");
    assert_invalid(queue_job(settings(json!({"num_inference_steps": 2.5}))), "invalid type");
}

#[test]
fn integers_beyond_64_bits_are_refused_as_malformed() {
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "seed": u64::MAX})), "invalid value");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "batch_size": 1e100})), "invalid type");
}

// ------------------------------------------------------------- job-callback

fn asset(index: i64) -> Value {
    json!({
        "asset_index": index, "storage_path": format!("{USER}/{JOB}/{index}.png"), "mime_type": "image/png",
        "file_size_bytes": 1234, "width": 64, "height": 36, "generation_seed": 7
    })
}

fn completed(assets: Vec<Value>) -> Value {
    json!({"job_id": JOB, "status": "completed", "worker_id": "gpu-1:42", "assets": assets})
}

#[test]
fn callbacks_reach_sql_unchanged() {
    let mut video = asset(1);
    video["storage_path"] = json!(format!("workspace-temp/{USER}/{JOB}/1.mp4"));
    video["mime_type"] = json!("video/mp4");
    video["duration_seconds"] = json!(2.5);
    video["thumbnail_path"] = json!(format!("/{USER}/{JOB}/thumbnails/1.jpg"));
    let body = completed(vec![asset(0), video]);
    assert_eq!(callback(body.clone()).unwrap(), body);
    let failed = json!({"job_id": JOB, "status": "failed", "worker_id": "w", "error": "CUDA out of memory\n"});
    assert_eq!(callback(failed.clone()).unwrap(), failed);
}

#[test]
fn callback_values_out_of_range_are_left_to_sql() {
    // Each breaks a rule of record_job_result (transitions, paths, metadata).
    let mut bad = asset(100);
    bad["storage_path"] = json!(format!("{OTHER_USER}/../{JOB}/x.png"));
    bad["mime_type"] = json!("image/gif");
    bad["file_size_bytes"] = json!(0);
    bad["width"] = json!(-1);
    bad["generation_seed"] = json!(-5);
    for body in [
        completed(vec![bad, asset(0), asset(0)]),
        json!({"job_id": JOB, "status": "queued", "worker_id": "gpu 1", "assets": [asset(0)], "error": "x"}),
        json!({"job_id": JOB, "status": "completed", "worker_id": ""}),
    ] {
        assert_eq!(callback(body.clone()).unwrap(), body);
    }
}

#[test]
fn callback_shape_is_strict() {
    let mut unknown = asset(0);
    unknown["sha256"] = json!("x");
    assert_invalid(callback(completed(vec![unknown])), "unknown field `sha256`");
    assert_invalid(callback(json!({"job_id": "not-a-uuid", "status": "processing", "worker_id": "w"})), "UUID");
    assert_invalid(callback(json!({"job_id": JOB, "status": "processing"})), "missing field `worker_id`");
    assert_invalid(callback(json!({"job_id": JOB, "status": 1, "worker_id": "w"})), "invalid type");
    let positional = json!([0, format!("{USER}/{JOB}/0.png"), "image/png", 10, null, null, null, null, null]);
    assert_invalid(callback(completed(vec![positional])), "invalid type");
    let mut textual = asset(0);
    textual["file_size_bytes"] = json!("1234");
    assert_invalid(callback(completed(vec![textual])), "invalid type");
}

// -------------------------------------------------------- workspace-actions

#[test]
fn save_takes_its_fields_as_given() {
    let second = "22222222-2222-4222-8222-222222222222";
    let saved = action(json!({
        "action": "save", "asset_ids": [ASSET, second, ASSET],
        "collection_id": JOB, "custom_title": "Dusk", "tags": [" sea ", "night"]
    }))
    .unwrap();
    let ids = [ASSET, second, ASSET].map(|id| Uuid::parse_str(id).unwrap()).to_vec();
    assert_eq!(
        saved,
        WorkspaceAction::Save {
            target: Target::Assets(ids),
            collection_id: Some(Uuid::parse_str(JOB).unwrap()),
            custom_title: Some("Dusk".into()),
            tags: Some(vec![" sea ".into(), "night".into()]),
        }
    );
    // counts, lengths and blank values are save_workspace_assets' to judge
    let lavish = action(json!({"action": "save", "asset_ids": [], "custom_title": "", "tags": vec![""; 500]}));
    assert!(lavish.is_ok());
}

#[test]
fn save_and_discard_take_exactly_one_target() {
    assert_eq!(
        action(json!({"action": "discard", "job_id": JOB})).unwrap(),
        WorkspaceAction::Discard { target: Target::Job(Uuid::parse_str(JOB).unwrap()) }
    );
    assert_invalid(action(json!({"action": "save"})), "exactly one of asset_ids and job_id");
    assert_invalid(action(json!({"action": "discard", "asset_ids": [ASSET], "job_id": JOB})), "exactly one");
    assert_invalid(action(json!({"action": "discard", "asset_ids": ["nope"]})), "UUID");
    assert_invalid(action(json!({"action": "discard", "asset_ids": ASSET})), "invalid type");
    assert_invalid(action(json!({"action": "save", "job_id": JOB, "tags": [1]})), "invalid type");
}

#[test]
fn dismiss_and_restore_take_exactly_one_target() {
    let job = Target::Job(Uuid::parse_str(JOB).unwrap());
    assert_eq!(action(json!({"action": "dismiss", "job_id": JOB})).unwrap(), WorkspaceAction::Dismiss { target: job.clone() });
    assert_eq!(
        action(json!({"action": "restore", "asset_ids": [ASSET]})).unwrap(),
        WorkspaceAction::Restore { target: Target::Assets(vec![Uuid::parse_str(ASSET).unwrap()]) }
    );
    assert_invalid(action(json!({"action": "dismiss"})), "exactly one of asset_ids and job_id");
    assert_invalid(action(json!({"action": "restore", "job_id": JOB, "tags": []})), "tags is not allowed with action restore");
}

#[test]
fn fields_of_other_actions_are_refused() {
    assert_invalid(action(json!({"action": "clear", "asset_ids": [ASSET]})), "asset_ids is not allowed with action clear");
    assert_invalid(action(json!({"action": "discard", "job_id": JOB, "tags": []})), "tags is not allowed");
    assert_invalid(action(json!({"action": "save", "job_id": JOB, "max_items": 5})), "unknown field `max_items`");
    assert_invalid(action(json!({"action": "drain_storage_deletions"})), "unknown variant `drain_storage_deletions`");
    assert_invalid(action(json!({"action": "archive"})), "unknown variant `archive`");
    assert_invalid(action(json!({"action": "clear", "everything": true})), "unknown field");
    assert_eq!(action(json!({"action": "clear"})).unwrap(), WorkspaceAction::Clear);
}

#[test]
fn storage_drain_passes_its_batch_size_to_sql() {
    for (value, expected) in [(json!({}), None), (json!({"max_items": 1000}), Some(1000)), (json!({"max_items": 0}), Some(0))] {
        assert_eq!(body::<StorageDrainBody>(&value).unwrap().max_items, expected, "{value}");
    }
    assert_invalid(body::<StorageDrainBody>(&json!({"max_items": -1})), "invalid value");
    assert_invalid(body::<StorageDrainBody>(&json!({"max_items": "5"})), "invalid type");
    assert_invalid(body::<StorageDrainBody>(&json!({"action": "drain"})), "unknown field `action`");
}

#[test]
fn listing_query_passes_page_size_and_cursor_to_sql() {
    let parse = |query: &str| parse_list_query(&query_pairs(Some(query)).unwrap());
    assert_eq!(parse("").unwrap(), ListQuery::default());
    let filtered = parse("search=red%20fox&asset_type=image&model=sdxl&created_after=2025-08-01&include_dismissed=true").unwrap();
    assert_eq!(filtered.search.as_deref(), Some("red fox"));
    assert_eq!(filtered.include_dismissed.as_deref(), Some("true"));
    assert_eq!(filtered.created_after.as_deref(), Some("2025-08-01"));
    let page = parse(&format!("page_size=5&before_created_at=2025-08-30T10:00:00.123456+00:00&before_job_id={JOB}")).unwrap();
    assert_eq!(page.page_size, Some(5));
    assert_eq!(page.before, Some(json!({"created_at": "2025-08-30T10:00:00.123456+00:00", "job_id": JOB})));
    // range and cursor form are list_workspace's to judge
    assert_eq!(parse("page_size=0").unwrap().page_size, Some(0));
    assert_eq!(parse("page_size=-1").unwrap().page_size, Some(-1));
    assert_eq!(parse("before_created_at=yesterday").unwrap().before, Some(json!({"created_at": "yesterday", "job_id": null})));
}

#[test]
fn listing_query_shape_is_strict() {
    let parse = |query: &str| parse_list_query(&query_pairs(Some(query)).unwrap());
    for bad in ["page_size=ten", "page_size=1.5", "page_size=99999999999"] {
        assert_invalid(parse(bad), "page_size must be an integer");
    }
    assert_invalid(parse("limit=5"), "unknown query parameter");
    assert_invalid(parse("page_size=5&page_size=6"), "twice");
    assert_invalid(parse("search=a&search=b"), "twice");
}

// ---------------------------------------------------- delete-workspace-item

#[test]
fn delete_takes_exactly_one_of_asset_id_and_job_id() {
    assert_eq!(delete(json!({"asset_id": ASSET})).unwrap(), DeleteItem::Asset(Uuid::parse_str(ASSET).unwrap()));
    assert_eq!(delete(json!({"job_id": JOB})).unwrap(), DeleteItem::Job(Uuid::parse_str(JOB).unwrap()));
    assert_invalid(delete(json!({})), "exactly one");
    assert_invalid(delete(json!({"asset_id": ASSET, "job_id": JOB})), "exactly one");
    assert_invalid(delete(json!({"asset_id": "42"})), "UUID");
    assert_invalid(delete(json!({"asset_ids": [ASSET]})), "unknown field");
}
