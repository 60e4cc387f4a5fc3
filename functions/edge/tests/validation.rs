//! Every request body of the four functions through the same path a handler
//! takes — `request::json_body` (content type, JSON, serde shape) then the
//! `bodies::parse_*` checks — asserting that bad input is a 400 with a
//! useful message and good input comes out normalised.

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

fn user() -> Uuid {
    Uuid::parse_str(USER).unwrap()
}

fn body<T: DeserializeOwned>(value: &Value) -> Result<T, EdgeError> {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    json_body(&headers, value.to_string().as_bytes())
}

fn queue_job(value: Value) -> Result<QueueJob, EdgeError> {
    parse_queue_job(body(&value)?, user())
}

fn callback(value: Value) -> Result<JobCallback, EdgeError> {
    parse_job_callback(body(&value)?)
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
fn minimal_job_passes_with_only_the_given_fields() {
    let job = queue_job(json!({"mode": "image", "prompt": "a lighthouse at dusk"})).unwrap();
    assert_eq!(job.to_json(), json!({"mode": "image", "prompt": "a lighthouse at dusk"}));
}

#[test]
fn full_job_with_every_setting_passes() {
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
    let job = queue_job(request.clone()).unwrap();
    assert_eq!(job.to_json(), request);
    assert_eq!(job.body().settings.as_ref().unwrap().aspect_ratio, Some(AspectRatio::Portrait));
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "priority": 1})), "unknown field `priority`");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "settings": {"fps": 30}})), "unknown field `fps`");
}

#[test]
fn missing_required_fields_are_refused() {
    assert_invalid(queue_job(json!({"prompt": "p"})), "missing field `mode`");
    assert_invalid(queue_job(json!({"mode": "image"})), "missing field `prompt`");
}

#[test]
fn wrong_types_are_refused() {
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "batch_size": "3"})), "invalid type");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "batch_size": -1})), "invalid value");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "seed": 1.5})), "invalid type");
    assert_invalid(queue_job(json!({"mode": 1, "prompt": "p"})), "invalid type");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": ["p"]})), "invalid type");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "settings": []})), "invalid type");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "settings": "16:9"})), "invalid type");
}

#[test]
fn enum_values_outside_the_contract_are_refused() {
    assert_invalid(queue_job(json!({"mode": "gif", "prompt": "p"})), "unknown variant `gif`");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "quality": "ultra"})), "unknown variant");
    for (field, value) in [
        ("aspect_ratio", "4:3"),
        ("shot_type", "extreme"),
        ("camera_angle", "dutch"),
        ("content_type", "adult"),
        ("enhancement_model", "gpt"),
    ] {
        let request = json!({"mode": "image", "prompt": "p", "settings": {field: value}});
        assert_invalid(queue_job(request), "unknown variant");
    }
}

#[test]
fn prompt_must_be_non_blank_and_at_most_4000_characters() {
    assert_invalid(queue_job(json!({"mode": "image", "prompt": ""})), "prompt");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "  \n "})), "prompt");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "x".repeat(4001)})), "prompt");
    assert!(queue_job(json!({"mode": "image", "prompt": "é".repeat(4000)})).is_ok());
    assert!(queue_job(json!({"mode": "image", "prompt": "line one\nline two\ttab"})).is_ok());
}

#[test]
fn control_characters_that_postgres_text_cannot_hold_are_refused() {
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "nul\u{0}byte"})), "control characters");
    let request = json!({"mode": "image", "prompt": "p", "settings": {"style": "a\nb"}});
    assert_invalid(queue_job(request), "control characters");
}

#[test]
fn batch_size_follows_the_mode() {
    for size in [1, 4] {
        assert!(queue_job(json!({"mode": "image", "prompt": "p", "batch_size": size})).is_ok());
    }
    for size in [0, 5] {
        assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "batch_size": size})), "batch_size");
    }
    assert_invalid(queue_job(json!({"mode": "video", "prompt": "p", "batch_size": 2})), "batch_size");
}

#[test]
fn numbers_out_of_range_are_refused() {
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "seed": -1})), "seed");
    for (field, value) in [
        ("reference_strength", json!(1.5)),
        ("reference_strength", json!(-0.1)),
        ("guidance_scale", json!(100)),
        ("num_inference_steps", json!(0)),
        ("num_inference_steps", json!(201)),
    ] {
        let request = json!({"mode": "image", "prompt": "p", "settings": {field: value}});
        assert_invalid(queue_job(request), field);
    }
}

#[test]
fn model_names_are_bounded_identifiers() {
    assert!(queue_job(json!({"mode": "image", "prompt": "p", "model": "sdxl-lustify_v2.1"})).is_ok());
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "model": ""})), "model");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "model": "a b"})), "model");
    assert_invalid(queue_job(json!({"mode": "image", "prompt": "p", "model": "m".repeat(65)})), "model");
}

#[test]
fn reference_image_is_a_url_or_an_own_storage_path() {
    let reference = |value: &str| json!({"mode": "image", "prompt": "p", "settings": {"reference_image": value}});
    let job = queue_job(reference(&format!("/workspace-temp/{USER}/{JOB}/0.png/"))).unwrap();
    assert_eq!(job.to_json()["settings"]["reference_image"], format!("workspace-temp/{USER}/{JOB}/0.png"));
    assert!(queue_job(reference(&format!("{USER}/{JOB}/0.png"))).is_ok());
    assert!(queue_job(reference("https://images.example.com/a.png?x=1")).is_ok());

    assert_invalid(queue_job(reference(&format!("{OTHER_USER}/{JOB}/0.png"))), "of your own");
    assert_invalid(queue_job(reference(&format!("user-library/{OTHER_USER}/x.png"))), "of your own");
    assert_invalid(queue_job(reference(&format!("{USER}/../{OTHER_USER}/x.png"))), "`..`");
    assert_invalid(queue_job(reference(&format!("workspace-temp/{USER}/a//b.png"))), "empty segment");
    assert_invalid(queue_job(reference("javascript:alert(1)")), "reference_image");
    assert_invalid(queue_job(reference("https://example.com/a b.png")), "whitespace");
}

#[test]
fn idempotency_keys_are_bounded_visible_ascii() {
    assert_eq!(parse_idempotency_key(None).unwrap(), None);
    assert_eq!(parse_idempotency_key(Some("req-1")).unwrap(), Some("req-1"));
    assert!(parse_idempotency_key(Some(&"k".repeat(255))).is_ok());
    for bad in [String::new(), "k".repeat(256), "has space".into()] {
        assert_invalid(parse_idempotency_key(Some(&bad)), "Idempotency-Key");
    }
}

// ------------------------------------------------------------- job-callback

fn asset(index: u32) -> Value {
    json!({
        "asset_index": index, "storage_path": format!("{USER}/{JOB}/{index}.png"), "mime_type": "image/png",
        "file_size_bytes": 1234, "width": 64, "height": 36, "generation_seed": 7
    })
}

fn completed(assets: Vec<Value>) -> Value {
    json!({"job_id": JOB, "status": "completed", "worker_id": "gpu-1:42", "assets": assets})
}

#[test]
fn completed_callback_with_assets_passes_normalised() {
    let mut video = asset(1);
    video["storage_path"] = json!(format!("workspace-temp/{USER}/{JOB}/1.mp4"));
    video["mime_type"] = json!("video/mp4");
    video["duration_seconds"] = json!(2.0);
    video["thumbnail_path"] = json!(format!("/{USER}/{JOB}/thumbnails/1.jpg"));
    let callback = callback(completed(vec![asset(0), video])).unwrap();
    let json = callback.to_json();
    assert_eq!(json["assets"][1]["storage_path"], format!("{USER}/{JOB}/1.mp4"));
    assert_eq!(json["assets"][1]["thumbnail_path"], format!("{USER}/{JOB}/thumbnails/1.jpg"));
    assert_eq!(json["assets"][0]["width"], 64);
    assert!(json.get("error").is_none());
}

#[test]
fn processing_and_failed_callbacks_pass_without_assets() {
    assert!(callback(json!({"job_id": JOB, "status": "processing", "worker_id": "w"})).is_ok());
    assert!(callback(json!({"job_id": JOB, "status": "processing", "worker_id": "w", "assets": []})).is_ok());
    assert!(callback(json!({"job_id": JOB, "status": "failed", "worker_id": "w", "error": "CUDA out of memory\n"})).is_ok());
}

#[test]
fn assets_belong_to_completed_callbacks_only() {
    assert_invalid(callback(completed(vec![])), "at least one asset");
    assert_invalid(callback(json!({"job_id": JOB, "status": "completed", "worker_id": "w"})), "at least one asset");
    let processing = json!({"job_id": JOB, "status": "processing", "worker_id": "w", "assets": [asset(0)]});
    assert_invalid(callback(processing), "only allowed with status completed");
    let mut with_error = completed(vec![asset(0)]);
    with_error["error"] = json!("oops");
    assert_invalid(callback(with_error), "error is only allowed");
}

#[test]
fn callback_shape_is_strict() {
    let mut unknown = asset(0);
    unknown["sha256"] = json!("x");
    assert_invalid(callback(completed(vec![unknown])), "unknown field `sha256`");
    assert_invalid(callback(json!({"job_id": "not-a-uuid", "status": "processing", "worker_id": "w"})), "UUID");
    assert_invalid(callback(json!({"job_id": JOB, "status": "queued", "worker_id": "w"})), "unknown variant");
    assert_invalid(callback(json!({"job_id": JOB, "status": "processing", "worker_id": "gpu 1"})), "worker_id");
    assert_invalid(callback(json!({"job_id": JOB, "status": "processing"})), "missing field `worker_id`");
    let positional = json!([0, format!("{USER}/{JOB}/0.png"), "image/png", 10, null, null, null, null, null]);
    assert_invalid(callback(completed(vec![positional])), "invalid type");
}

#[test]
fn asset_indexes_are_unique_and_bounded() {
    assert_invalid(callback(completed(vec![asset(0), asset(0)])), "appears twice");
    let mut high = asset(100);
    high["storage_path"] = json!(format!("{USER}/{JOB}/100.png"));
    assert_invalid(callback(completed(vec![high])), "asset_index");
}

#[test]
fn asset_paths_must_lie_in_this_jobs_folder() {
    let other_job = "00000000-0000-4000-8000-0000000000aa";
    for (path, needle) in [
        (format!("{USER}/{other_job}/0.png"), "of this job"),
        (format!("{USER}/0.png"), "of this job"),
        (format!("{USER}/{JOB}"), "of this job"),
        (format!("not-a-user/{JOB}/0.png"), "of this job"),
        (format!("user-library/{USER}/{JOB}/0.png"), "of this job"),
        (format!("{USER}/{JOB}/../{other_job}/0.png"), "`..`"),
        (format!("{USER}/{JOB}/..\\0.png"), "may only contain"),
    ] {
        let mut bad = asset(0);
        bad["storage_path"] = json!(path);
        assert_invalid(callback(completed(vec![bad])), needle);
    }
    let mut bad_thumbnail = asset(0);
    bad_thumbnail["thumbnail_path"] = json!(format!("{USER}/{other_job}/thumbnails/0.jpg"));
    assert_invalid(callback(completed(vec![bad_thumbnail])), "thumbnail_path");
}

#[test]
fn media_metadata_must_be_plausible() {
    for (field, value, needle) in [
        ("mime_type", json!("image/gif"), "mime_type"),
        ("file_size_bytes", json!(0), "file_size_bytes"),
        ("file_size_bytes", json!(2_000_000_000u64), "file_size_bytes"),
        ("width", json!(0), "width"),
        ("height", json!(20000), "height"),
        ("duration_seconds", json!(0), "duration_seconds"),
        ("generation_seed", json!(-5), "generation_seed"),
    ] {
        let mut bad = asset(0);
        bad[field] = value;
        assert_invalid(callback(completed(vec![bad])), needle);
    }
}

// -------------------------------------------------------- workspace-actions

#[test]
fn save_by_asset_ids_keeps_order_and_drops_duplicates() {
    let second = "22222222-2222-4222-8222-222222222222";
    let saved = action(json!({
        "action": "save", "asset_ids": [ASSET, second, ASSET],
        "collection_id": JOB, "custom_title": "Dusk", "tags": [" sea ", "night"]
    }))
    .unwrap();
    assert_eq!(
        saved,
        WorkspaceAction::Save {
            target: Target::Assets(vec![Uuid::parse_str(ASSET).unwrap(), Uuid::parse_str(second).unwrap()]),
            collection_id: Some(Uuid::parse_str(JOB).unwrap()),
            custom_title: Some("Dusk".into()),
            tags: Some(vec!["sea".into(), "night".into()]),
        }
    );
}

#[test]
fn save_and_discard_take_exactly_one_target() {
    assert_eq!(
        action(json!({"action": "discard", "job_id": JOB})).unwrap(),
        WorkspaceAction::Discard { target: Target::Job(Uuid::parse_str(JOB).unwrap()) }
    );
    assert_invalid(action(json!({"action": "save"})), "exactly one of asset_ids and job_id");
    assert_invalid(action(json!({"action": "discard", "asset_ids": [ASSET], "job_id": JOB})), "exactly one");
}

#[test]
fn asset_ids_are_1_to_100_uuids() {
    assert_invalid(action(json!({"action": "discard", "asset_ids": []})), "1 to 100");
    let many: Vec<String> = (0..101).map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect();
    assert_invalid(action(json!({"action": "discard", "asset_ids": many})), "1 to 100");
    assert_invalid(action(json!({"action": "discard", "asset_ids": ["nope"]})), "UUID");
    assert_invalid(action(json!({"action": "discard", "asset_ids": ASSET})), "invalid type");
}

#[test]
fn tags_are_at_most_20_of_at_most_50_characters() {
    let save = |tags: Value| action(json!({"action": "save", "job_id": JOB, "tags": tags}));
    assert!(save(json!(vec!["t"; 20])).is_ok());
    assert_invalid(save(json!(vec!["t"; 21])), "at most 20 tags");
    assert_invalid(save(json!(["x".repeat(51)])), "each tag");
    assert_invalid(save(json!(["  "])), "each tag");
    assert_invalid(save(json!([1])), "invalid type");
    let titled = action(json!({"action": "save", "job_id": JOB, "custom_title": "t".repeat(201)}));
    assert_invalid(titled, "custom_title");
}

#[test]
fn fields_of_other_actions_are_refused() {
    assert_invalid(action(json!({"action": "clear", "asset_ids": [ASSET]})), "asset_ids is not allowed with action clear");
    assert_invalid(action(json!({"action": "discard", "job_id": JOB, "tags": []})), "tags is not allowed");
    assert_invalid(action(json!({"action": "save", "job_id": JOB, "max_items": 5})), "max_items is not allowed");
    assert_invalid(action(json!({"action": "archive"})), "unknown variant `archive`");
    assert_invalid(action(json!({"action": "clear", "everything": true})), "unknown field");
    assert_eq!(action(json!({"action": "clear"})).unwrap(), WorkspaceAction::Clear);
}

#[test]
fn drain_takes_1_to_1000_items_defaulting_to_100() {
    assert_eq!(
        action(json!({"action": "drain_storage_deletions"})).unwrap(),
        WorkspaceAction::DrainStorageDeletions { max_items: 100 }
    );
    assert_eq!(
        action(json!({"action": "drain_storage_deletions", "max_items": 1000})).unwrap(),
        WorkspaceAction::DrainStorageDeletions { max_items: 1000 }
    );
    for bad in [0, 1001] {
        assert_invalid(action(json!({"action": "drain_storage_deletions", "max_items": bad})), "max_items");
    }
}

#[test]
fn listing_query_defaults_and_cursor() {
    let parse = |query: &str| parse_list_query(&query_pairs(Some(query)).unwrap());
    assert_eq!(parse("").unwrap(), ListQuery { page_size: 20, before: None });
    let page = parse(&format!("page_size=5&before_created_at=2025-08-30T10:00:00.123456+00:00&before_job_id={JOB}")).unwrap();
    assert_eq!(page.page_size, 5);
    assert_eq!(page.before, Some(json!({"created_at": "2025-08-30T10:00:00.123456+00:00", "job_id": JOB})));
    assert!(parse(&format!("before_created_at=2025-08-30%2010:00:00Z&before_job_id={JOB}")).is_ok());
}

#[test]
fn listing_query_is_strict() {
    let parse = |query: &str| parse_list_query(&query_pairs(Some(query)).unwrap());
    for bad in ["page_size=0", "page_size=101", "page_size=ten", "page_size=-1"] {
        assert_invalid(parse(bad), "page_size");
    }
    assert_invalid(parse("limit=5"), "unknown query parameter");
    assert_invalid(parse("page_size=5&page_size=6"), "twice");
    assert_invalid(parse("before_job_id=00000000-0000-4000-8000-000000000000"), "go together");
    assert_invalid(parse(&format!("before_created_at=yesterday&before_job_id={JOB}")), "ISO 8601");
    assert_invalid(parse(&format!("before_created_at=2025-08-30T10:00:00'--&before_job_id={JOB}")), "ISO 8601");
    assert_invalid(parse("before_created_at=2025-08-30T10:00:00Z&before_job_id=1"), "UUID");
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
