//! RPC: named arguments by POST and GET, set-returning functions filtered
//! like tables, void functions, a single unnamed jsonb parameter, custom
//! statuses (PTxxx, `RAISE SQLSTATE 'PGRST'`, `response.status`), the request
//! settings functions see, and the transaction mode a function's volatility picks.

mod common;

use common::start;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn named_arguments_by_post_and_get() {
    let api = start().await;
    let user = api.user().await;
    let reply = api.post("/rpc/add", Some(&user.token), &[], r#"{"a": 2, "b": 3}"#).await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "5"));
    let reply = api.get("/rpc/add?a=40", Some(&user.token)).await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "41"), "the default of b applies");
    let reply = api.send(Method::HEAD, "/rpc/add?a=1", Some(&user.token), &[], None).await;
    assert_eq!((reply.status, reply.text.as_str()), (200, ""));
}

#[tokio::test]
async fn set_returning_functions_filter_order_and_embed_like_tables() {
    let api = start().await;
    let user = api.user().await;
    let collection = api.seed(&user, "collections", json!({"name": "Birds"})).await;
    api.seed(
        &user,
        "items",
        json!([
            {"title": "wren", "size": 3, "collection_id": collection[0]["id"]},
            {"title": "crow", "size": 7, "collection_id": null},
            {"title": "hawk", "size": 9, "collection_id": null}
        ]),
    )
    .await;
    let reply = api
        .get("/rpc/my_items?min_size=2&select=title,collections(name)&size=lt.8&order=size", Some(&user.token))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json(), json!([{"title": "wren", "collections": {"name": "Birds"}}, {"title": "crow", "collections": null}]));

    let reply = api
        .send(Method::POST, "/rpc/my_items?order=size.desc&limit=1", Some(&user.token), &[("prefer", "count=exact")], Some("{}"))
        .await;
    assert_eq!((reply.status, reply.header("content-range")), (206, Some("0-0/3")));
    assert_eq!(reply.json()[0]["title"], "hawk");

    let reply = api.get("/rpc/item_titles?size=gt.5&select=title", Some(&user.token)).await;
    assert_eq!(reply.json(), json!([{"title": "crow"}, {"title": "hawk"}]));
}

#[tokio::test]
async fn void_functions_answer_204_and_custom_states_their_status() {
    let api = start().await;
    let user = api.user().await;
    let body = api.post("/rpc/not_found", Some(&user.token), &[], "{}").await.assert_error(404, "PT404");
    assert_eq!((body["message"].as_str(), body["hint"].as_str()), (Some("nothing here"), Some("look elsewhere")));

    let reply = api.post("/rpc/payment_required", Some(&user.token), &[], "").await;
    assert_eq!(reply.status, 402);
    assert_eq!(reply.header("x-powered-by"), Some("Nerd Rage"));
    assert_eq!(reply.json(), json!({"code": "123", "message": "Payment Required", "details": "Quota exceeded", "hint": null}));

    let reply = api.post("/rpc/accepted", Some(&user.token), &[], "{}").await;
    assert_eq!((reply.status, reply.header("x-custom"), reply.text.as_str()), (202, Some("yes"), "\"ok\""));

    let token = user.token.clone();
    let reply = api.post("/rpc/rename_items", Some(&token), &[], r#"{"prefix": "x"}"#).await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "0"));
}

#[tokio::test]
async fn a_single_unnamed_jsonb_parameter_takes_the_whole_body() {
    let api = start().await;
    let user = api.user().await;
    let reply = api.post("/rpc/echo", Some(&user.token), &[], r#"{"any": ["shape", 1]}"#).await;
    assert_eq!((reply.status, reply.json()), (200, json!({"any": ["shape", 1]})));
}

#[tokio::test]
async fn functions_see_the_request_as_postgrest_sets_it() {
    let api = start().await;
    let user = api.user().await;
    let reply = api
        .send(Method::GET, "/rpc/whoami", Some(&user.token), &[("x-test", "hello"), ("cookie", "flavour=oat; other=1")], None)
        .await;
    assert_eq!(
        reply.json(),
        json!({"role": "authenticated", "sub": user.id, "method": "GET", "path": "/rpc/whoami", "header": "hello", "cookie": "oat"})
    );
    let service = common::sign("service_role", None);
    assert_eq!(api.post("/rpc/whoami", Some(&service), &[], "").await.json()["role"], "service_role");
}

#[tokio::test]
async fn volatile_functions_cannot_run_through_get() {
    let api = start().await;
    let user = api.user().await;
    api.get("/rpc/rename_items?prefix=x", Some(&user.token)).await.assert_error(405, "25006");
}

#[tokio::test]
async fn unknown_functions_and_arguments_are_pgrst202() {
    let api = start().await;
    let user = api.user().await;
    let body = api.post("/rpc/nope", Some(&user.token), &[], "{}").await.assert_error(404, "PGRST202");
    assert_eq!(body["message"], "Could not find the function public.nope without parameters in the schema cache");
    let body = api.post("/rpc/add", Some(&user.token), &[], r#"{"x": 1}"#).await.assert_error(404, "PGRST202");
    assert_eq!(body["message"], "Could not find the function public.add(x) in the schema cache");
    assert_eq!(body["hint"], "Perhaps you meant to call the function public.add(a, b)");
    api.send(Method::PATCH, "/rpc/add", Some(&user.token), &[], Some("{}")).await.assert_error(405, "PGRST101");
    // anon may not execute them (no grant): 401 with Postgres' code.
    api.post("/rpc/add", None, &[], r#"{"a": 1}"#).await.assert_error(401, "42501");
}
