//! Test harness: the REST API on a real Postgres 15 (`OURVIDZ_TEST_PG`, a
//! superuser URL; `scripts/test.sh native` starts one), over HTTP.
//!
//! Each test binary gets one fresh database with the Supabase bootstrap and
//! the fixtures below: two tables joined by a composite `(id, user_id)` key as
//! the ourvidz schema joins its own, row-level security on both (a user sees
//! and changes only their rows; anon has no grant at all), and functions of
//! every shape RPC has to call (scalar, set-returning, void, single unnamed
//! jsonb, raising PTxxx, setting response headers).
#![allow(dead_code)]

use axum::Router;
use ourvidz_rest_api::{router, RestConfig};
use serde_json::Value;
use tokio::sync::OnceCell;

pub const SECRET: &[u8] = b"rest-api-test-secret-with-at-least-32-characters";

const FIXTURES: &str = r#"
create table public.collections (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    name text not null check (char_length(name) between 1 and 50),
    created_at timestamptz not null default now(),
    constraint collections_id_user_id_key unique (id, user_id)
);
comment on table public.collections is 'Named groups of items';

create table public.items (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    collection_id uuid,
    title text not null,
    body text,
    tags text[] not null default '{}',
    meta jsonb not null default '{}',
    size bigint not null default 0,
    rank integer,
    created_at timestamptz not null default now(),
    constraint items_collection_fkey foreign key (collection_id, user_id)
        references public.collections (id, user_id) on delete set null (collection_id),
    constraint items_user_id_title_key unique (user_id, title)
);

alter table public.collections enable row level security;
alter table public.items enable row level security;
revoke all on public.collections, public.items from public, anon, authenticated;
grant select, insert, update, delete on public.collections, public.items to authenticated;
grant all on public.collections, public.items to service_role;
create policy own_collections on public.collections to authenticated
    using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy own_items on public.items to authenticated
    using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));

create function public.add(a integer, b integer default 1) returns integer
    language sql immutable as 'select a + b';
create function public.my_items(min_size bigint default 0) returns setof public.items
    language sql stable as 'select * from public.items where size >= min_size';
create function public.item_titles() returns table (title text, size bigint)
    language sql stable as 'select title, size from public.items order by title';
create function public.not_found() returns void
    language plpgsql as $$ begin raise sqlstate 'PT404' using message = 'nothing here', hint = 'look elsewhere'; end $$;
create function public.echo(jsonb) returns jsonb language sql immutable as 'select $1';
create function public.rename_items(prefix text) returns integer
    language sql volatile as 'with u as (update public.items set title = prefix || title returning 1) select count(*)::int from u';
create function public.whoami() returns jsonb language sql stable as $$
    select jsonb_build_object(
        'role', current_user, 'sub', auth.uid(),
        'method', current_setting('request.method', true),
        'path', current_setting('request.path', true),
        'header', current_setting('request.headers', true)::jsonb ->> 'x-test',
        'cookie', current_setting('request.cookies', true)::jsonb ->> 'flavour')
$$;
create function public.accepted() returns text language plpgsql as $$
begin
    perform set_config('response.headers', '[{"X-Custom": "yes"}]', true);
    perform set_config('response.status', '202', true);
    return 'ok';
end
$$;
create function public.payment_required() returns void language plpgsql as $$
begin
    raise sqlstate 'PGRST' using
        message = '{"code":"123","message":"Payment Required","details":"Quota exceeded"}',
        detail = '{"status":402,"headers":{"X-Powered-By":"Nerd Rage"}}';
end
$$;
revoke execute on all functions in schema public from public;
grant execute on all functions in schema public to authenticated, service_role;
"#;

static DATABASE: OnceCell<String> = OnceCell::const_new();

pub use ourvidz_test_support::{connect, now};

/// The URL of this binary's database, created on first use.
pub async fn database() -> String {
    DATABASE
        .get_or_init(|| async {
            let admin = ourvidz_test_support::admin_url("");
            ourvidz_test_support::fresh_database(&admin, "ourvidz_rest", FIXTURES).await
        })
        .await
        .clone()
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert a PostgREST error: the status and `code`, with the four keys.
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        let body = self.json();
        assert_eq!((self.status, body["code"].as_str()), (status, Some(code)), "unexpected answer: {}", self.text);
        for key in ["message", "details", "hint"] {
            assert!(body.get(key).is_some(), "{key} missing: {body}");
        }
        body
    }
}

/// A user: their id and an access token.
pub struct User {
    pub id: String,
    pub token: String,
}

pub fn sign(role: &str, sub: Option<&str>) -> String {
    ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims(role, sub, now(), 3600), SECRET)
}

/// The REST API over HTTP on this binary's database.
pub struct Api {
    pub base: String,
    pub db_url: String,
    http: reqwest::Client,
}

pub async fn start() -> Api {
    start_with(|_| {}).await
}

pub async fn start_with(configure: impl FnOnce(&mut RestConfig)) -> Api {
    let db_url = database().await;
    let mut config = RestConfig::new(db_url.clone(), ourvidz_jwt::Verifier::hs256(SECRET));
    configure(&mut config);
    let api = router(config).await.expect("the REST API starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, Router::new().nest("/rest/v1", api)).await });
    Api { base: format!("http://{addr}/rest/v1"), db_url, http: reqwest::Client::new() }
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The database as superuser.
    pub async fn db(&self) -> tokio_postgres::Client {
        connect(&self.db_url).await
    }

    /// A new user in auth.users.
    pub async fn user(&self) -> User {
        let id = uuid::Uuid::new_v4().to_string();
        self.db()
            .await
            .execute("insert into auth.users (id, email) values ($1::text::uuid, $1 || '@example.com')", &[&id])
            .await
            .unwrap();
        let token = sign("authenticated", Some(&id));
        User { id, token }
    }

    /// Send `method path` with `token` (if any), extra headers and a body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        assert!(status < 500, "a server error for {path}: {status} {text}");
        Reply { status, headers, text }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(reqwest::Method::GET, path, token, &[], None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, headers: &[(&str, &str)], body: &str) -> Reply {
        self.send(reqwest::Method::POST, path, token, headers, Some(body)).await
    }

    /// Insert rows as `user` through the API and answer them.
    pub async fn seed(&self, user: &User, table: &str, rows: Value) -> Value {
        let reply = self
            .post(&format!("/{table}"), Some(&user.token), &[("prefer", "return=representation")], &rows.to_string())
            .await;
        assert_eq!(reply.status, 201, "seed {table}: {}", reply.text);
        reply.json()
    }
}
