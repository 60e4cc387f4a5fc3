//! Reads: what each role sees, `select` shapes, every filter operator, logic
//! trees, ordering, ranges and counts, singular answers, and embedding along
//! a composite foreign key in both directions.

mod common;

use common::{start, Api, User};
use serde_json::{json, Value};

async fn library(api: &Api) -> (User, Value, Value) {
    let user = api.user().await;
    let collections = api.seed(&user, "collections", json!([{"name": "Foxes"}, {"name": "Owls"}])).await;
    let foxes = collections[0]["id"].as_str().unwrap().to_owned();
    let items = api
        .seed(
            &user,
            "items",
            json!([
                {"title": "red fox", "body": "a red fox jumps over the lazy dog", "tags": ["fox", "red"], "meta": {"ratio": "16:9", "steps": 30}, "size": 10, "rank": 1, "collection_id": foxes},
                {"title": "arctic fox", "body": "white foxes in the snow", "tags": ["fox", "white"], "meta": {"ratio": "1:1", "steps": 20}, "size": 20, "rank": null, "collection_id": foxes},
                {"title": "barn owl", "body": "an owl at night", "tags": ["owl"], "meta": {"ratio": "9:16", "steps": 10}, "size": 30, "rank": 3, "collection_id": null}
            ]),
        )
        .await;
    (user, collections, items)
}

fn titles(body: &Value) -> Vec<&str> {
    body.as_array().unwrap().iter().map(|r| r["title"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn anon_without_grants_is_refused_and_a_user_sees_only_own_rows() {
    let api = start().await;
    let (user, _, _) = library(&api).await;
    let (other, _, _) = library(&api).await;

    api.get("/items", None).await.assert_error(401, "42501");
    let anon = common::sign("anon", None);
    let reply = api.get("/items", Some(&anon)).await;
    reply.assert_error(401, "42501");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));

    let mine = api.get("/items?select=user_id", Some(&user.token)).await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    let mine = mine.json();
    let ids: Vec<&str> = mine.as_array().unwrap().iter().map(|r| r["user_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![user.id.as_str(); 3]);

    let service = common::sign("service_role", None);
    let all = api.get(&format!("/items?user_id=in.({},{})", user.id, other.id), Some(&service)).await;
    assert_eq!(all.json().as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn select_takes_aliases_casts_and_json_paths() {
    let api = start().await;
    let (user, _, _) = library(&api).await;
    let reply = api
        .get("/items?select=name:title,size::text,ratio:meta->>ratio,meta->steps,tags->0&title=eq.red%20fox", Some(&user.token))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json(), json!([{"name": "red fox", "size": "10", "ratio": "16:9", "steps": 30, "tags": "fox"}]));
    assert_eq!(reply.header("content-type"), Some("application/json; charset=utf-8"));
}

#[tokio::test]
async fn every_filter_operator_narrows_the_rows() {
    let api = start().await;
    let (user, _, _) = library(&api).await;
    let cases: &[(&str, &[&str])] = &[
        ("title=eq.barn%20owl", &["barn owl"]),
        ("title=neq.barn%20owl", &["arctic fox", "red fox"]),
        ("size=gt.10", &["arctic fox", "barn owl"]),
        ("size=gte.20", &["arctic fox", "barn owl"]),
        ("size=lt.20", &["red fox"]),
        ("size=lte.20", &["arctic fox", "red fox"]),
        ("title=like.*fox", &["arctic fox", "red fox"]),
        ("title=ilike.RED*", &["red fox"]),
        ("title=match.^a", &["arctic fox"]),
        ("title=imatch.OWL$", &["barn owl"]),
        ("title=in.(red%20fox,barn%20owl)", &["barn owl", "red fox"]),
        ("rank=is.null", &["arctic fox"]),
        ("rank=not.is.null", &["barn owl", "red fox"]),
        ("rank=isdistinct.1", &["arctic fox", "barn owl"]),
        ("tags=cs.{fox}", &["arctic fox", "red fox"]),
        ("tags=cd.{owl,fox,night}", &["barn owl"]),
        ("tags=ov.{white,owl}", &["arctic fox", "barn owl"]),
        ("meta=cs.{\"ratio\":\"1:1\"}", &["arctic fox"]),
        ("meta->>ratio=eq.9:16", &["barn owl"]),
        ("meta->steps=gt.15", &["arctic fox", "red fox"]),
        ("body=fts.jumps", &["red fox"]),
        ("body=fts(english).foxes", &["arctic fox", "red fox"]),
        ("body=plfts.lazy%20dog", &["red fox"]),
        ("body=phfts(english).white%20foxes", &["arctic fox"]),
        ("body=wfts.owl%20or%20snow", &["arctic fox", "barn owl"]),
        ("title=not.like.*fox", &["barn owl"]),
        ("title=like(any).{red*,barn*}", &["barn owl", "red fox"]),
        ("title=like(all).{*o*,*fox}", &["arctic fox", "red fox"]),
        ("or=(size.lt.15,title.eq.barn%20owl)", &["barn owl", "red fox"]),
        ("or=(size.gt.25,and(tags.cs.{fox},rank.is.null))", &["arctic fox", "barn owl"]),
        ("not.or=(size.lt.15,size.gt.25)", &["arctic fox"]),
        ("and=(size.gt.5,or(title.ilike.*OWL*,rank.eq.1))", &["barn owl", "red fox"]),
    ];
    for (query, expected) in cases {
        let reply = api.get(&format!("/items?select=title&order=title&{query}"), Some(&user.token)).await;
        assert_eq!(reply.status, 200, "{query}: {}", reply.text);
        assert_eq!(titles(&reply.json()), *expected, "{query}");
    }
}

#[tokio::test]
async fn order_sorts_by_several_columns_with_nulls_placement() {
    let api = start().await;
    let (user, _, _) = library(&api).await;
    let reply = api.get("/items?select=title&order=rank.desc.nullslast,title", Some(&user.token)).await;
    assert_eq!(titles(&reply.json()), vec!["barn owl", "red fox", "arctic fox"]);
    let reply = api.get("/items?select=title&order=rank.asc.nullsfirst", Some(&user.token)).await;
    assert_eq!(titles(&reply.json()), vec!["arctic fox", "red fox", "barn owl"]);
}

#[tokio::test]
async fn limit_offset_and_range_headers_page_with_content_range() {
    let api = start().await;
    let (user, _, _) = library(&api).await;
    let reply = api.get("/items?select=title&order=title&limit=2&offset=1", Some(&user.token)).await;
    assert_eq!((reply.status, reply.header("content-range")), (200, Some("1-2/*")));
    assert_eq!(titles(&reply.json()), vec!["barn owl", "red fox"]);

    let reply = api
        .send(reqwest::Method::GET, "/items?select=title&order=title", Some(&user.token), &[("range", "0-1"), ("prefer", "count=exact")], None)
        .await;
    assert_eq!((reply.status, reply.header("content-range")), (206, Some("0-1/3")));
    assert_eq!(reply.header("preference-applied"), Some("count=exact"));

    let reply = api.send(reqwest::Method::GET, "/items?offset=5", Some(&user.token), &[("prefer", "count=exact")], None).await;
    reply.assert_error(416, "PGRST103");
    assert_eq!(reply.header("content-range"), Some("*/3"));

    api.get("/items?limit=-1", Some(&user.token)).await.assert_error(416, "PGRST103");
    let reply = api.get("/items?limit=0", Some(&user.token)).await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "[]"));

    for count in ["planned", "estimated"] {
        let reply = api
            .send(reqwest::Method::GET, "/items?select=title", Some(&user.token), &[("prefer", &format!("count={count}"))], None)
            .await;
        assert_eq!(reply.status, 200, "{count}: {}", reply.text);
        let total: i64 = reply.header("content-range").unwrap().split('/').nth(1).unwrap().parse().unwrap();
        assert!(total >= 0, "{count}");
    }
}

#[tokio::test]
async fn head_answers_headers_without_a_body() {
    let api = start().await;
    let (user, _, _) = library(&api).await;
    let reply = api.send(reqwest::Method::HEAD, "/items", Some(&user.token), &[("prefer", "count=exact")], None).await;
    assert_eq!((reply.status, reply.header("content-range"), reply.text.as_str()), (200, Some("0-2/3"), ""));
}

#[tokio::test]
async fn object_media_type_needs_exactly_one_row() {
    let api = start().await;
    let (user, _, _) = library(&api).await;
    let single = [("accept", "application/vnd.pgrst.object+json")];
    let reply = api.send(reqwest::Method::GET, "/items?select=title&title=eq.red%20fox", Some(&user.token), &single, None).await;
    assert_eq!((reply.status, reply.json()), (200, json!({"title": "red fox"})));
    assert_eq!(reply.header("content-type"), Some("application/vnd.pgrst.object+json; charset=utf-8"));

    let reply = api.send(reqwest::Method::GET, "/items?title=like.*fox", Some(&user.token), &single, None).await;
    let body = reply.assert_error(406, "PGRST116");
    assert_eq!(body["details"], "The result contains 2 rows");
    api.send(reqwest::Method::GET, "/items?title=eq.none", Some(&user.token), &single, None).await.assert_error(406, "PGRST116");

    let reply = api.send(reqwest::Method::GET, "/items", Some(&user.token), &[("accept", "application/xml")], None).await;
    reply.assert_error(406, "PGRST107");
}

#[tokio::test]
async fn csv_is_served_when_accepted() {
    let api = start().await;
    let (user, _, _) = library(&api).await;
    let reply =
        api.send(reqwest::Method::GET, "/items?select=title,size&order=title", Some(&user.token), &[("accept", "text/csv")], None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text, "title,size\n\"arctic fox\",20\n\"barn owl\",30\n\"red fox\",10");
}

#[tokio::test]
async fn embedding_follows_the_composite_key_both_ways() {
    let api = start().await;
    let (user, _, _) = library(&api).await;
    let reply = api.get("/items?select=title,collections(name)&order=title", Some(&user.token)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!([
            {"title": "arctic fox", "collections": {"name": "Foxes"}},
            {"title": "barn owl", "collections": null},
            {"title": "red fox", "collections": {"name": "Foxes"}}
        ])
    );

    let reply = api
        .get("/collections?select=name,items(title,size)&items.order=size.desc&items.size=gt.5&order=name", Some(&user.token))
        .await;
    assert_eq!(
        reply.json(),
        json!([
            {"name": "Foxes", "items": [{"title": "arctic fox", "size": 20}, {"title": "red fox", "size": 10}]},
            {"name": "Owls", "items": []}
        ])
    );

    let reply = api.get("/collections?select=name,items!inner(title)", Some(&user.token)).await;
    assert_eq!(reply.json().as_array().unwrap().len(), 1, "{}", reply.text);

    let reply = api.get("/items?select=title,c:collections(name)&c=is.null", Some(&user.token)).await;
    assert_eq!(reply.json(), json!([{"title": "barn owl", "c": null}]));

    let reply = api.get("/items?select=title,collections(name)&order=collections(name).desc.nullslast,title", Some(&user.token)).await;
    assert_eq!(titles(&reply.json()), vec!["arctic fox", "red fox", "barn owl"]);
}

#[tokio::test]
async fn embedding_another_users_rows_finds_nothing() {
    let api = start().await;
    let (user, _, _) = library(&api).await;
    let (other, _, _) = library(&api).await;
    let service = common::sign("service_role", None);
    let theirs = api.get(&format!("/collections?select=id&user_id=eq.{}", other.id), Some(&service)).await.json();
    let theirs = theirs[0]["id"].as_str().unwrap();
    // A row of the user pointing at the other's collection cannot even be written (composite key + RLS).
    let reply = api
        .post("/items", Some(&user.token), &[], &json!({"title": "sneaky", "collection_id": theirs}).to_string())
        .await;
    reply.assert_error(409, "23503");
    let reply = api.get("/collections?select=name,items(title)", Some(&user.token)).await;
    for collection in reply.json().as_array().unwrap() {
        for item in collection["items"].as_array().unwrap() {
            assert_ne!(item["title"], "sneaky");
        }
    }
}

#[tokio::test]
async fn max_rows_caps_every_read() {
    let api = common::start_with(|config| config.max_rows = Some(2)).await;
    let (user, _, _) = library(&api).await;
    let reply = api.send(reqwest::Method::GET, "/items?order=title", Some(&user.token), &[("prefer", "count=exact")], None).await;
    assert_eq!((reply.status, reply.header("content-range")), (206, Some("0-1/3")));
    assert_eq!(reply.json().as_array().unwrap().len(), 2);
}
