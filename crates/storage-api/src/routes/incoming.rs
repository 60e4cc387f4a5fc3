//! What an upload request carries — the file's bytes, its mime type and its
//! caching — read from a raw body or from a `multipart/form-data` form, as
//! supabase's `fileUploadFromRequest` (`src/storage/uploader.ts`) reads them.
//!
//! A raw body is the file: `content-type` is its mime type
//! (`application/octet-stream` when absent), `cache-control` its caching
//! (`no-cache` when absent), and `content-length` its size, trusted for an
//! early refusal. A form (what storage-js sends for a `Blob` or `File`) is read
//! as `@fastify/multipart`'s `request.file()` with supabase's limits reads it:
//! the fields before the first file part (at most [`FIELDS_LIMIT`], values cut
//! at [`FIELD_VALUE_BYTES`]) give `cacheControl` (stored as `max-age=<value>`)
//! and `contentType` (overriding the part's own type); the first file part —
//! one with a `filename`, or typed `application/octet-stream`, whatever its
//! field name (storage-js sends `""`) — is the content, typed by its
//! `content-type` without parameters, `text/plain` when it has none. Nothing
//! after that part is read, and a form's `content-length` says nothing about
//! the file's size. Only the part's headers and the fields before it are held
//! in memory; its bytes are streamed like a raw body's.

use axum::body::Body;
use axum::http::{header as h, HeaderMap};
use bytes::Bytes;
use futures_util::future::Either;
use futures_util::{Stream, StreamExt};

use super::header;
use crate::error::StorageError;
use crate::extract::reject_nul;

/// Non-file fields a form may carry before its file (supabase's `limits.fields`).
const FIELDS_LIMIT: usize = 10;
/// What is kept of a field's value (busboy's default `fieldSize`); the rest is skipped.
const FIELD_VALUE_BYTES: usize = 1 << 20;
/// How much larger than its file a form may be: room for every field at full
/// size and as much again for boundaries and part headers. It bounds what the
/// parser may buffer while it looks for a boundary or the end of a header.
const FORM_ENVELOPE_BYTES: u64 = (FIELDS_LIMIT as u64 + 1) * FIELD_VALUE_BYTES as u64;

/// An upload's content and what describes it.
pub struct Incoming {
    pub mimetype: String,
    pub cache_control: String,
    /// The request's `content-length`, form envelope included: the
    /// `contentLength` supabase shows row-level security before the upload.
    pub declared_length: Option<u64>,
    pub content: Content,
}

/// Where the file's bytes come from.
pub enum Content {
    Raw(Body),
    Form(Box<multer::Field<'static>>),
}

impl Incoming {
    /// Read what describes the upload; for a form, read up to its file part,
    /// expecting a file of at most `limit` bytes.
    pub async fn read(headers: &HeaderMap, body: Body, limit: u64) -> Result<Self, StorageError> {
        let declared_length = header(headers, h::CONTENT_LENGTH).and_then(|len| len.parse::<u64>().ok());
        let content_type = header(headers, h::CONTENT_TYPE);
        // supabase tests the prefix exactly as sent.
        let Some(form_type) = content_type.filter(|value| value.starts_with("multipart/form-data")) else {
            return Ok(Incoming {
                mimetype: content_type.unwrap_or("application/octet-stream").to_owned(),
                cache_control: header(headers, h::CACHE_CONTROL).unwrap_or("no-cache").to_owned(),
                declared_length,
                content: Content::Raw(body),
            });
        };
        let (file, part_type, fields) = first_file(form_type, body, limit).await?;
        let mimetype = fields.content_type.single().filter(|value| !value.is_empty()).map_or(part_type, str::to_owned);
        let cache_control = match fields.cache_control.single() {
            Some(seconds) if !seconds.is_empty() => format!("max-age={seconds}"),
            _ => "no-cache".to_owned(),
        };
        reject_nul(&mimetype, "contentType")?;
        reject_nul(&cache_control, "cacheControl")?;
        Ok(Incoming { mimetype, cache_control, declared_length, content: Content::Form(Box::new(file)) })
    }

    /// The file's size when the request tells it before a byte is read: a raw
    /// body's `content-length`; a form's also counts the envelope.
    pub fn known_size(&self) -> Option<u64> {
        match self.content {
            Content::Raw(_) => self.declared_length,
            Content::Form(_) => None,
        }
    }
}

impl Content {
    /// The file's bytes, with stream failures as the client's errors.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, StorageError>> + Send {
        match self {
            Content::Raw(body) => Either::Left(
                body.into_data_stream().map(|chunk| chunk.map_err(|err| StorageError::unreadable_body(&err))),
            ),
            Content::Form(file) => Either::Right(file.map(|chunk| chunk.map_err(form_error))),
        }
    }
}

/// A form that cannot be read is the client's fault (supabase answers them all
/// with `InvalidRequest`), except one larger than the limits allow.
fn form_error(err: multer::Error) -> StorageError {
    match err {
        multer::Error::StreamReadFailed(cause) => StorageError::unreadable_body(cause.as_ref()),
        multer::Error::StreamSizeExceeded { .. } => StorageError::EntityTooLarge,
        other => StorageError::InvalidRequest(format!("Malformed multipart body: {other}")),
    }
}

/// The fields supabase reads from a form.
#[derive(Default)]
struct FormFields {
    cache_control: FieldValue,
    content_type: FieldValue,
}

/// A field as `@fastify/multipart` shows it: a field sent twice becomes an
/// array, whose `.value` supabase reads as absent.
#[derive(Default)]
enum FieldValue {
    #[default]
    Absent,
    Once(String),
    Repeated,
}

impl FieldValue {
    fn add(&mut self, value: String) {
        *self = match self {
            FieldValue::Absent => FieldValue::Once(value),
            _ => FieldValue::Repeated,
        };
    }

    fn single(&self) -> Option<&str> {
        match self {
            FieldValue::Once(value) => Some(value),
            _ => None,
        }
    }
}

/// Read a form up to its first file part: that part, its mime type, and the fields before it.
async fn first_file(
    content_type: &str,
    body: Body,
    limit: u64,
) -> Result<(multer::Field<'static>, String, FormFields), StorageError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| StorageError::InvalidRequest("Multipart: Boundary not found".into()))?;
    let size = multer::SizeLimit::new().whole_stream(limit.saturating_add(FORM_ENVELOPE_BYTES));
    let mut form = multer::Multipart::with_constraints(
        body.into_data_stream(),
        boundary,
        multer::Constraints::new().size_limit(size),
    );
    let mut fields = FormFields::default();
    let mut field_count = 0;
    while let Some(mut part) = form.next_field().await.map_err(form_error)? {
        if !is_form_data(part.headers()) {
            continue;
        }
        let mimetype = part_mimetype(part.headers());
        if part.file_name().is_some() || mimetype == "application/octet-stream" {
            return Ok((part, mimetype, fields));
        }
        field_count += 1;
        if field_count > FIELDS_LIMIT {
            return Err(StorageError::InvalidRequest("Reach fields limit".into()));
        }
        let slot = match part.name() {
            Some("cacheControl") => &mut fields.cache_control,
            Some("contentType") => &mut fields.content_type,
            _ => continue,
        };
        slot.add(field_value(&mut part).await?);
    }
    Err(StorageError::InvalidRequest("No content provided".into()))
}

/// busboy skips parts that do not say `Content-Disposition: form-data`.
fn is_form_data(headers: &HeaderMap) -> bool {
    header(headers, h::CONTENT_DISPOSITION)
        .and_then(|value| value.split(';').next())
        .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("form-data"))
}

/// A part's mime type as busboy reports it: `type/subtype` lowercased without
/// parameters, `text/plain` when the part has none.
fn part_mimetype(headers: &HeaderMap) -> String {
    header(headers, h::CONTENT_TYPE)
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .filter(|essence| !essence.is_empty())
        .map_or_else(|| "text/plain".to_owned(), str::to_ascii_lowercase)
}

/// A field's value as text, cut at [`FIELD_VALUE_BYTES`]; the rest is read and dropped.
async fn field_value(part: &mut multer::Field<'static>) -> Result<String, StorageError> {
    let mut value = Vec::new();
    while let Some(chunk) = part.chunk().await.map_err(form_error)? {
        let room = FIELD_VALUE_BYTES - value.len();
        value.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(String::from_utf8_lossy(&value).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDARY: &str = "XyZ";

    fn form_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(h::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}").parse().unwrap());
        headers
    }

    /// A form of `(part headers, value)`, closed unless `open`.
    fn form(parts: &[(&str, &[u8])], open: bool) -> Body {
        let mut body = Vec::new();
        for (headers, value) in parts {
            body.extend_from_slice(format!("--{BOUNDARY}\r\n{headers}\r\n\r\n").as_bytes());
            body.extend_from_slice(value);
            body.extend_from_slice(b"\r\n");
        }
        if !open {
            body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        }
        Body::from(body)
    }

    fn field(name: &str) -> String {
        format!("content-disposition: form-data; name=\"{name}\"")
    }

    async fn read(parts: &[(&str, &[u8])]) -> Result<Incoming, StorageError> {
        Incoming::read(&form_headers(), form(parts, false), 100).await
    }

    async fn content(incoming: Incoming) -> Result<Vec<u8>, StorageError> {
        let mut stream = std::pin::pin!(incoming.content.into_stream());
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        Ok(bytes)
    }

    fn message(err: StorageError) -> String {
        match err {
            StorageError::InvalidRequest(message) => message,
            other => panic!("not an InvalidRequest: {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_first_file_part_is_the_content_with_the_fields_before_it() {
        let cache = field("cacheControl");
        let file = "content-disposition: form-data; name=\"\"; filename=\"blob\"\r\ncontent-type: Image/PNG; x=1";
        let late = field("contentType");
        let second = "content-disposition: form-data; name=\"b\"; filename=\"b\"";
        let incoming = read(&[(&cache, b"3600"), (file, b"\x89PNG\r\n--XyQ"), (&late, b"text/html"), (second, b"b")])
            .await
            .unwrap();
        assert_eq!(incoming.mimetype, "image/png");
        assert_eq!(incoming.cache_control, "max-age=3600");
        assert_eq!(incoming.known_size(), None);
        assert_eq!(content(incoming).await.unwrap(), b"\x89PNG\r\n--XyQ");
    }

    #[tokio::test]
    async fn the_content_type_field_overrides_and_an_untyped_file_is_text_plain() {
        let file = "content-disposition: form-data; name=\"file\"; filename=\"a.bin\"";
        let untyped = read(&[(file, b"a")]).await.unwrap();
        assert_eq!((untyped.mimetype.as_str(), untyped.cache_control.as_str()), ("text/plain", "no-cache"));
        let typed = read(&[(&field("contentType"), b"video/mp4"), (file, b"a")]).await.unwrap();
        assert_eq!(typed.mimetype, "video/mp4");
        let empty = read(&[(&field("contentType"), b""), (&field("cacheControl"), b""), (file, b"a")]).await.unwrap();
        assert_eq!((empty.mimetype.as_str(), empty.cache_control.as_str()), ("text/plain", "no-cache"));
    }

    #[tokio::test]
    async fn an_octet_stream_part_is_a_file_even_without_a_filename() {
        let part = "content-disposition: form-data; name=\"data\"\r\ncontent-type: application/octet-stream";
        let incoming = read(&[(&field("other"), b"x"), (part, b"raw")]).await.unwrap();
        assert_eq!(incoming.mimetype, "application/octet-stream");
        assert_eq!(content(incoming).await.unwrap(), b"raw");
    }

    #[tokio::test]
    async fn a_repeated_field_counts_as_absent() {
        let cache = field("cacheControl");
        let file = "content-disposition: form-data; name=\"\"; filename=\"f\"";
        let incoming = read(&[(&cache, b"60"), (&cache, b"120"), (file, b"a")]).await.unwrap();
        assert_eq!(incoming.cache_control, "no-cache");
    }

    #[tokio::test]
    async fn parts_that_are_not_form_data_are_skipped() {
        let attachment = "content-disposition: attachment; filename=\"x\"";
        let file = "content-disposition: form-data; name=\"\"; filename=\"f\"";
        let incoming = read(&[("content-type: image/png", b"no disposition"), (attachment, b"x"), (file, b"a")])
            .await
            .unwrap();
        assert_eq!(content(incoming).await.unwrap(), b"a");
    }

    #[tokio::test]
    async fn long_field_values_are_cut() {
        let long = vec![b'7'; FIELD_VALUE_BYTES + 10];
        let file = "content-disposition: form-data; name=\"\"; filename=\"f\"";
        let parts: [(&str, &[u8]); 2] = [(&field("cacheControl"), &long), (file, b"a")];
        let incoming = Incoming::read(&form_headers(), form(&parts, false), 0).await.unwrap();
        assert_eq!(incoming.cache_control.len(), "max-age=".len() + FIELD_VALUE_BYTES);
    }

    #[tokio::test]
    async fn a_form_without_a_file_or_with_too_many_fields_is_refused() {
        let cache = field("cacheControl");
        assert_eq!(message(read(&[(&cache, b"1")]).await.err().unwrap()), "No content provided");
        assert_eq!(message(read(&[]).await.err().unwrap()), "No content provided");
        let file = "content-disposition: form-data; name=\"\"; filename=\"f\"";
        let mut parts: Vec<(&str, &[u8])> = vec![(&cache, b"1"); FIELDS_LIMIT];
        parts.push((file, b"a"));
        assert!(read(&parts).await.is_ok());
        parts.insert(0, (&cache, b"1"));
        assert_eq!(message(read(&parts).await.err().unwrap()), "Reach fields limit");
    }

    #[tokio::test]
    async fn broken_forms_are_invalid_requests() {
        let mut no_boundary = HeaderMap::new();
        no_boundary.insert(h::CONTENT_TYPE, "multipart/form-data".parse().unwrap());
        let err = Incoming::read(&no_boundary, Body::from("x"), 10).await.err().unwrap();
        assert_eq!(message(err), "Multipart: Boundary not found");
        let err = Incoming::read(&form_headers(), Body::from("no boundary in here"), 10).await.err().unwrap();
        assert!(message(err).starts_with("Malformed multipart body"));

        let file = "content-disposition: form-data; name=\"\"; filename=\"f\"";
        let truncated = Incoming::read(&form_headers(), form(&[(file, b"abc")], true), 10).await.unwrap();
        assert!(message(content(truncated).await.err().unwrap()).starts_with("Malformed multipart body"));
    }

    #[tokio::test]
    async fn a_form_far_larger_than_its_limit_is_too_large() {
        let garbage = vec![b'x'; FORM_ENVELOPE_BYTES as usize + 100];
        let err = Incoming::read(&form_headers(), Body::from(garbage), 10).await.err().unwrap();
        assert!(matches!(err, StorageError::EntityTooLarge), "{err:?}");
    }

    #[tokio::test]
    async fn a_raw_body_is_the_file_described_by_the_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(h::CONTENT_LENGTH, "3".parse().unwrap());
        headers.insert(h::CACHE_CONTROL, "max-age=5".parse().unwrap());
        let incoming = Incoming::read(&headers, Body::from("raw"), 10).await.unwrap();
        assert_eq!(
            (incoming.mimetype.as_str(), incoming.cache_control.as_str(), incoming.known_size()),
            ("application/octet-stream", "max-age=5", Some(3))
        );
        // Only a lowercase `multipart/form-data` prefix makes a form, as in supabase.
        headers.insert(h::CONTENT_TYPE, "Multipart/Form-Data; boundary=x".parse().unwrap());
        let incoming = Incoming::read(&headers, Body::from("raw"), 10).await.unwrap();
        assert_eq!(incoming.mimetype, "Multipart/Form-Data; boundary=x");
        assert_eq!(content(incoming).await.unwrap(), b"raw");
    }
}
