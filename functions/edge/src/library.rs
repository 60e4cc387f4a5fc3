//! The library's side of the functions: the shapes of library-actions'
//! requests, the SQL API calls they become (docs/sql-api.md, "Library"), and
//! the signed URLs a library answer carries — a page's items, a save's saved
//! items, the collections' covers — all from one batch-sign request.
//!
//! Like [`crate::bodies`], only shapes live here: serde checks field names and
//! JSON types, and every value goes to its SQL function as it came, which
//! judges ranges, enums and ownership once for the edge and for PostgREST
//! RPC alike. Pure functions over JSON, tested natively.

use crate::error::EdgeError;
use crate::sql::{SqlCall, SqlParam};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

// ------------------------------------------------------------------ requests

/// What a `GET` of library-actions reads: `view=items` (the default, one page
/// of `list_library`), `view=collections` or `view=statistics`.
#[derive(Debug, Clone, PartialEq)]
pub enum LibraryView {
    Items(Box<ItemsQuery>),
    Collections,
    Statistics,
}

/// `list_library`'s arguments, as the query string gave them (text; the SQL
/// casts and judges them). `tags_all` / `tags_any` may repeat; the cursor is
/// the `next` object of the previous page, given as `after_created_at`,
/// `after_id`, for relevance `after_rank`, and for a search `after_match`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemsQuery {
    pub page_size: Option<String>,
    pub after: Option<Value>,
    pub search: Option<String>,
    pub sort: Option<String>,
    pub collection_id: Option<String>,
    pub in_collection: Option<String>,
    pub asset_type: Option<String>,
    pub model: Option<String>,
    pub is_favorite: Option<String>,
    pub visibility: Option<String>,
    pub tags_all: Option<Vec<String>>,
    pub tags_any: Option<Vec<String>>,
    pub created_after: Option<String>,
    pub created_before: Option<String>,
}

/// Read the query string of a `GET`. Unknown and repeated parameters are
/// 400 (only the tag filters repeat); a parameter of another view too.
pub fn parse_library_query(pairs: &[(String, String)]) -> Result<LibraryView, EdgeError> {
    let mut view = None;
    let mut query = ItemsQuery::default();
    let mut after = Map::new();
    let mut item_parameters = false;
    for (name, value) in pairs {
        if name == "view" {
            set_once(&mut view, name, value)?;
            continue;
        }
        item_parameters = true;
        let value = value.clone();
        match name.as_str() {
            "tags_all" => query.tags_all.get_or_insert_with(Vec::new).push(value),
            "tags_any" => query.tags_any.get_or_insert_with(Vec::new).push(value),
            "after_created_at" | "after_id" | "after_rank" | "after_match" => {
                let key = name.trim_start_matches("after_");
                if after.insert(key.to_owned(), Value::String(value)).is_some() {
                    return Err(twice(name));
                }
            }
            _ => {
                let slot = match name.as_str() {
                    "page_size" => &mut query.page_size,
                    "search" => &mut query.search,
                    "sort" => &mut query.sort,
                    "collection_id" => &mut query.collection_id,
                    "in_collection" => &mut query.in_collection,
                    "asset_type" => &mut query.asset_type,
                    "model" => &mut query.model,
                    "is_favorite" => &mut query.is_favorite,
                    "visibility" => &mut query.visibility,
                    "created_after" => &mut query.created_after,
                    "created_before" => &mut query.created_before,
                    _ => return Err(EdgeError::invalid(format!("unknown query parameter {name:?}"))),
                };
                set_once(slot, name, &value)?;
            }
        }
    }
    match view.as_deref().unwrap_or("items") {
        "items" => {
            if !after.is_empty() {
                // the cursor names its sort, as the SQL's `next` does; a rank
                // travels as the number it was
                after.insert("sort".into(), json!(query.sort.as_deref().unwrap_or("newest")));
                if let Some(rank) = after.get_mut("rank") {
                    let number = rank.as_str().and_then(|text| text.parse::<f64>().ok());
                    *rank = number.map_or(Value::Null, |number| json!(number));
                }
                query.after = Some(Value::Object(after));
            }
            Ok(LibraryView::Items(Box::new(query)))
        }
        other if item_parameters => Err(EdgeError::invalid(format!("view {other} takes no other query parameter"))),
        "collections" => Ok(LibraryView::Collections),
        "statistics" => Ok(LibraryView::Statistics),
        other => Err(EdgeError::invalid(format!("view must be items, collections or statistics, not {other:?}"))),
    }
}

fn set_once(slot: &mut Option<String>, name: &str, value: &str) -> Result<(), EdgeError> {
    match slot.replace(value.to_owned()) {
        Some(_) => Err(twice(name)),
        None => Ok(()),
    }
}

fn twice(name: &str) -> EdgeError {
    EdgeError::invalid(format!("query parameter {name} is given twice"))
}

/// A library-actions `POST` body: what to change.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum LibraryAction {
    /// Set title, tags, favorite, visibility or collection of many items.
    Update { item_ids: Vec<Uuid>, changes: Map<String, Value> },
    /// Delete items: rows now, files through the deletion outbox.
    Delete { item_ids: Vec<Uuid> },
    CreateCollection {
        name: String,
        #[serde(default)]
        description: Option<String>,
    },
    UpdateCollection {
        collection_id: Uuid,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        description: Option<String>,
    },
    /// Delete a collection, keeping its items (in no collection) unless
    /// `delete_items`.
    DeleteCollection {
        collection_id: Uuid,
        #[serde(default)]
        delete_items: Option<bool>,
    },
}

// ---------------------------------------------------------------- SQL calls

fn text(value: Option<&str>) -> SqlParam {
    value.map_or(SqlParam::Null, |value| SqlParam::Text(value.to_owned()))
}

fn texts(values: Option<&[String]>) -> SqlParam {
    values.map_or(SqlParam::Null, |values| SqlParam::TextArray(values.to_vec()))
}

fn uuids(ids: &[Uuid]) -> SqlParam {
    SqlParam::TextArray(ids.iter().map(Uuid::to_string).collect())
}

pub fn list_library(query: &ItemsQuery) -> SqlCall {
    SqlCall {
        statement: "select public.list_library($1::text::int, $2::text::jsonb, $3::text, $4::text, $5::text::uuid, \
                    $6::text::boolean, $7::text, $8::text, $9::text::boolean, $10::text, $11::text[], $12::text[], \
                    $13::text::timestamptz, $14::text::timestamptz)::text",
        params: vec![
            text(query.page_size.as_deref()),
            query.after.as_ref().map_or(SqlParam::Null, |after| SqlParam::Text(after.to_string())),
            text(query.search.as_deref()),
            text(query.sort.as_deref()),
            text(query.collection_id.as_deref()),
            text(query.in_collection.as_deref()),
            text(query.asset_type.as_deref()),
            text(query.model.as_deref()),
            text(query.is_favorite.as_deref()),
            text(query.visibility.as_deref()),
            texts(query.tags_all.as_deref()),
            texts(query.tags_any.as_deref()),
            text(query.created_after.as_deref()),
            text(query.created_before.as_deref()),
        ],
    }
}

pub fn list_collections() -> SqlCall {
    SqlCall { statement: "select public.list_collections()::text", params: vec![] }
}

pub fn asset_statistics() -> SqlCall {
    SqlCall { statement: "select public.asset_statistics()::text", params: vec![] }
}

/// The one SQL call of a `POST`.
pub fn action_call(action: &LibraryAction) -> SqlCall {
    match action {
        LibraryAction::Update { item_ids, changes } => SqlCall {
            statement: "select public.update_library_items($1::text[]::uuid[], $2::text::jsonb)::text",
            params: vec![uuids(item_ids), SqlParam::Text(Value::Object(changes.clone()).to_string())],
        },
        LibraryAction::Delete { item_ids } => SqlCall {
            statement: "select public.delete_library_items($1::text[]::uuid[])::text",
            params: vec![uuids(item_ids)],
        },
        LibraryAction::CreateCollection { name, description } => SqlCall {
            statement: "select public.create_collection($1::text, $2::text)::text",
            params: vec![SqlParam::Text(name.clone()), text(description.as_deref())],
        },
        LibraryAction::UpdateCollection { collection_id, name, description } => SqlCall {
            statement: "select public.update_collection($1::text::uuid, $2::text, $3::text)::text",
            params: vec![SqlParam::Text(collection_id.to_string()), text(name.as_deref()), text(description.as_deref())],
        },
        LibraryAction::DeleteCollection { collection_id, delete_items } => SqlCall {
            statement: "select public.delete_collection($1::text::uuid, $2::text::boolean)::text",
            params: vec![
                SqlParam::Text(collection_id.to_string()),
                text(delete_items.map(|delete| delete.to_string()).as_deref()),
            ],
        },
    }
}

// ------------------------------------------------------------- signed URLs

/// Where a library answer shows items: a page's `items`, a save's
/// `saved[].item`, the collections' `cover`s.
fn item_in<'a>(key: &str, entry: &'a Value) -> Option<&'a Value> {
    match key {
        "items" => Some(entry),
        "saved" => entry.get("item"),
        "collections" => entry.get("cover"),
        _ => None,
    }
    .filter(|item| item.is_object())
}

fn items(answer: &Value) -> impl Iterator<Item = &Value> {
    answer.as_object().into_iter().flatten().flat_map(|(key, value)| {
        value.as_array().into_iter().flatten().filter_map(move |entry| item_in(key, entry))
    })
}

fn items_mut(answer: &mut Value) -> Vec<&mut Value> {
    let mut found = Vec::new();
    for (key, value) in answer.as_object_mut().into_iter().flatten() {
        for entry in value.as_array_mut().into_iter().flatten() {
            let item = match key.as_str() {
                "items" => Some(entry),
                "saved" => entry.get_mut("item"),
                "collections" => entry.get_mut("cover"),
                _ => None,
            };
            found.extend(item.filter(|item| item.is_object()));
        }
    }
    found
}

fn library_name(path: Option<&Value>) -> Option<String> {
    path?.as_str().map(str::to_owned)
}

/// Every object name the answer's items show (files and thumbnails),
/// normalised and distinct, in order: the `paths` of its one batch-sign
/// request to user-library.
pub fn names_to_sign(answer: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for item in items(answer) {
        for field in ["storage_path", "thumbnail_path"] {
            if let Some(name) = library_name(item.get(field)) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// Give every item of the answer `url` and `thumbnail_url` (null when absent
/// or not signable).
pub fn attach_urls(answer: &mut Value, urls: &HashMap<String, String>) {
    for item in items_mut(answer) {
        let url_of = |field: &str| library_name(item.get(field)).and_then(|name| urls.get(&name).cloned());
        let (url, thumbnail_url) = (url_of("storage_path"), url_of("thumbnail_path"));
        if let Some(object) = item.as_object_mut() {
            object.insert("url".into(), json!(url));
            object.insert("thumbnail_url".into(), json!(thumbnail_url));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";

    fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
    }

    #[test]
    fn the_listing_query_passes_every_filter_on_as_given() {
        let view = parse_library_query(&pairs(&[
            ("page_size", "20"),
            ("search", "red fox"),
            ("sort", "relevance"),
            ("tags_all", "fox"),
            ("tags_all", "red"),
            ("tags_any", "night"),
            ("is_favorite", "true"),
            ("created_before", "2026-01-01T00:00:00Z"),
            ("after_created_at", "2025-12-31T10:00:00.123456+00:00"),
            ("after_id", "11111111-1111-4111-8111-111111111111"),
            ("after_rank", "0.25"),
            ("after_match", "words"),
        ]))
        .unwrap();
        let LibraryView::Items(query) = view else { panic!("an items view") };
        assert_eq!(query.tags_all, Some(vec!["fox".to_owned(), "red".to_owned()]));
        assert_eq!(
            query.after,
            Some(json!({"sort": "relevance", "created_at": "2025-12-31T10:00:00.123456+00:00",
                        "id": "11111111-1111-4111-8111-111111111111", "rank": 0.25, "match": "words"}))
        );
        let call = list_library(&query);
        assert_eq!(call.params.len(), 14);
        assert_eq!(call.params[2], SqlParam::Text("red fox".into()));
        assert_eq!(call.params[10], SqlParam::TextArray(vec!["fox".into(), "red".into()]));
        assert_eq!(call.params[4], SqlParam::Null);
    }

    #[test]
    fn a_page_without_a_cursor_or_filters_is_the_first_page_newest_first() {
        let LibraryView::Items(query) = parse_library_query(&[]).unwrap() else { panic!("an items view") };
        assert_eq!(*query, ItemsQuery::default());
        assert!(list_library(&query).params.iter().all(|param| *param == SqlParam::Null));
    }

    #[test]
    fn unknown_repeated_or_misplaced_query_parameters_are_refused() {
        for query in [
            vec![("colour", "red")],
            vec![("search", "a"), ("search", "b")],
            vec![("after_id", "x"), ("after_id", "y")],
            vec![("view", "collections"), ("search", "fox")],
            vec![("view", "shelves")],
            vec![("view", "items"), ("view", "items")],
        ] {
            let error = parse_library_query(&pairs(&query)).unwrap_err();
            assert_eq!(error.status(), 400, "{query:?}");
        }
        assert_eq!(parse_library_query(&pairs(&[("view", "statistics")])).unwrap(), LibraryView::Statistics);
    }

    #[test]
    fn actions_take_only_their_own_fields() {
        let update: LibraryAction = serde_json::from_value(json!({
            "action": "update", "item_ids": [USER], "changes": {"is_favorite": true}})).unwrap();
        assert_eq!(action_call(&update).params[1], SqlParam::Text(r#"{"is_favorite":true}"#.into()));
        for body in [
            json!({"action": "delete", "item_ids": [USER], "changes": {}}),
            json!({"action": "update", "item_ids": [USER], "changes": []}),
            json!({"action": "create_collection"}),
            json!({"action": "delete_collection", "collection_id": "not a uuid"}),
            json!({"action": "rename", "collection_id": USER}),
        ] {
            assert!(serde_json::from_value::<LibraryAction>(body.clone()).is_err(), "{body}");
        }
        let delete: LibraryAction = serde_json::from_value(json!({"action": "delete_collection", "collection_id": USER})).unwrap();
        assert_eq!(action_call(&delete).params[1], SqlParam::Null);
    }

    fn answer_with_items() -> Value {
        json!({
            "items": [
                {"id": "1", "storage_path": format!("{USER}/1.png"), "thumbnail_path": null},
                {"id": "2", "storage_path": format!("{USER}/2.mp4"), "thumbnail_path": format!("{USER}/thumbnails/2.jpg")}
            ],
            "saved": [{"asset_id": "a", "library_id": "3", "item": {"id": "3", "storage_path": format!("{USER}/3.png")}}],
            "collections": [{"id": "c", "cover": {"id": "1", "storage_path": format!("{USER}/1.png")}}, {"id": "d", "cover": null}],
            "next": null
        })
    }

    #[test]
    fn every_item_file_and_thumbnail_is_signed_once_in_one_request() {
        assert_eq!(
            names_to_sign(&answer_with_items()),
            vec![
                format!("{USER}/1.png"),
                format!("{USER}/2.mp4"),
                format!("{USER}/thumbnails/2.jpg"),
                format!("{USER}/3.png")
            ]
        );
    }

    #[test]
    fn items_saved_items_and_covers_get_their_urls() {
        let mut answer = answer_with_items();
        let urls = HashMap::from([
            (format!("{USER}/1.png"), "http://s/1".to_owned()),
            (format!("{USER}/thumbnails/2.jpg"), "http://s/t2".to_owned()),
            (format!("{USER}/3.png"), "http://s/3".to_owned()),
        ]);
        attach_urls(&mut answer, &urls);
        assert_eq!(answer["items"][0]["url"], "http://s/1");
        assert_eq!(answer["items"][0]["thumbnail_url"], Value::Null);
        assert_eq!(answer["items"][1]["url"], Value::Null);
        assert_eq!(answer["items"][1]["thumbnail_url"], "http://s/t2");
        assert_eq!(answer["saved"][0]["item"]["url"], "http://s/3");
        assert_eq!(answer["collections"][0]["cover"]["url"], "http://s/1");
        assert_eq!(answer["collections"][1]["cover"], Value::Null);
    }
}
