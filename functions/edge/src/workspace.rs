//! The data work of workspace-actions between its SQL and Storage calls:
//! which names a listing page needs signed and where the URLs go; reading
//! `prepare_workspace_save` into copies to make and merging the three steps
//! of a save into one answer. Pure functions over JSON, so the save ordering
//! rules are tested without a host.

use crate::error::EdgeError;
use crate::paths;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// The per-item error of a save whose Storage copy failed.
pub const COPY_FAILED: &str = "storage_copy_failed";

// ------------------------------------------------------------------ listing

/// Every object name a `list_workspace` page shows (assets and thumbnails),
/// normalised and distinct, in page order: the `paths` of its one
/// batch-sign request.
pub fn names_to_sign(listing: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for asset in assets(listing) {
        for field in ["temp_storage_path", "thumbnail_path"] {
            if let Some(name) = workspace_name(asset.get(field)) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// Give every asset of the page `url` and `thumbnail_url` (null when absent
/// or not signable).
pub fn attach_urls(listing: &mut Value, urls: &HashMap<String, String>) {
    let jobs = listing.get_mut("jobs").and_then(Value::as_array_mut);
    for job in jobs.into_iter().flatten() {
        let job_assets = job.get_mut("assets").and_then(Value::as_array_mut);
        for asset in job_assets.into_iter().flatten() {
            let url_of = |field: &str| workspace_name(asset.get(field)).and_then(|name| urls.get(&name).cloned());
            let (url, thumbnail_url) = (url_of("temp_storage_path"), url_of("thumbnail_path"));
            if let Some(object) = asset.as_object_mut() {
                object.insert("url".into(), json!(url));
                object.insert("thumbnail_url".into(), json!(thumbnail_url));
            }
        }
    }
}

fn assets(listing: &Value) -> impl Iterator<Item = &Value> {
    listing
        .get("jobs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|job| job.get("assets").and_then(Value::as_array))
        .flatten()
}

fn workspace_name(path: Option<&Value>) -> Option<String> {
    path?.as_str().map(str::to_owned)
}

// --------------------------------------------------------------------- save

/// One asset to copy workspace-temp → user-library before step 3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyItem {
    pub asset_id: Uuid,
    pub library_id: Uuid,
    pub source_path: String,
    pub destination_path: String,
    /// Source and destination of the thumbnail, when the asset has one.
    pub thumbnail: Option<(String, String)>,
}

/// `prepare_workspace_save`'s answer, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub to_copy: Vec<CopyItem>,
    /// `{"asset_id", "library_id", "item"}` of assets a previous request saved.
    pub already_saved: Vec<Value>,
    /// `{"id", "error"}` of assets not found.
    pub failed: Vec<Value>,
}

#[derive(Deserialize)]
struct PreparedAnswer {
    #[serde(default)]
    items: Vec<PreparedItem>,
    #[serde(default)]
    failed: Vec<Value>,
}

#[derive(Deserialize)]
struct PreparedItem {
    asset_id: Uuid,
    library_id: Uuid,
    #[serde(default)]
    already_saved: bool,
    /// The library item of an already saved asset, as the library lists it.
    #[serde(default)]
    item: Option<Value>,
    #[serde(default)]
    source_path: Option<String>,
    #[serde(default)]
    destination_path: Option<String>,
    #[serde(default)]
    source_thumbnail_path: Option<String>,
    #[serde(default)]
    destination_thumbnail_path: Option<String>,
}

/// Read step 1 for `user`. Every path must be the user's own object in the
/// expected bucket: the copy runs with the user's token anyway, but a
/// malformed answer is a server bug and stops the save before Storage is
/// touched.
pub fn read_prepared(answer: Value, user: Uuid) -> Result<Prepared, EdgeError> {
    let answer: PreparedAnswer = serde_json::from_value(answer)
        .map_err(|error| EdgeError::internal(format!("prepare_workspace_save answer: {error}")))?;
    let mut prepared = Prepared { to_copy: Vec::new(), already_saved: Vec::new(), failed: answer.failed };
    for item in answer.items {
        if item.already_saved {
            prepared.already_saved.push(json!({"asset_id": item.asset_id, "library_id": item.library_id, "item": item.item}));
            continue;
        }
        let own = |path: Option<String>| -> Result<String, EdgeError> {
            let path = path.ok_or_else(|| EdgeError::internal("prepare_workspace_save item without paths"))?;
            if paths::owner(&path) != Some(user) {
                return Err(EdgeError::internal(format!("prepare_workspace_save path {path:?} is not the caller's")));
            }
            Ok(path)
        };
        let thumbnail = match (item.source_thumbnail_path, item.destination_thumbnail_path) {
            (None, None) => None,
            (source, destination) => Some((own(source)?, own(destination)?)),
        };
        prepared.to_copy.push(CopyItem {
            asset_id: item.asset_id,
            library_id: item.library_id,
            source_path: own(item.source_path)?,
            destination_path: own(item.destination_path)?,
            thumbnail,
        });
    }
    Ok(prepared)
}

/// The `items` argument of `save_workspace_assets` for the copies that
/// succeeded.
pub fn save_items(copied: &[&CopyItem]) -> Value {
    Value::Array(
        copied
            .iter()
            .map(|item| {
                json!({
                    "asset_id": item.asset_id,
                    "library_id": item.library_id,
                    "destination_path": item.destination_path,
                    "destination_thumbnail_path": item.thumbnail.as_ref().map(|(_, destination)| destination),
                })
            })
            .collect(),
    )
}

/// The `failed` entry of an asset whose copy failed.
pub fn copy_failure(item: &CopyItem) -> Value {
    json!({"id": item.asset_id, "error": COPY_FAILED})
}

/// One answer for a save: step 3's `saved` plus the already saved; every
/// `failed` of steps 1–3.
pub fn save_answer(prepared: Prepared, copy_failures: Vec<Value>, saved: Option<Value>) -> Value {
    let (mut saved_list, mut failed) = (prepared.already_saved, prepared.failed);
    failed.extend(copy_failures);
    if let Some(saved) = saved {
        saved_list.extend(list(&saved, "saved"));
        failed.extend(list(&saved, "failed"));
    }
    json!({"saved": saved_list, "failed": failed})
}

fn list(answer: &Value, key: &str) -> Vec<Value> {
    answer.get(key).and_then(Value::as_array).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";
    const OTHER: &str = "0b5c8f1e-0000-4000-8000-000000000002";
    const ASSET: &str = "11111111-1111-4111-8111-111111111111";
    const LIBRARY: &str = "22222222-2222-4222-8222-222222222222";

    fn user() -> Uuid {
        Uuid::parse_str(USER).unwrap()
    }

    fn listing() -> Value {
        json!({
            "jobs": [
                {"job_id": "j1", "assets": [
                    {"id": "a0", "temp_storage_path": format!("{USER}/j1/0.png"), "thumbnail_path": null},
                    {"id": "a1", "temp_storage_path": format!("{USER}/j1/1.mp4"),
                     "thumbnail_path": format!("{USER}/j1/thumbnails/1.jpg")}
                ]},
                {"job_id": "j2", "status": "queued", "assets": []}
            ],
            "next": null
        })
    }

    #[test]
    fn a_page_is_signed_with_every_asset_and_thumbnail_name_once() {
        let mut page = listing();
        page["jobs"][1]["assets"] = json!([{"id": "dup", "temp_storage_path": format!("{USER}/j1/0.png")}]);
        assert_eq!(
            names_to_sign(&page),
            vec![format!("{USER}/j1/0.png"), format!("{USER}/j1/1.mp4"), format!("{USER}/j1/thumbnails/1.jpg")]
        );
    }

    #[test]
    fn every_asset_gets_url_and_thumbnail_url() {
        let mut page = listing();
        let urls = HashMap::from([
            (format!("{USER}/j1/0.png"), "http://s/0".to_owned()),
            (format!("{USER}/j1/thumbnails/1.jpg"), "http://s/t1".to_owned()),
        ]);
        attach_urls(&mut page, &urls);
        let assets = &page["jobs"][0]["assets"];
        assert_eq!(assets[0]["url"], "http://s/0");
        assert_eq!(assets[0]["thumbnail_url"], Value::Null);
        assert_eq!(assets[1]["url"], Value::Null);
        assert_eq!(assets[1]["thumbnail_url"], "http://s/t1");
        assert_eq!(page["jobs"][1]["assets"], json!([]));
    }

    fn prepared_answer(destination_owner: &str) -> Value {
        json!({
            "items": [
                {"asset_id": ASSET, "library_id": LIBRARY,
                 "source_path": format!("{USER}/j1/1.mp4"), "destination_path": format!("{destination_owner}/{LIBRARY}.mp4"),
                 "source_thumbnail_path": format!("{USER}/j1/thumbnails/1.jpg"),
                 "destination_thumbnail_path": format!("{USER}/thumbnails/{LIBRARY}.jpg")},
                {"asset_id": "33333333-3333-4333-8333-333333333333", "library_id": "44444444-4444-4444-8444-444444444444",
                 "already_saved": true}
            ],
            "failed": [{"id": "55555555-5555-4555-8555-555555555555", "error": "not_found"}]
        })
    }

    #[test]
    fn prepared_items_become_copies_with_thumbnails() {
        let prepared = read_prepared(prepared_answer(USER), user()).unwrap();
        assert_eq!(prepared.to_copy.len(), 1);
        let item = &prepared.to_copy[0];
        assert_eq!(item.source_path, format!("{USER}/j1/1.mp4"));
        assert_eq!(item.destination_path, format!("{USER}/{LIBRARY}.mp4"));
        assert_eq!(
            item.thumbnail,
            Some((format!("{USER}/j1/thumbnails/1.jpg"), format!("{USER}/thumbnails/{LIBRARY}.jpg")))
        );
        assert_eq!(prepared.already_saved.len(), 1);
        assert_eq!(prepared.failed.len(), 1);
    }

    #[test]
    fn a_prepared_path_outside_the_callers_folder_stops_the_save() {
        assert_eq!(read_prepared(prepared_answer(OTHER), user()).unwrap_err().status(), 500);
    }

    #[test]
    fn save_answer_merges_all_three_steps() {
        let prepared = read_prepared(prepared_answer(USER), user()).unwrap();
        let copy_failed = vec![copy_failure(&prepared.to_copy[0])];
        let step3 = json!({"saved": [{"asset_id": "x", "library_id": "y"}], "failed": [{"id": "z", "error": "not_found"}]});
        let answer = save_answer(prepared, copy_failed, Some(step3));
        assert_eq!(answer["saved"].as_array().unwrap().len(), 2);
        let errors: Vec<&str> = answer["failed"].as_array().unwrap().iter().map(|f| f["error"].as_str().unwrap()).collect();
        assert_eq!(errors, vec!["not_found", COPY_FAILED, "not_found"]);
    }

    #[test]
    fn save_items_name_the_copied_destinations() {
        let prepared = read_prepared(prepared_answer(USER), user()).unwrap();
        let items = save_items(&prepared.to_copy.iter().collect::<Vec<_>>());
        assert_eq!(items[0]["asset_id"], ASSET);
        assert_eq!(items[0]["destination_thumbnail_path"], format!("{USER}/thumbnails/{LIBRARY}.jpg"));
    }
}
