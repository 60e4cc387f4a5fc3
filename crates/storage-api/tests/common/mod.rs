//! The test stack: a fresh database per test binary (from `OURVIDZ_TEST_PG`)
//! with the Supabase bootstrap, Supabase-style buckets and policies, and per
//! test a storage API served over real HTTP on a fresh directory.
//!
//! Buckets: `media` (private, 1024 bytes, `image/*` and `video/mp4`),
//! `library` (private, 2048 bytes, png/jpeg/mp4), `open` (private, no limits),
//! `showcase` (public). On the three private ones, an authenticated user may
//! select, insert, update and delete objects under the folder named after
//! their user id, as in Supabase's storage docs. Two triggers stand for
//! database refusals that only the final transaction meets: rows whose
//! `metadata.size` is 13 are refused when written (the pre-flight check has no
//! size yet), and at commit, after the file is in place, a deferred trigger
//! refuses rows of size 17, names ending in `.refused-at-commit`, and the
//! deletion of names ending in `.undeletable`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use ourvidz_storage_api::{router, StorageConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OnceCell;

pub const SECRET: &[u8] = b"storage-api-test-secret-with-at-least-32-characters";
pub const MAX_UPLOAD: u64 = 4096;
/// Short, so the tests of stalled bodies are quick.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_millis(700);

const FIXTURES: &str = r#"
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types) values
    ('media', 'media', false, 1024, array['image/*', 'video/mp4']),
    ('library', 'library', false, 2048, array['image/png', 'image/jpeg', 'video/mp4']),
    ('open', 'open', false, null, null),
    ('showcase', 'showcase', true, null, null);

create policy "own objects: select" on storage.objects for select to authenticated
    using (bucket_id in ('media', 'library', 'open') and auth.uid()::text = (storage.foldername(name))[1]);
create policy "own objects: insert" on storage.objects for insert to authenticated
    with check (bucket_id in ('media', 'library', 'open') and auth.uid()::text = (storage.foldername(name))[1]);
create policy "own objects: update" on storage.objects for update to authenticated
    using (bucket_id in ('media', 'library', 'open') and auth.uid()::text = (storage.foldername(name))[1])
    with check (bucket_id in ('media', 'library', 'open') and auth.uid()::text = (storage.foldername(name))[1]);
create policy "own objects: delete" on storage.objects for delete to authenticated
    using (bucket_id in ('media', 'library', 'open') and auth.uid()::text = (storage.foldername(name))[1]);

create function public.refuse_thirteen_byte_objects() returns trigger language plpgsql as $$
begin
    if (new.metadata ->> 'size')::bigint = 13 then
        raise exception 'thirteen-byte objects are refused';
    end if;
    return new;
end
$$;
create trigger refuse_thirteen_byte_objects before insert or update on storage.objects
    for each row execute function public.refuse_thirteen_byte_objects();

create function public.refuse_at_commit() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        if old.name like '%.undeletable' then
            raise exception 'this deletion is refused at commit';
        end if;
    elsif (new.metadata ->> 'size')::bigint = 17 or new.name like '%.refused-at-commit' then
        raise exception 'this write is refused at commit';
    end if;
    return null;
end
$$;
create constraint trigger refuse_at_commit after insert or update or delete on storage.objects
    deferrable initially deferred for each row execute function public.refuse_at_commit();
"#;

static DATABASE: OnceCell<String> = OnceCell::const_new();

pub use ourvidz_test_support::{connect, now};

/// The URL of this binary's database, created on first use.
pub async fn database() -> String {
    DATABASE
        .get_or_init(|| async {
            let admin = ourvidz_test_support::admin_url("");
            ourvidz_test_support::fresh_database(&admin, "ourvidz_storage", FIXTURES).await
        })
        .await
        .clone()
}

/// Whether `check` holds within 5 seconds, polling every 20 ms.
pub async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..250 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// A user: their id and an access token.
pub struct User {
    pub id: String,
    pub token: String,
}

pub fn user() -> User {
    let id = uuid::Uuid::new_v4().to_string();
    let token = ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("authenticated", Some(&id), now(), 3600), SECRET);
    User { id, token }
}

/// The project's ES256 signing key (a throwaway test key of the JWT crate).
pub fn es256_key() -> ourvidz_jwt::SigningKey {
    ourvidz_jwt::SigningKey::es256_pem(include_bytes!("../../../jwt/tests/keys/es256-a.pem")).expect("test key")
}

/// The JWKS the test stacks verify asymmetric tokens with.
pub fn jwks() -> String {
    serde_json::json!({"keys": [es256_key().public_jwk()]}).to_string()
}

/// A user whose access token is signed with ES256 by the project's key.
pub fn es256_user() -> User {
    let id = uuid::Uuid::new_v4().to_string();
    let token = es256_key().sign(&ourvidz_jwt::access_token_claims("authenticated", Some(&id), now(), 3600));
    User { id, token }
}

pub fn service_token() -> String {
    ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("service_role", None, now(), 3600), SECRET)
}

pub fn anon_token() -> String {
    ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("anon", None, now(), 3600), SECRET)
}

/// An HTTP answer.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert a supabase-shaped error: HTTP `http`, body `statusCode`/`code`.
    pub fn assert_error(&self, http: u16, status_code: &str, code: &str) -> Value {
        let body = self.json();
        assert_eq!(
            (self.status, body["statusCode"].as_str(), body["code"].as_str()),
            (http, Some(status_code), Some(code)),
            "unexpected answer: {body}"
        );
        assert!(body["error"].is_string() && body["message"].is_string(), "{body}");
        body
    }
}

/// One storage API over HTTP, on its own directory.
pub struct Stack {
    pub addr: std::net::SocketAddr,
    pub base: String,
    pub dir: tempfile::TempDir,
    pub db_url: String,
    http: reqwest::Client,
}

pub async fn start() -> Stack {
    let db_url = database().await;
    let dir = tempfile::tempdir().unwrap();
    let api = router(StorageConfig {
        root: dir.path().join("root"),
        database_url: db_url.clone(),
        verifier: ourvidz_jwt::Verifier::hs256(SECRET).with_jwks(&jwks()).expect("the test JWKS loads"),
        jwt_secret: SECRET.to_vec(),
        max_upload_bytes: MAX_UPLOAD,
        body_idle_timeout: BODY_IDLE_TIMEOUT,
    })
    .await
    .expect("storage api starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, Router::new().nest("/storage/v1", api)).await });
    Stack { addr, base: format!("http://{addr}/storage/v1"), dir, db_url, http: reqwest::Client::new() }
}

impl Stack {
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder, token: Option<&str>) -> Reply {
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.expect("request is answered");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("body").to_vec();
        Reply { status, headers, body }
    }

    pub async fn upload(&self, token: &str, bucket: &str, name: &str, mime: &str, body: &[u8], upsert: bool) -> Reply {
        let mut request = self.http.post(self.url(&format!("/object/{bucket}/{name}"))).header("content-type", mime);
        if upsert {
            request = request.header("x-upsert", "true");
        }
        self.send(request.body(body.to_vec()), Some(token)).await
    }

    pub async fn send_upload_with_cache_control(
        &self,
        token: &str,
        bucket: &str,
        name: &str,
        mime: &str,
        body: &[u8],
        cache_control: &str,
    ) -> Reply {
        let request = self
            .http
            .post(self.url(&format!("/object/{bucket}/{name}")))
            .header("content-type", mime)
            .header("cache-control", cache_control);
        self.send(request.body(body.to_vec()), Some(token)).await
    }

    /// Send `form` as `multipart/form-data` with `method` (POST or PUT), and `x-upsert: true` if `upsert`.
    pub async fn upload_form(
        &self,
        method: reqwest::Method,
        token: &str,
        bucket: &str,
        name: &str,
        form: reqwest::multipart::Form,
        upsert: bool,
    ) -> Reply {
        let mut request = self.http.request(method, self.url(&format!("/object/{bucket}/{name}"))).multipart(form);
        if upsert {
            request = request.header("x-upsert", "true");
        }
        self.send(request, Some(token)).await
    }

    pub async fn put(&self, token: &str, bucket: &str, name: &str, mime: &str, body: &[u8]) -> Reply {
        let request = self.http.put(self.url(&format!("/object/{bucket}/{name}"))).header("content-type", mime);
        self.send(request.body(body.to_vec()), Some(token)).await
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> Reply {
        self.send(self.http.get(self.url(path)), token).await
    }

    pub async fn head(&self, token: Option<&str>, path: &str) -> Reply {
        self.send(self.http.head(self.url(path)), token).await
    }

    pub async fn post_json(&self, token: Option<&str>, path: &str, body: Value) -> Reply {
        self.send(self.http.post(self.url(path)).json(&body), token).await
    }

    pub async fn post_json_with(&self, token: &str, path: &str, body: Value, header: (&str, &str)) -> Reply {
        self.send(self.http.post(self.url(path)).header(header.0, header.1).json(&body), Some(token)).await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Reply {
        self.send(self.http.delete(self.url(path)), Some(token)).await
    }

    pub async fn delete_json(&self, token: &str, path: &str, body: Value) -> Reply {
        self.send(self.http.delete(self.url(path)).json(&body), Some(token)).await
    }

    /// Send `head` (request line and headers, without the final blank line)
    /// and `body` byte for byte, bypassing URL normalisation: how a hostile
    /// client sends `..` segments.
    pub async fn raw(&self, head: &str, body: &[u8]) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let request = format!("{head}\r\nhost: {}\r\nconnection: close\r\n\r\n", self.addr);
        stream.write_all(request.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, text)
    }

    /// Send `head` (as for [`Stack::raw`]) and the start of a longer `body`,
    /// then hang up once `ready` holds: a client that disconnects mid-upload.
    /// Whether `ready` held before the wait ran out.
    pub async fn hang_up_when(&self, head: &str, body: &[u8], ready: impl FnMut() -> bool) -> bool {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let request = format!("{head}\r\nhost: {}\r\n\r\n", self.addr);
        stream.write_all(request.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        stream.flush().await.unwrap();
        eventually(ready).await
    }

    /// The database as superuser.
    pub async fn db(&self) -> tokio_postgres::Client {
        connect(&self.db_url).await
    }

    /// How many rows `storage.objects` has for `bucket`/`name`.
    pub async fn rows(&self, bucket: &str, name: &str) -> i64 {
        self.db()
            .await
            .query_one("select count(*) from storage.objects where bucket_id = $1 and name = $2", &[&bucket, &name])
            .await
            .unwrap()
            .get(0)
    }

    /// The object row as JSON, read as superuser.
    pub async fn row(&self, bucket: &str, name: &str) -> Option<Value> {
        self.db()
            .await
            .query_opt(
                "select to_jsonb(o) from storage.objects o where bucket_id = $1 and name = $2",
                &[&bucket, &name],
            )
            .await
            .unwrap()
            .map(|row| row.get(0))
    }

    /// Content of an object's file, if it exists.
    pub fn file(&self, bucket: &str, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root().join(bucket).join(name)).ok()
    }

    /// Every file under the test directory (root, temp area and beyond), relative to it.
    pub fn all_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else {
                    out.push(path.strip_prefix(base).unwrap().to_owned());
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out.sort();
        out
    }

    /// Files in the temp area (uploads in flight, backups, trash).
    pub fn temp_files(&self) -> Vec<PathBuf> {
        self.all_files().into_iter().filter(|p| p.starts_with("root/.tmp")).collect()
    }
}
