//! The rest of the surface: bad requests answered with PostgREST's 4xx
//! bodies, tokens, unknown names, the schema cache reloading on `NOTIFY
//! pgrst`, OPTIONS, and the OpenAPI description following privileges.

mod common;

use common::start;
use reqwest::Method;

#[tokio::test]
async fn bad_requests_get_postgrests_4xx_json() {
    let api = start().await;
    let user = api.user().await;
    let token = Some(user.token.as_str());
    let cases: &[(&str, u16, &str)] = &[
        ("/items?select=nope", 400, "42703"),
        ("/items?nope=eq.1", 400, "42703"),
        ("/items?order=nope", 400, "42703"),
        ("/items?select=title::nosuchtype", 400, "42704"),
        ("/nope", 404, "42P01"),
        ("/items?id=noop.1", 400, "PGRST100"),
        ("/items?or=(title.eq.a", 400, "PGRST100"),
        ("/items?or=title.eq.a)", 400, "PGRST100"),
        ("/items?select=title,collections(name", 400, "PGRST100"),
        ("/items?order=title.sideways", 400, "PGRST100"),
        ("/items?id=eq.not-a-uuid", 400, "22P02"),
        ("/items?size=gt.huge", 400, "22P02"),
        ("/items?select=title,nope(name)", 400, "PGRST200"),
        ("/items?nope.title=eq.1", 400, "PGRST108"),
        ("/items?select=title,count()", 400, "PGRST123"),
        ("/items?select=title,collections(name)&order=nope(name)", 400, "PGRST108"),
        ("/collections?select=name,items(title)&order=items(title)", 400, "PGRST118"),
    ];
    for (path, status, code) in cases {
        let reply = api.get(path, token).await;
        assert_eq!(reply.header("content-type"), Some("application/json; charset=utf-8"), "{path}");
        reply.assert_error(*status, code);
    }
    let body = api.get("/items?select=nope", token).await.json();
    assert_eq!(body["message"], "column items.nope does not exist");
    let body = api.get("/nope", token).await.json();
    assert_eq!(body["message"], "relation \"public.nope\" does not exist");

    let reply = api.send(Method::PUT, "/items", token, &[], Some("{}")).await;
    reply.assert_error(405, "PGRST117");
    let reply = api.get("/a/b/c", token).await;
    assert_eq!((reply.status, reply.text.as_str()), (404, "{}"));
    let reply = api.send(Method::GET, "/items", token, &[("prefer", "handling=strict, nonsense")], None).await;
    reply.assert_error(400, "PGRST122");
}

#[tokio::test]
async fn tokens_that_do_not_verify_are_pgrst301() {
    let api = start().await;
    let reply = api.get("/items", Some("not-a-jwt")).await;
    reply.assert_error(401, "PGRST301");
    assert!(reply.header("www-authenticate").unwrap().starts_with("Bearer error=\"invalid_token\""));
    let forged = ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("service_role", None, common::now(), 60), b"another-secret");
    api.get("/items", Some(&forged)).await.assert_error(401, "PGRST301");
    let expired = ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("authenticated", Some("u"), common::now() - 7200, 60), common::SECRET);
    let body = api.get("/items", Some(&expired)).await.assert_error(401, "PGRST301");
    assert_eq!(body["message"], "JWT expired");
    let superuser = common::sign("postgres", None);
    api.get("/items", Some(&superuser)).await.assert_error(403, "42501");
    // The apikey header alone is the token.
    let service = common::sign("service_role", None);
    let reply = api.send(Method::GET, "/items", None, &[("apikey", &service)], None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn the_schema_cache_reloads_on_notify_pgrst() {
    let api = start().await;
    let service = common::sign("service_role", None);
    api.get("/later", Some(&service)).await.assert_error(404, "42P01");
    let db = api.db().await;
    db.batch_execute("create table public.later (id int primary key, note text); grant all on public.later to service_role; insert into public.later values (1, 'hi')")
        .await
        .unwrap();
    db.batch_execute("notify pgrst, 'reload schema'").await.unwrap();
    let mut last = None;
    for _ in 0..100 {
        let reply = api.get("/later?select=note", Some(&service)).await;
        if reply.status == 200 {
            assert_eq!(reply.text, r#"[{"note":"hi"}]"#);
            return;
        }
        last = Some(reply.text);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the new table never became visible: {last:?}");
}

#[tokio::test]
async fn options_lists_the_methods() {
    let api = start().await;
    let reply = api.send(Method::OPTIONS, "/items", None, &[], None).await;
    assert_eq!((reply.status, reply.header("allow")), (200, Some("OPTIONS,GET,HEAD,POST,PATCH,DELETE")));
    let reply = api.send(Method::OPTIONS, "/rpc/add?a=1", None, &[], None).await;
    assert_eq!(reply.header("allow"), Some("OPTIONS,GET,HEAD,POST"));
}

#[tokio::test]
async fn openapi_lists_what_the_role_may_use() {
    let api = start().await;
    let service = common::sign("service_role", None);
    // Nested at /rest/v1, the root route is `/rest/v1` itself.
    let reply = api.get("", Some(&service)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/openapi+json; charset=utf-8"));
    let doc = reply.json();
    assert_eq!(doc["swagger"], "2.0");
    assert!(doc["paths"]["/items"]["get"].is_object());
    assert!(doc["paths"]["/rpc/add"]["get"].is_object(), "immutable functions can be called by GET");
    assert!(doc["paths"]["/rpc/rename_items"]["get"].is_null(), "volatile functions only by POST");
    assert_eq!(doc["definitions"]["items"]["properties"]["tags"]["type"], "array");
    assert!(doc["definitions"]["items"]["properties"]["id"]["description"].as_str().unwrap().contains("Primary Key"));
    assert_eq!(doc["definitions"]["collections"]["description"], "Named groups of items");

    let anon = api.get("", None).await.json();
    assert!(anon["paths"]["/items"].is_null(), "anon has no grant on items");
}

#[tokio::test]
async fn profile_headers_name_the_exposed_schema_only() {
    let api = start().await;
    let service = common::sign("service_role", None);
    let reply = api.send(Method::GET, "/items", Some(&service), &[("accept-profile", "public")], None).await;
    assert_eq!((reply.status, reply.header("content-profile")), (200, Some("public")));
    let body = api.send(Method::GET, "/items", Some(&service), &[("accept-profile", "auth")], None).await.assert_error(406, "PGRST106");
    assert_eq!(body["message"], "The schema must be one of the following: public");
    let reply = api.post("/items", Some(&service), &[("content-profile", "storage")], "{}").await;
    reply.assert_error(406, "PGRST106");
}

#[tokio::test]
async fn browsers_get_postgrests_cors_answers() {
    let api = start().await;
    let preflight = [
        ("origin", "http://app.example"),
        ("access-control-request-method", "PATCH"),
        ("access-control-request-headers", "apikey, content-type, prefer"),
    ];
    let reply = api.send(Method::OPTIONS, "/items", None, &preflight, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(reply.header("access-control-allow-methods"), Some("GET, POST, PATCH, PUT, DELETE, OPTIONS"));
    assert_eq!(reply.header("access-control-allow-headers"), Some("Authorization, apikey, content-type, prefer"));
    let reply = api.send(Method::GET, "/items", None, &[("origin", "http://app.example")], None).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert!(reply.header("access-control-expose-headers").unwrap().contains("Content-Range"));
}
