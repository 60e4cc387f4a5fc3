//! One claimed job, from `claim_jobs` JSON to the files to upload and the
//! job-callback bodies. Pure: no I/O, so what the worker sends is tested
//! without a database or API.
//!
//! Asset `i` of a job uses seed `(generation_seed + i) mod 2^53` (the SQL
//! API's rule: seeds are JavaScript-safe integers), so "reuse this seed" on
//! any asset reproduces it as asset 0 of a new job. Paths follow the SQL
//! API: `{user_id}/{job_id}/{i}.{png|mp4}` and, for videos,
//! `{user_id}/{job_id}/thumbnails/{i}.jpg`, all in workspace-temp.

use crate::error::WorkerError;
use crate::mp4;
use crate::options::Options;
use crate::render::{self, AspectRatio};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// The bucket generated assets are uploaded to.
pub const WORKSPACE_BUCKET: &str = "workspace-temp";
/// The buckets a reference image may be stored in.
const REFERENCE_BUCKETS: [&str; 2] = [WORKSPACE_BUCKET, "user-library"];
/// Seeds are below 2^53 (`ourvidz_private.max_seed()` + 1).
const SEED_MODULUS: i64 = 1 << 53;

/// A job as `claim_jobs` returns it (fields the worker does not use are
/// ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClaimedJob {
    pub id: Uuid,
    pub user_id: Uuid,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub job_type: Option<String>,
    pub prompt: String,
    #[serde(default)]
    pub batch_size: Option<u32>,
    #[serde(default)]
    pub generation_seed: Option<i64>,
    #[serde(default)]
    pub generation_settings: Option<Value>,
}

impl ClaimedJob {
    pub fn is_video(&self) -> bool {
        match self.mode.as_deref() {
            Some(mode) => mode == "video",
            None => self.job_type.as_deref().is_some_and(|kind| kind.contains("video")),
        }
    }

    /// Assets to produce: the job's batch size, else the contract's
    /// defaults (3 images, 1 video).
    pub fn asset_count(&self) -> u32 {
        self.batch_size.unwrap_or(if self.is_video() { 1 } else { 3 }).clamp(1, 100)
    }

    pub fn aspect_ratio(&self) -> AspectRatio {
        let setting = self.generation_settings.as_ref().and_then(|settings| settings.get("aspect_ratio")).and_then(Value::as_str);
        AspectRatio::from_setting(setting)
    }

    /// The seed of asset `index`: `(seed + index) mod 2^53`, as the SQL API
    /// derives it (`ourvidz_private.asset_seed`), so it stays a valid seed.
    pub fn asset_seed(&self, index: u32) -> i64 {
        (self.generation_seed.unwrap_or(0).max(0) + i64::from(index)) % SEED_MODULUS
    }

    /// The stored object the job's `reference_image` names, as
    /// `(bucket, name)`: the SQL API keeps references as `https://` URLs or
    /// `{bucket}/{name}` of the caller's own object, checked when queued.
    pub fn reference_object(&self) -> Option<(&str, &str)> {
        let reference = self.generation_settings.as_ref()?.get("reference_image")?.as_str()?;
        let (bucket, name) = reference.split_once('/')?;
        (REFERENCE_BUCKETS.contains(&bucket) && !name.is_empty()).then_some((bucket, name))
    }

    fn folder(&self) -> String {
        format!("{}/{}", self.user_id, self.id)
    }
}

/// How big and how long the placeholders are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderSettings {
    pub long_edge: u32,
    pub video_frames: u32,
    pub fps: u32,
}

impl From<&Options> for RenderSettings {
    fn from(options: &Options) -> Self {
        RenderSettings { long_edge: options.size, video_frames: options.video_frames, fps: options.fps }
    }
}

/// An object to upload to workspace-temp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// One rendered asset: its file, its thumbnail (videos) and the callback
/// entry describing them.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    pub file: Upload,
    pub thumbnail: Option<Upload>,
    pub callback_entry: Value,
}

/// Render asset `index` of `job`; `reference` is the fingerprint of its
/// reference image's bytes ([`render::fingerprint`]), when it has one.
pub fn render_asset(job: &ClaimedJob, index: u32, settings: RenderSettings, reference: Option<u64>) -> Result<Asset, WorkerError> {
    let (width, height) = job.aspect_ratio().dimensions(settings.long_edge);
    let seed = job.asset_seed(index);
    let folder = job.folder();
    let mut entry = json!({
        "asset_index": index,
        "width": width,
        "height": height,
        "generation_seed": seed,
    });
    let (file, thumbnail) = if job.is_video() {
        let frames: Vec<_> = (0..settings.video_frames).map(|frame| render::render(&job.prompt, seed, reference, width, height, frame)).collect();
        let video = mp4::encode(&frames, width, height, settings.fps);
        let poster = render::encode_jpeg(&frames[0]).map_err(|error| WorkerError::Render(error.to_string()))?;
        let thumbnail = Upload { name: format!("{folder}/thumbnails/{index}.jpg"), content_type: "image/jpeg", bytes: poster };
        entry["duration_seconds"] = json!(f64::from(settings.video_frames) / f64::from(settings.fps));
        entry["thumbnail_path"] = json!(thumbnail.name);
        (Upload { name: format!("{folder}/{index}.mp4"), content_type: "video/mp4", bytes: video }, Some(thumbnail))
    } else {
        let picture = render::render(&job.prompt, seed, reference, width, height, 0);
        let png = render::encode_png(&picture).map_err(|error| WorkerError::Render(error.to_string()))?;
        (Upload { name: format!("{folder}/{index}.png"), content_type: "image/png", bytes: png }, None)
    };
    entry["storage_path"] = json!(file.name);
    entry["mime_type"] = json!(file.content_type);
    entry["file_size_bytes"] = json!(file.bytes.len());
    Ok(Asset { file, thumbnail, callback_entry: entry })
}

/// `processing`: the worker has the job.
pub fn processing_callback(job: &ClaimedJob, worker_id: &str) -> Value {
    json!({"job_id": job.id, "status": "processing", "worker_id": worker_id})
}

/// `completed` with every asset's entry.
pub fn completed_callback(job: &ClaimedJob, worker_id: &str, assets: &[Value]) -> Value {
    json!({"job_id": job.id, "status": "completed", "worker_id": worker_id, "assets": assets})
}

/// `failed` with a reason (bounded to what job-callback accepts).
pub fn failed_callback(job: &ClaimedJob, worker_id: &str, error: &WorkerError) -> Value {
    let reason: String = error.to_string().chars().filter(|c| !c.is_control()).take(2000).collect();
    json!({"job_id": job.id, "status": "failed", "worker_id": worker_id, "error": reason})
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};
    use ourvidz_edge::bodies::{parse_job_callback, JobCallbackBody};

    const SETTINGS: RenderSettings = RenderSettings { long_edge: 32, video_frames: 3, fps: 6 };

    fn job(mode: &str, aspect_ratio: &str) -> ClaimedJob {
        serde_json::from_value(json!({
            "id": "9a3e2b8c-5d4f-4e6a-8b7c-1d2e3f4a5b6c",
            "user_id": "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001",
            "job_type": format!("{mode}_fast"), "mode": mode, "prompt": "a lighthouse at dusk",
            "model": "sdxl", "quality": "fast", "batch_size": null, "generation_seed": 41,
            "generation_settings": {"aspect_ratio": aspect_ratio}, "attempts": 1, "max_attempts": 3,
            "lease_expires_at": "2030-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn asset_seeds_wrap_below_two_to_the_53_as_the_sql_derives_them() {
        let mut job = job("image", "1:1");
        assert_eq!((job.asset_seed(0), job.asset_seed(2)), (41, 43));
        job.generation_seed = Some((1 << 53) - 1);
        assert_eq!((job.asset_seed(0), job.asset_seed(1), job.asset_seed(2)), ((1 << 53) - 1, 0, 1));
    }

    #[test]
    fn a_stored_reference_names_its_bucket_and_object_and_a_url_is_not_one() {
        let mut job = job("image", "1:1");
        assert_eq!(job.reference_object(), None);
        let name = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001/ref.png";
        for (reference, expected) in [
            (format!("user-library/{name}"), Some(("user-library", name))),
            (format!("workspace-temp/{name}"), Some(("workspace-temp", name))),
            ("https://example.com/ref.png".to_owned(), None),
            ("other-bucket/x.png".to_owned(), None),
            ("user-library/".to_owned(), None),
        ] {
            job.generation_settings = Some(json!({"reference_image": reference}));
            assert_eq!(job.reference_object(), expected, "{reference}");
        }
    }

    /// The callback through job-callback's own validation.
    fn accepted_by_job_callback(body: &Value) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let parsed = ourvidz_edge::request::json_body::<JobCallbackBody>(&headers, body.to_string().as_bytes());
        parsed.and_then(parse_job_callback).is_ok()
    }

    #[test]
    fn claimed_json_gives_mode_count_aspect_and_seeds() {
        let image = job("image", "16:9");
        assert!(!image.is_video());
        assert_eq!(image.asset_count(), 3);
        assert_eq!(image.aspect_ratio(), AspectRatio::Landscape);
        assert_eq!([image.asset_seed(0), image.asset_seed(2)], [41, 43]);
        let video = job("video", "9:16");
        assert!(video.is_video());
        assert_eq!(video.asset_count(), 1);
    }

    #[test]
    fn images_are_pngs_in_the_jobs_folder_sized_by_aspect_ratio() {
        let asset = render_asset(&job("image", "16:9"), 2, SETTINGS, None).unwrap();
        assert_eq!(asset.file.name, "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001/9a3e2b8c-5d4f-4e6a-8b7c-1d2e3f4a5b6c/2.png");
        assert_eq!(asset.file.content_type, "image/png");
        assert!(asset.thumbnail.is_none());
        let entry = &asset.callback_entry;
        assert_eq!((entry["width"].as_u64(), entry["height"].as_u64()), (Some(32), Some(18)));
        assert_eq!(entry["generation_seed"], 43);
        assert_eq!(entry["file_size_bytes"], asset.file.bytes.len());
    }

    #[test]
    fn videos_are_mp4s_with_a_jpeg_thumbnail_and_a_duration() {
        let asset = render_asset(&job("video", "9:16"), 0, SETTINGS, None).unwrap();
        assert!(asset.file.name.ends_with("/0.mp4"));
        assert_eq!(&asset.file.bytes[4..8], b"ftyp");
        let thumbnail = asset.thumbnail.unwrap();
        assert!(thumbnail.name.ends_with("/thumbnails/0.jpg"));
        assert_eq!(asset.callback_entry["thumbnail_path"], thumbnail.name);
        assert_eq!(asset.callback_entry["duration_seconds"], 0.5);
        assert_eq!((asset.callback_entry["width"].as_u64(), asset.callback_entry["height"].as_u64()), (Some(18), Some(32)));
    }

    #[test]
    fn a_retried_job_renders_identical_bytes() {
        let first = render_asset(&job("video", "1:1"), 0, SETTINGS, None).unwrap();
        let retry = render_asset(&job("video", "1:1"), 0, SETTINGS, None).unwrap();
        assert_eq!(first, retry);
    }

    #[test]
    fn every_callback_the_worker_sends_passes_job_callback_validation() {
        for (mode, aspect) in [("image", "16:9"), ("video", "9:16")] {
            let job = job(mode, aspect);
            let entries: Vec<Value> =
                (0..job.asset_count()).map(|i| render_asset(&job, i, SETTINGS, None).unwrap().callback_entry).collect();
            assert!(accepted_by_job_callback(&completed_callback(&job, "gpu-1:7", &entries)), "{mode}");
            assert!(accepted_by_job_callback(&processing_callback(&job, "gpu-1:7")));
            let failure = WorkerError::Render("out of memory\n\u{0}".into());
            assert!(accepted_by_job_callback(&failed_callback(&job, "gpu-1:7", &failure)));
        }
    }
}
