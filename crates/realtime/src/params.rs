//! The parameters of one `postgres_changes` binding in a join's
//! `config.postgres_changes` (`event`, `schema`, `table`, `filter`), parsed as
//! supabase/realtime parses them (Extensions.PostgresCdcRls.Subscriptions),
//! with its error texts. Filters are `column=operator.value`, comma-separated,
//! with the operators eq, neq, lt, lte, gt, gte and in (`in.(a,b)`); values
//! may be double-quoted. Whether the columns and values fit the table is
//! checked by the database when subscribing.

use std::hash::{Hash, Hasher};

use serde_json::{Map, Value};

const OPERATORS: [&str; 7] = ["eq", "neq", "lt", "lte", "gt", "gte", "in"];

/// One binding, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeParams {
    /// `*`, `INSERT`, `UPDATE` or `DELETE`.
    pub event: String,
    /// A schema name or `*`.
    pub schema: String,
    /// A table name or `*`.
    pub table: String,
    /// `[column, operator, value]`; the value of `in` as an array literal `{a,b}`.
    pub filters: Vec<[String; 3]>,
}

impl ChangeParams {
    pub fn parse(params: &Map<String, Value>) -> Result<ChangeParams, String> {
        let event = match params.get("event").and_then(Value::as_str).map(str::to_ascii_uppercase).as_deref() {
            Some(event @ ("INSERT" | "UPDATE" | "DELETE")) => event.to_owned(),
            _ => "*".to_owned(),
        };
        let text = |key: &str| params.get(key).and_then(Value::as_str);
        let (schema, table, filter) = match (text("schema"), text("table"), params.get("filter")) {
            (Some(schema), Some(table), Some(Value::String(filter))) => (schema, table, filter.as_str()),
            (Some(schema), Some(table), None) => (schema, table, ""),
            (Some(schema), None, None) if !params.contains_key("table") => (schema, "*", ""),
            (None, Some(table), None) if !params.contains_key("schema") => ("public", table, ""),
            _ => {
                return Err(format!(
                    "No subscription params provided. Please provide at least a `schema` or `table` to subscribe to: {}",
                    Value::Object(params.clone())
                ))
            }
        };
        let filters = parse_filters(filter).map_err(|reason| format!("Error parsing `filter` params: {reason}"))?;
        Ok(ChangeParams { event, schema: schema.to_owned(), table: table.to_owned(), filters })
    }

    /// The parameters as Supabase's error messages list them.
    pub fn describe(&self) -> String {
        let filters: Vec<String> = self.filters.iter().map(|[c, o, v]| format!("{c}={o}.{v}")).collect();
        format!("event: {}, schema: {}, table: {}, filters: [{}]", self.event, self.schema, self.table, filters.join(", "))
    }
}

/// The id a binding gets in the join reply and in every event it matches:
/// a hash of the parameters as the client sent them, as supabase/realtime's
/// `:erlang.phash2(params)` is, so identical bindings share one id.
pub fn binding_id(params: &Map<String, Value>) -> u32 {
    // serde_json's Map is ordered by key, so equal objects serialise equally.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    Value::Object(params.clone()).to_string().hash(&mut hasher);
    (hasher.finish() & 0x07ff_ffff) as u32
}

fn parse_filters(filter: &str) -> Result<Vec<[String; 3]>, String> {
    let filter = filter.trim();
    if filter.is_empty() {
        return Ok(Vec::new());
    }
    split_top_level(filter).iter().map(|segment| parse_segment(segment)).collect()
}

/// Split on commas outside parentheses and double quotes (`in.(a,b)`, `"a,b"`).
fn split_top_level(filter: &str) -> Vec<String> {
    let (mut segments, mut current, mut depth, mut quoted, mut escaped) = (Vec::new(), String::new(), 0usize, false, false);
    for c in filter.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            ',' if !quoted && depth == 0 => {
                segments.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    segments.push(current);
    segments
}

fn parse_segment(segment: &str) -> Result<[String; 3], String> {
    let segment = segment.trim();
    if segment.is_empty() {
        return Err("filter must not contain empty segments (check for extra commas)".into());
    }
    let inspect = |parts: &[&str]| {
        let quoted: Vec<String> = parts.iter().map(|p| Value::from(*p).to_string()).collect();
        format!("[{}]", quoted.join(", "))
    };
    let Some((column, rest)) = segment.split_once('=') else {
        return Err(inspect(&[segment]));
    };
    let Some((operator, value)) = rest.split_once('.') else {
        return Err(inspect(&[rest]));
    };
    if !OPERATORS.contains(&operator) {
        return Err(inspect(&[operator, value]));
    }
    let value = if operator == "in" {
        match value.strip_prefix('(').and_then(|v| v.strip_suffix(')')) {
            Some(list) => format!("{{{list}}}"),
            None => return Err("`in` filter value must be wrapped by parentheses".into()),
        }
    } else {
        unquote(value)
    };
    Ok([column.to_owned(), operator.to_owned(), value])
}

/// `"a \"b\""` → `a "b"`; anything not a whole quoted string stays as it is.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => out.push(next),
                None => return value.to_owned(),
            },
            '"' => return value.to_owned(),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<ChangeParams, String> {
        ChangeParams::parse(value.as_object().unwrap())
    }

    #[test]
    fn full_binding_with_filters_parses() {
        let params = parse(json!({"event": "insert", "schema": "public", "table": "jobs", "filter": "id=gt.0, status=in.(queued,\"done, really\")"})).unwrap();
        assert_eq!(params.event, "INSERT");
        assert_eq!((params.schema.as_str(), params.table.as_str()), ("public", "jobs"));
        assert_eq!(
            params.filters,
            vec![
                ["id".to_owned(), "gt".to_owned(), "0".to_owned()],
                ["status".to_owned(), "in".to_owned(), "{queued,\"done, really\"}".to_owned()]
            ]
        );
    }

    #[test]
    fn schema_alone_means_every_table_and_table_alone_means_public() {
        assert_eq!(parse(json!({"event": "*", "schema": "public"})).unwrap().table, "*");
        assert_eq!(parse(json!({"table": "jobs"})).unwrap().schema, "public");
        assert_eq!(parse(json!({"schema": "public", "table": "jobs", "filter": "  "})).unwrap().filters, Vec::<[String; 3]>::new());
    }

    #[test]
    fn unknown_event_is_every_event() {
        assert_eq!(parse(json!({"event": "TRUNCATE", "schema": "public"})).unwrap().event, "*");
    }

    #[test]
    fn quoted_values_are_unquoted() {
        let params = parse(json!({"schema": "public", "table": "t", "filter": "name=eq.\"a \\\"b\\\"\""})).unwrap();
        assert_eq!(params.filters[0][2], "a \"b\"");
    }

    #[test]
    fn malformed_filters_are_refused_with_supabases_texts() {
        let error = |filter: &str| parse(json!({"schema": "public", "table": "t", "filter": filter})).unwrap_err();
        assert_eq!(error("subject=foo.hey"), r#"Error parsing `filter` params: ["foo", "hey"]"#);
        assert_eq!(error("undefined"), r#"Error parsing `filter` params: ["undefined"]"#);
        assert_eq!(error("id=eq"), r#"Error parsing `filter` params: ["eq"]"#);
        assert_eq!(error("id=in.1,2"), "Error parsing `filter` params: `in` filter value must be wrapped by parentheses");
        assert_eq!(error("id=eq.1,,id=eq.2"), "Error parsing `filter` params: filter must not contain empty segments (check for extra commas)");
    }

    #[test]
    fn missing_schema_and_table_is_refused() {
        let error = parse(json!({"event": "*"})).unwrap_err();
        assert!(error.starts_with("No subscription params provided. Please provide at least a `schema` or `table` to subscribe to"), "{error}");
        assert!(parse(json!({"schema": "public", "filter": "id=eq.1"})).is_err());
    }

    #[test]
    fn identical_bindings_share_an_id_and_different_ones_do_not() {
        let a = json!({"event": "*", "schema": "public", "table": "jobs"});
        let b = json!({"table": "jobs", "schema": "public", "event": "*"});
        let c = json!({"event": "INSERT", "schema": "public", "table": "jobs"});
        assert_eq!(binding_id(a.as_object().unwrap()), binding_id(b.as_object().unwrap()));
        assert_ne!(binding_id(a.as_object().unwrap()), binding_id(c.as_object().unwrap()));
    }
}
