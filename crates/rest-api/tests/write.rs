//! Writes: POST (object, array, `columns=`, `missing=default`, upserts with
//! `on_conflict`), PATCH and DELETE with filters, every `Prefer: return=`,
//! and row-level security deciding which rows a write reaches.

mod common;

use common::{start, Api, User};
use reqwest::Method;
use serde_json::json;

const REPRESENTATION: (&str, &str) = ("prefer", "return=representation");

async fn count(api: &Api, user: &User) -> usize {
    api.get("/items?select=id", Some(&user.token)).await.json().as_array().unwrap().len()
}

#[tokio::test]
async fn post_answers_201_with_the_rows_asked_for() {
    let api = start().await;
    let user = api.user().await;
    let reply = api.post("/items?select=title,size", Some(&user.token), &[REPRESENTATION], r#"{"title": "one", "size": 5}"#).await;
    assert_eq!((reply.status, reply.json()), (201, json!([{"title": "one", "size": 5}])));
    assert_eq!(reply.header("preference-applied"), Some("return=representation"));
    assert_eq!(reply.header("content-range"), Some("*/*"));

    let reply = api.post("/items", Some(&user.token), &[], r#"[{"title": "two"}, {"title": "three"}]"#).await;
    assert_eq!((reply.status, reply.text.as_str()), (201, ""));
    assert_eq!(count(&api, &user).await, 3);

    let reply = api
        .post("/items", Some(&user.token), &[("prefer", "return=minimal")], r#"{"title": "four", "tags": ["a", "b"], "meta": {"k": 1}}"#)
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (201, ""));
    let row = api.get("/items?select=tags,meta&title=eq.four", Some(&user.token)).await.json();
    assert_eq!(row, json!([{"tags": ["a", "b"], "meta": {"k": 1}}]));
}

#[tokio::test]
async fn headers_only_answers_the_location_of_the_new_row() {
    let api = start().await;
    let user = api.user().await;
    let reply = api.post("/collections", Some(&user.token), &[("prefer", "return=headers-only")], r#"{"name": "Cats"}"#).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let location = reply.header("location").unwrap();
    assert!(location.starts_with("/collections?id=eq."), "{location}");
    let found = api.get(location, Some(&user.token)).await.json();
    assert_eq!(found[0]["name"], "Cats");
}

#[tokio::test]
async fn columns_and_missing_default_shape_array_inserts() {
    let api = start().await;
    let user = api.user().await;
    // `columns` takes only the listed keys; the others of the payload are ignored.
    let reply = api
        .post("/items?columns=title,rank&select=title,rank,size", Some(&user.token), &[REPRESENTATION], r#"[{"title": "a", "rank": 1, "size": 5}, {"title": "b"}]"#)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json(), json!([{"title": "a", "rank": 1, "size": 0}, {"title": "b", "rank": null, "size": 0}]));

    // Without missing=default an absent column is NULL, which `size not null` refuses.
    let reply = api.post("/items?columns=title,size", Some(&user.token), &[], r#"[{"title": "c"}]"#).await;
    reply.assert_error(400, "23502");
    let reply = api
        .post(
            "/items?columns=title,size",
            Some(&user.token),
            &[("prefer", "missing=default, return=representation")],
            r#"[{"title": "c"}]"#,
        )
        .await;
    assert_eq!((reply.status, reply.json()[0]["size"].clone()), (201, json!(0)));
    assert_eq!(reply.header("preference-applied"), Some("missing=default, return=representation"));
}

#[tokio::test]
async fn upserts_merge_or_ignore_on_the_conflict_columns() {
    let api = start().await;
    let user = api.user().await;
    api.seed(&user, "items", json!({"title": "same", "size": 1})).await;
    let merge = [("prefer", "resolution=merge-duplicates,return=representation")];
    let reply = api.post("/items?on_conflict=user_id,title&select=title,size", Some(&user.token), &merge, r#"{"title": "same", "size": 2}"#).await;
    assert_eq!((reply.status, reply.json()), (200, json!([{"title": "same", "size": 2}])), "{}", reply.text);
    assert_eq!(reply.header("preference-applied"), Some("resolution=merge-duplicates, return=representation"));

    let reply =
        api.post("/items?on_conflict=user_id,title&select=title", Some(&user.token), &merge, r#"[{"title": "same", "size": 3}, {"title": "new", "size": 3}]"#).await;
    assert_eq!(reply.status, 201, "one row was inserted: {}", reply.text);

    let ignore = [("prefer", "resolution=ignore-duplicates,return=representation")];
    let reply = api.post("/items?on_conflict=user_id,title&select=title,size", Some(&user.token), &ignore, r#"{"title": "same", "size": 9}"#).await;
    assert_eq!((reply.status, reply.json()), (201, json!([])));
    let size = api.get("/items?select=size&title=eq.same", Some(&user.token)).await.json();
    assert_eq!(size, json!([{"size": 3}]));

    // A plain insert of a duplicate is a 409 with Postgres' unique-violation code.
    api.post("/items", Some(&user.token), &[], r#"{"title": "same"}"#).await.assert_error(409, "23505");
}

#[tokio::test]
async fn patch_and_delete_reach_only_own_rows() {
    let api = start().await;
    let user = api.user().await;
    let other = api.user().await;
    api.seed(&user, "items", json!([{"title": "mine", "size": 1}])).await;
    let theirs = api.seed(&other, "items", json!([{"title": "theirs", "size": 1}])).await;
    let their_id = theirs[0]["id"].as_str().unwrap();

    let reply = api
        .send(Method::PATCH, "/items?title=eq.mine", Some(&user.token), &[REPRESENTATION], Some(r#"{"size": 7}"#))
        .await;
    assert_eq!((reply.status, reply.json()[0]["size"].clone()), (200, json!(7)));
    assert_eq!(reply.header("content-range"), Some("0-0/*"));

    // The other user's row is invisible: the update and delete affect nothing.
    let path = format!("/items?id=eq.{their_id}");
    let reply = api.send(Method::PATCH, &path, Some(&user.token), &[REPRESENTATION], Some(r#"{"size": 99}"#)).await;
    assert_eq!((reply.status, reply.json()), (200, json!([])));
    let reply = api.send(Method::PATCH, &path, Some(&user.token), &[("prefer", "count=exact")], Some(r#"{"size": 99}"#)).await;
    assert_eq!((reply.status, reply.header("content-range")), (204, Some("*/0")));
    let reply = api.send(Method::DELETE, &path, Some(&user.token), &[REPRESENTATION], None).await;
    assert_eq!((reply.status, reply.json()), (200, json!([])));
    let service = common::sign("service_role", None);
    let still = api.get(&format!("{path}&select=size"), Some(&service)).await.json();
    assert_eq!(still, json!([{"size": 1}]));

    // Moving an own row to another user is refused by WITH CHECK.
    let body = json!({"user_id": other.id}).to_string();
    api.send(Method::PATCH, "/items?title=eq.mine", Some(&user.token), &[], Some(&body)).await.assert_error(403, "42501");
    // So is inserting a row for someone else.
    let body = json!({"title": "forged", "user_id": other.id}).to_string();
    api.post("/items", Some(&user.token), &[], &body).await.assert_error(403, "42501");

    let reply = api.send(Method::DELETE, "/items?title=eq.mine", Some(&user.token), &[], None).await;
    assert_eq!((reply.status, reply.text.as_str()), (204, ""));
    assert_eq!(count(&api, &user).await, 0);
}

#[tokio::test]
async fn limited_mutations_need_an_order_and_respect_the_limit() {
    let api = start().await;
    let user = api.user().await;
    api.seed(&user, "items", json!([{"title": "a", "size": 1}, {"title": "b", "size": 2}, {"title": "c", "size": 3}])).await;
    api.send(Method::DELETE, "/items?limit=1", Some(&user.token), &[], None).await.assert_error(400, "PGRST109");
    let reply = api.send(Method::DELETE, "/items?limit=1&order=size.desc", Some(&user.token), &[REPRESENTATION], None).await;
    assert_eq!((reply.status, reply.json()[0]["title"].clone()), (200, json!("c")), "{}", reply.text);
    let reply = api
        .send(Method::PATCH, "/items?limit=1&order=size", Some(&user.token), &[REPRESENTATION], Some(r#"{"rank": 1}"#))
        .await;
    assert_eq!((reply.status, reply.json()[0]["title"].clone()), (200, json!("a")), "{}", reply.text);
}

#[tokio::test]
async fn a_write_can_embed_and_ask_for_one_object() {
    let api = start().await;
    let user = api.user().await;
    let collection = api.seed(&user, "collections", json!({"name": "Dogs"})).await;
    let body = json!({"title": "pup", "collection_id": collection[0]["id"]}).to_string();
    let reply = api
        .post(
            "/items?select=title,collections(name)",
            Some(&user.token),
            &[REPRESENTATION, ("accept", "application/vnd.pgrst.object+json")],
            &body,
        )
        .await;
    assert_eq!((reply.status, reply.json()), (201, json!({"title": "pup", "collections": {"name": "Dogs"}})), "{}", reply.text);

    // Singular and two rows: refused, and nothing is kept.
    let reply = api
        .post(
            "/items",
            Some(&user.token),
            &[REPRESENTATION, ("accept", "application/vnd.pgrst.object+json")],
            r#"[{"title": "x"}, {"title": "y"}]"#,
        )
        .await;
    reply.assert_error(406, "PGRST116");
    assert!(api.get("/items?title=in.(x,y)", Some(&user.token)).await.json().as_array().unwrap().is_empty());
}

#[tokio::test]
async fn max_affected_with_strict_handling_rolls_back() {
    let api = start().await;
    let user = api.user().await;
    api.seed(&user, "items", json!([{"title": "a"}, {"title": "b"}])).await;
    let reply = api
        .send(Method::DELETE, "/items?title=in.(a,b)", Some(&user.token), &[("prefer", "handling=strict, max-affected=1")], None)
        .await;
    reply.assert_error(400, "PGRST124");
    assert_eq!(count(&api, &user).await, 2);
}

#[tokio::test]
async fn bad_payloads_are_pgrst_errors() {
    let api = start().await;
    let user = api.user().await;
    api.post("/items", Some(&user.token), &[], "{not json").await.assert_error(400, "PGRST102");
    api.post("/items", Some(&user.token), &[], "").await.assert_error(400, "PGRST102");
    api.post("/items", Some(&user.token), &[], r#"[{"title": "a"}, {"size": 1}]"#).await.assert_error(400, "PGRST102");
    let body = api.post("/items", Some(&user.token), &[], r#"{"nope": 1}"#).await.assert_error(400, "PGRST204");
    assert_eq!(body["message"], "Could not find the 'nope' column of 'items' in the schema cache");
    api.post("/items", Some(&user.token), &[], r#"{"title": "t", "size": "big"}"#).await.assert_error(400, "22P02");
    let reply = api
        .send(Method::POST, "/items", Some(&user.token), &[("content-type", "application/xml")], None)
        .await;
    reply.assert_error(400, "PGRST102");
}
