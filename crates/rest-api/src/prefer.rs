//! Request headers that shape the answer: `Prefer` (PostgREST's
//! `ApiRequest/Preferences.hs`) and the media types of `Accept` and
//! `Content-Type` (`MediaType.hs`).

use axum::http::{header, HeaderMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Full,
    HeadersOnly,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Exact,
    Planned,
    Estimated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Default,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    Strict,
    Lenient,
}

/// The `Prefer` header values PostgREST 12 knows; the first of each kind wins.
#[derive(Debug, Clone, Default)]
pub struct Preferences {
    pub resolution: Option<Resolution>,
    pub representation: Option<Representation>,
    pub single_object: bool,
    pub count: Option<Count>,
    pub missing: Option<Missing>,
    pub handling: Option<Handling>,
    pub max_affected: Option<i64>,
    /// Values no kind took (with `handling=strict` they are an error).
    pub invalid: Vec<String>,
}

impl Preferences {
    pub fn from_headers(headers: &HeaderMap) -> Preferences {
        let mut prefs = Preferences::default();
        let values = headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty());
        for value in values {
            let taken = match value {
                "resolution=merge-duplicates" => set(&mut prefs.resolution, Resolution::MergeDuplicates),
                "resolution=ignore-duplicates" => set(&mut prefs.resolution, Resolution::IgnoreDuplicates),
                "return=representation" => set(&mut prefs.representation, Representation::Full),
                "return=minimal" => set(&mut prefs.representation, Representation::None),
                "return=headers-only" => set(&mut prefs.representation, Representation::HeadersOnly),
                "params=single-object" => {
                    prefs.single_object = true;
                    true
                }
                "count=exact" => set(&mut prefs.count, Count::Exact),
                "count=planned" => set(&mut prefs.count, Count::Planned),
                "count=estimated" => set(&mut prefs.count, Count::Estimated),
                "missing=default" => set(&mut prefs.missing, Missing::Default),
                "missing=null" => set(&mut prefs.missing, Missing::Null),
                "handling=strict" => set(&mut prefs.handling, Handling::Strict),
                "handling=lenient" => set(&mut prefs.handling, Handling::Lenient),
                // tx=commit|rollback are accepted values that this server never applies
                // (PostgREST's default db-tx-end = commit ignores them too).
                "tx=commit" | "tx=rollback" => true,
                other => match other.strip_prefix("max-affected=").map(str::parse::<i64>) {
                    Some(Ok(n)) => {
                        prefs.max_affected.get_or_insert(n);
                        true
                    }
                    _ => false,
                },
            };
            if !taken && !value.starts_with("max-affected=") {
                prefs.invalid.push(value.to_owned());
            }
        }
        prefs
    }

    /// Whether the answer needs the total count of rows.
    pub fn counts(&self) -> bool {
        matches!(self.count, Some(Count::Exact) | Some(Count::Estimated))
    }

    /// `Preference-Applied`: the given kinds that were requested, in PostgREST's order.
    pub fn applied(&self, kinds: &[Kind]) -> Option<String> {
        let mut out = Vec::new();
        for kind in [Kind::Resolution, Kind::Missing, Kind::Representation, Kind::Params, Kind::Count, Kind::Handling, Kind::MaxAffected] {
            if !kinds.contains(&kind) {
                continue;
            }
            let value = match kind {
                Kind::Resolution => self.resolution.map(|r| match r {
                    Resolution::MergeDuplicates => "resolution=merge-duplicates".to_owned(),
                    Resolution::IgnoreDuplicates => "resolution=ignore-duplicates".to_owned(),
                }),
                Kind::Missing => self.missing.map(|m| match m {
                    Missing::Default => "missing=default".to_owned(),
                    Missing::Null => "missing=null".to_owned(),
                }),
                Kind::Representation => self.representation.map(|r| match r {
                    Representation::Full => "return=representation".to_owned(),
                    Representation::None => "return=minimal".to_owned(),
                    Representation::HeadersOnly => "return=headers-only".to_owned(),
                }),
                Kind::Params => self.single_object.then(|| "params=single-object".to_owned()),
                Kind::Count => self.count.map(|c| match c {
                    Count::Exact => "count=exact".to_owned(),
                    Count::Planned => "count=planned".to_owned(),
                    Count::Estimated => "count=estimated".to_owned(),
                }),
                Kind::Handling => self.handling.map(|h| match h {
                    Handling::Strict => "handling=strict".to_owned(),
                    Handling::Lenient => "handling=lenient".to_owned(),
                }),
                Kind::MaxAffected => {
                    if self.handling == Some(Handling::Strict) {
                        self.max_affected.map(|n| format!("max-affected={n}"))
                    } else {
                        None
                    }
                }
            };
            out.extend(value);
        }
        (!out.is_empty()).then(|| out.join(", "))
    }
}

/// The kinds of preference an answer may report as applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Resolution,
    Missing,
    Representation,
    Params,
    Count,
    Handling,
    MaxAffected,
}

fn set<T>(slot: &mut Option<T>, value: T) -> bool {
    if slot.is_none() {
        *slot = Some(value);
    }
    true
}

/// The media types this API can answer with, or that a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaType {
    Json,
    /// `application/vnd.pgrst.object+json` (`nulls=stripped` when true).
    SingularJson(bool),
    /// `application/vnd.pgrst.array+json;nulls=stripped`.
    ArrayJsonStripped,
    Csv,
    OpenApi,
    UrlEncoded,
    Any,
    Other(String),
}

impl MediaType {
    /// Parse one media type, as PostgREST's `decodeMediaType`.
    pub fn decode(value: &str) -> MediaType {
        let mut parts = value.split(';');
        let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let nulls_stripped = parts.any(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            k.trim().eq_ignore_ascii_case("nulls") && v.trim().trim_matches('"') == "stripped"
        });
        match essence.as_str() {
            "application/json" => MediaType::Json,
            "text/csv" => MediaType::Csv,
            "application/openapi+json" => MediaType::OpenApi,
            "application/x-www-form-urlencoded" => MediaType::UrlEncoded,
            "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => MediaType::SingularJson(nulls_stripped),
            "application/vnd.pgrst.array+json" | "application/vnd.pgrst.array" => {
                if nulls_stripped {
                    MediaType::ArrayJsonStripped
                } else {
                    MediaType::Json
                }
            }
            "*/*" => MediaType::Any,
            _ => MediaType::Other(value.trim().to_owned()),
        }
    }

    /// The MIME text of this type (PostgREST's `toMime`).
    pub fn mime(&self) -> String {
        match self {
            MediaType::Json => "application/json".into(),
            MediaType::SingularJson(true) => "application/vnd.pgrst.object+json;nulls=stripped".into(),
            MediaType::SingularJson(false) => "application/vnd.pgrst.object+json".into(),
            MediaType::ArrayJsonStripped => "application/vnd.pgrst.array+json;nulls=stripped".into(),
            MediaType::Csv => "text/csv".into(),
            MediaType::OpenApi => "application/openapi+json".into(),
            MediaType::UrlEncoded => "application/x-www-form-urlencoded".into(),
            MediaType::Any => "*/*".into(),
            MediaType::Other(other) => other.clone(),
        }
    }

    /// The `Content-Type` of an answer of this type.
    pub fn content_type(&self) -> String {
        format!("{}; charset=utf-8", self.mime())
    }
}

/// The `Accept` header's media types, by descending quality (`*/*` when absent).
pub fn accepted(headers: &HeaderMap) -> Vec<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return vec![MediaType::Any];
    };
    let mut entries: Vec<(f32, MediaType)> = accept
        .split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let quality = entry
                .split(';')
                .skip(1)
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
                .unwrap_or(1.0);
            let without_q: Vec<&str> = entry.split(';').filter(|p| !p.trim().starts_with("q=")).collect();
            (quality, MediaType::decode(&without_q.join(";")))
        })
        .filter(|(q, _)| *q > 0.0)
        .collect();
    entries.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    if entries.is_empty() {
        return vec![MediaType::Any];
    }
    entries.into_iter().map(|(_, mt)| mt).collect()
}

/// The request body's media type (JSON when absent).
pub fn content_type(headers: &HeaderMap) -> MediaType {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(MediaType::decode)
        .unwrap_or(MediaType::Json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn the_first_preference_of_each_kind_wins() {
        let prefs = Preferences::from_headers(&headers(&[
            ("prefer", "return=representation, count=exact"),
            ("prefer", "return=minimal,resolution=merge-duplicates,nonsense"),
        ]));
        assert_eq!(prefs.representation, Some(Representation::Full));
        assert_eq!(prefs.count, Some(Count::Exact));
        assert_eq!(prefs.resolution, Some(Resolution::MergeDuplicates));
        assert_eq!(prefs.invalid, vec!["nonsense".to_string()]);
        assert_eq!(
            prefs.applied(&[Kind::Resolution, Kind::Representation, Kind::Count]).as_deref(),
            Some("resolution=merge-duplicates, return=representation, count=exact")
        );
    }

    #[test]
    fn accept_is_ordered_by_quality() {
        let accepted = accepted(&headers(&[("accept", "text/csv;q=0.5, application/vnd.pgrst.object+json;nulls=stripped")]));
        assert_eq!(accepted, vec![MediaType::SingularJson(true), MediaType::Csv]);
        assert_eq!(super::accepted(&HeaderMap::new()), vec![MediaType::Any]);
    }
}
