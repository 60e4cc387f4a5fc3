//! SQL from plans (PostgREST's `QueryBuilder.hs`, `SqlFragment.hs` and
//! `Statements.hs`), statement by statement as PostgREST writes them.
//!
//! Identifiers come from the schema cache or are made here, and are always
//! quoted; the only request text that becomes an identifier is an output
//! alias (a JSON key), quoted like any other. Every value from a request is a
//! bound parameter sent as text with its type left for Postgres to infer from
//! context — what PostgREST does with its `unknown`-typed parameters — so
//! `id=eq.<uuid>` is parsed by the uuid input function and bad input is
//! Postgres' own 22P02. (Row limits and offsets, integers this server parsed,
//! are numerals: see [`limit_offset`].)

use crate::params::{Direction, FtsOp, JsonOperand, JsonStep, LogicOp, Nulls, OpExpr, Operation, QuantOp, Quantifier, SimpleOp, TriVal};
use crate::plan::{CallParams, ColumnRef, Embed, Handler, Logic, Order, OrderTarget, PayloadColumn, ReadNode};
use crate::prefer::Resolution;
use crate::range::Range;
use crate::schema::Routine;

/// SQL text and its parameters (text format; `None` is NULL).
#[derive(Debug, Clone, Default)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Option<String>>,
}

impl Sql {
    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// A bound parameter, its type inferred by Postgres.
    fn param(&mut self, value: impl Into<String>) -> &mut Self {
        self.params.push(Some(value.into()));
        let n = self.params.len();
        self.text.push_str(&format!("${n}"));
        self
    }

    fn ident(&mut self, name: &str) -> &mut Self {
        self.text.push_str(&ident(name));
        self
    }

    fn append(&mut self, other: Sql) -> &mut Self {
        // Renumber `other`'s parameters after ours.
        let offset = self.params.len();
        let mut text = String::with_capacity(other.text.len());
        let mut chars = other.text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n: usize = digits.parse().unwrap_or(0);
                text.push_str(&format!("${}", n + offset));
            } else {
                text.push(c);
            }
        }
        self.text.push_str(&text);
        self.params.extend(other.params);
        self
    }
}

/// A quoted identifier (`"a""b"`); NUL ends it, as PostgREST trims it.
pub fn ident(name: &str) -> String {
    let name = name.split('\0').next().unwrap_or("");
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal for SQL text made from the catalog (never from a request).
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

fn column(sql: &mut Sql, qualifier: &str, col: &ColumnRef) {
    let base = if col.name == "*" { format!("{}.*", ident(qualifier)) } else { format!("{}.{}", ident(qualifier), ident(&col.name)) };
    if col.json_path.is_empty() {
        sql.push(&base);
        return;
    }
    if col.to_json {
        sql.push(&format!("to_jsonb({base})"));
    } else {
        sql.push(&base);
    }
    json_path(sql, &col.json_path);
}

fn json_path(sql: &mut Sql, path: &[JsonStep]) {
    for step in path {
        sql.push(if step.text { "->>" } else { "->" });
        match &step.operand {
            JsonOperand::Key(key) => {
                sql.param(key.clone());
            }
            JsonOperand::Index(index) => {
                sql.param(index.clone()).push("::int");
            }
        }
    }
}

fn select_item(sql: &mut Sql, qualifier: &str, item: &crate::plan::SelectColumn) {
    match &item.cast {
        Some(cast) => {
            sql.push("CAST( ");
            column(sql, qualifier, &item.column);
            sql.push(&format!(" AS {cast} )"));
        }
        None => column(sql, qualifier, &item.column),
    }
    if let Some(alias) = &item.alias {
        sql.push(" AS ").ident(alias);
    }
}

/// The array literal PostgREST builds for `in.(...)`.
fn array_literal(values: &[String]) -> String {
    let escaped: Vec<String> = values
        .iter()
        .map(|v| {
            let v = v.split('\0').next().unwrap_or("");
            format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
        })
        .collect();
    format!("{{{}}}", escaped.join(","))
}

fn filter(sql: &mut Sql, qualifier: &str, col: &ColumnRef, op: &OpExpr) {
    if op.negated {
        sql.push("NOT ");
    }
    column(sql, qualifier, col);
    match &op.operation {
        Operation::Simple(op, value) => {
            let symbol = match op {
                SimpleOp::NotEqual => "<>",
                SimpleOp::Contains => "@>",
                SimpleOp::Contained => "<@",
                SimpleOp::Overlap => "&&",
                SimpleOp::StrictlyLeft => "<<",
                SimpleOp::StrictlyRight => ">>",
                SimpleOp::NotExtendsRight => "&<",
                SimpleOp::NotExtendsLeft => "&>",
                SimpleOp::Adjacent => "-|-",
            };
            sql.push(&format!(" {symbol} ")).param(value.clone());
        }
        Operation::Quant(op, quantifier, value) => {
            let symbol = match op {
                QuantOp::Equal => "=",
                QuantOp::GreaterThanEqual => ">=",
                QuantOp::GreaterThan => ">",
                QuantOp::LessThanEqual => "<=",
                QuantOp::LessThan => "<",
                QuantOp::Like => "like",
                QuantOp::ILike => "ilike",
                QuantOp::Match => "~",
                QuantOp::IMatch => "~*",
            };
            // like/ilike take `*` for `%`, which URLs carry more easily.
            let value = if matches!(op, QuantOp::Like | QuantOp::ILike) { value.replace('*', "%") } else { value.clone() };
            sql.push(&format!(" {symbol} "));
            match quantifier {
                Some(Quantifier::Any) => {
                    sql.push("ANY(").param(value).push(")");
                }
                Some(Quantifier::All) => {
                    sql.push("ALL(").param(value).push(")");
                }
                None => {
                    sql.param(value);
                }
            }
        }
        Operation::In(values) => {
            if values.len() == 1 && values[0].is_empty() {
                sql.push(" = ANY('{}') ");
            } else {
                sql.push(" = ANY (").param(array_literal(values)).push(") ");
            }
        }
        Operation::Is(value) => {
            sql.push(match value {
                TriVal::Null => " IS NULL",
                TriVal::Unknown => " IS UNKNOWN",
                TriVal::True => " IS TRUE",
                TriVal::False => " IS FALSE",
            });
        }
        Operation::IsDistinct(value) => {
            sql.push(" IS DISTINCT FROM ").param(value.clone());
        }
        Operation::Fts(op, language, value) => {
            let function = match op {
                FtsOp::Fts => "to_tsquery",
                FtsOp::Plain => "plainto_tsquery",
                FtsOp::Phrase => "phraseto_tsquery",
                FtsOp::Websearch => "websearch_to_tsquery",
            };
            sql.push(&format!(" @@ {function}("));
            if let Some(language) = language {
                sql.param(language.clone()).push(", ");
            }
            sql.param(value.clone()).push(") ");
        }
    }
}

/// A node's logic tree; `count` renders embedding tests as EXISTS over the embed's count query.
fn logic(sql: &mut Sql, schema: &str, node: &ReadNode, qualifier: &str, tree: &Logic, count: bool) {
    match tree {
        Logic::Expr { negated, op, children } => {
            if *negated {
                sql.push("NOT");
            }
            sql.push(" (");
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    sql.push(if *op == LogicOp::And { " AND " } else { " OR " });
                }
                logic(sql, schema, node, qualifier, child, count);
            }
            sql.push(")");
        }
        Logic::Filter { column, op } => filter(sql, qualifier, column, op),
        Logic::NullEmbed { negated, embed } => {
            let embed = &node.embeds[*embed];
            if count {
                sql.push(if *negated { "EXISTS (" } else { "NOT EXISTS (" });
                let inner = count_query(schema, &embed.node, Source::Table(&embed.node.relation), Some((qualifier, embed)));
                sql.append(inner).push(")");
            } else {
                sql.ident(&agg_alias(embed)).push(if *negated { " IS DISTINCT FROM NULL" } else { " IS NOT DISTINCT FROM NULL" });
            }
        }
    }
}

fn agg_alias(embed: &Embed) -> String {
    format!("{}_agg", embed.node.sql_alias)
}

fn order_by(sql: &mut Sql, node: &ReadNode, qualifier: &str, order: &[Order]) {
    if order.is_empty() {
        return;
    }
    sql.push(" ORDER BY ");
    for (i, term) in order.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        match &term.target {
            OrderTarget::Column(col) => column(sql, qualifier, col),
            OrderTarget::Embedded { embed, column: col } => column(sql, &agg_alias(&node.embeds[*embed]), col),
        }
        match term.direction {
            Some(Direction::Asc) => {
                sql.push(" ASC");
            }
            Some(Direction::Desc) => {
                sql.push(" DESC");
            }
            None => {}
        }
        match term.nulls {
            Some(Nulls::First) => {
                sql.push(" NULLS FIRST");
            }
            Some(Nulls::Last) => {
                sql.push(" NULLS LAST");
            }
            None => {}
        }
    }
}

/// `LIMIT n OFFSET m`. The one place values are written as text: they are
/// integers this server parsed (never request text), and as numerals they let
/// Postgres keep one generic plan per query shape — with a parameter LIMIT it
/// re-plans every page (its generic estimate assumes a tenth of the rows).
fn limit_offset(sql: &mut Sql, range: &Range) {
    if range.is_all() {
        return;
    }
    match range.limit() {
        Some(limit) => sql.push(&format!(" LIMIT {limit}")),
        None => sql.push(" LIMIT ALL"),
    };
    sql.push(&format!(" OFFSET {}", range.lower));
}

/// Where a node reads from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// A table of the schema.
    Table(&'a str),
    /// The `pgrst_source` CTE (a mutation's or a call's rows).
    Cte,
}

fn from(sql: &mut Sql, schema: &str, node: &ReadNode, source: Source<'_>) {
    match source {
        Source::Table(table) => sql.push(&format!(" FROM {} AS {}", qualified(schema, table), ident(&node.sql_alias))),
        Source::Cte => sql.push(&format!(" FROM \"pgrst_source\" AS {}", ident(&node.sql_alias))),
    };
}

/// The conditions joining an embed to its parent.
fn join_conditions(embed: &Embed, parent: &str) -> Vec<String> {
    embed
        .join
        .iter()
        .map(|(parent_col, child_col)| {
            format!("{}.{} = {}.{}", ident(&embed.node.sql_alias), ident(child_col), ident(parent), ident(parent_col))
        })
        .collect()
}

/// The read query of a node (PostgREST's `readPlanToQuery`).
pub fn read_query(schema: &str, node: &ReadNode, source: Source<'_>, parent: Option<(&str, &Embed)>) -> Sql {
    let qualifier = node.sql_alias.as_str();
    let mut sql = Sql::default();
    sql.push("SELECT ");
    let mut first = true;
    let mut separator = |sql: &mut Sql| {
        if !first {
            sql.push(", ");
        }
        first = false;
    };
    if node.select.is_empty() && node.embeds.is_empty() {
        separator(&mut sql);
        sql.push(&format!("{}.*", ident(qualifier)));
    }
    for item in &node.select {
        separator(&mut sql);
        select_item(&mut sql, qualifier, item);
    }
    for embed in node.embeds.iter().filter(|e| !e.empty) {
        separator(&mut sql);
        let agg = ident(&agg_alias(embed));
        if embed.to_one {
            sql.push(&format!("row_to_json({agg}.*)::jsonb AS ")).ident(&embed.key);
        } else {
            sql.push(&format!("COALESCE( {agg}.{agg}, '[]') AS ")).ident(&embed.key);
        }
    }
    if first {
        // Only empty embeddings: a row must still have a select list.
        sql.push("NULL");
    }
    from(&mut sql, schema, node, source);
    for embed in &node.embeds {
        let agg = ident(&agg_alias(embed));
        let join = if embed.inner { " INNER JOIN LATERAL ( " } else { " LEFT JOIN LATERAL ( " };
        let child = read_query(schema, &embed.node, Source::Table(&embed.node.relation), Some((qualifier, embed)));
        sql.push(join);
        if embed.to_one {
            sql.append(child).push(&format!(" ) AS {agg} ON TRUE"));
        } else {
            sql.push(&format!("SELECT json_agg({agg})::jsonb AS {agg} FROM ("));
            sql.append(child).push(&format!(" ) AS {agg} ) AS {agg} ON "));
            sql.push(&if embed.inner { format!("{agg} IS NOT NULL") } else { "TRUE".to_owned() });
        }
    }
    where_clause(&mut sql, schema, node, parent, false);
    order_by(&mut sql, node, qualifier, &node.order);
    limit_offset(&mut sql, &node.range);
    sql
}

/// A node's WHERE: its filters and the join to its parent. A count (`count`)
/// tests embeddings with EXISTS and keeps only rows whose inner-joined
/// embeddings match, as the read's INNER JOINs do.
fn where_clause(sql: &mut Sql, schema: &str, node: &ReadNode, parent: Option<(&str, &Embed)>, count: bool) {
    let qualifier = node.sql_alias.as_str();
    let mut conditions = 0;
    let mut and = |sql: &mut Sql| {
        sql.push(if conditions == 0 { " WHERE " } else { " AND " });
        conditions += 1;
    };
    for tree in &node.logic {
        and(sql);
        logic(sql, schema, node, qualifier, tree, count);
    }
    if let Some((parent, embed)) = parent {
        for condition in join_conditions(embed, parent) {
            and(sql);
            sql.push(&condition);
        }
    }
    if count {
        for embed in node.embeds.iter().filter(|e| e.inner) {
            and(sql);
            sql.push("EXISTS (")
                .append(count_query(schema, &embed.node, Source::Table(&embed.node.relation), Some((qualifier, embed))))
                .push(" )");
        }
    }
}

/// The count query of a node (PostgREST's `readPlanToCountQuery`): its filters,
/// and EXISTS for inner-joined embeddings.
pub fn count_query(schema: &str, node: &ReadNode, source: Source<'_>, parent: Option<(&str, &Embed)>) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT 1");
    from(&mut sql, schema, node, source);
    where_clause(&mut sql, schema, node, parent, true);
    sql
}

/// The aggregate that makes the body (PostgREST's `handlerF`).
fn body(handler: Handler, routine: Option<&Routine>) -> String {
    let scalar = routine.is_some_and(|r| r.returns_scalar());
    let set_of_scalar = routine.is_some_and(|r| r.returns_set_of_scalar());
    let single_composite = routine.is_some_and(|r| r.returns_single_composite());
    let strip = |s: &str, yes: bool| if yes { format!("json_strip_nulls({s})") } else { s.to_owned() };
    match handler {
        Handler::NoBody => "''::text".into(),
        Handler::Single(stripped) => {
            let agg = if scalar { "json_agg(_postgrest_t.pgrst_scalar)->0" } else { "json_agg(_postgrest_t)->0" };
            format!("coalesce({}, 'null')::text", strip(agg, stripped))
        }
        Handler::JsonArray | Handler::JsonArrayStripped => {
            let stripped = handler == Handler::JsonArrayStripped;
            let (agg, empty) = if single_composite {
                ("json_agg(_postgrest_t)->0", "'null'")
            } else if scalar {
                ("json_agg(_postgrest_t.pgrst_scalar)->0", "'null'")
            } else if set_of_scalar {
                ("json_agg(_postgrest_t.pgrst_scalar)", "'[]'")
            } else {
                ("json_agg(_postgrest_t)", "'[]'")
            };
            format!("coalesce({}, {empty})::text", strip(agg, stripped))
        }
        Handler::Csv => "(SELECT coalesce(string_agg(a.k, ','), '') FROM (SELECT json_object_keys(r)::text as k FROM \
             (SELECT row_to_json(hh) as r from pgrst_source as hh limit 1) s) a) || '\n' || \
             coalesce(string_agg(substring(_postgrest_t::text, 2, length(_postgrest_t::text) - 2), '\n'), '')"
            .into(),
    }
}

const RESPONSE_GUCS: &str = "nullif(current_setting('response.headers', true), '') AS response_headers, \
     nullif(current_setting('response.status', true), '') AS response_status";

/// A read of a table: total (when counted), page size, body, response GUCs.
pub fn read_statement(schema: &str, node: &ReadNode, handler: Handler, count: Option<Option<i64>>) -> Sql {
    let mut sql = Sql::default();
    sql.push("WITH pgrst_source AS ( ").append(read_query(schema, node, Source::Table(&node.relation), None)).push(" )");
    let total = match count {
        Some(limit) => {
            sql.push(", pgrst_source_count AS (").append(count_query(schema, node, Source::Table(&node.relation), None));
            if let Some(limit) = limit {
                sql.push(&format!(" LIMIT {limit}"));
            }
            sql.push(")");
            "(SELECT pg_catalog.count(*) FROM pgrst_source_count)"
        }
        None => "null::bigint",
    };
    sql.push(&format!(
        " SELECT {total} AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, {} AS body, {RESPONSE_GUCS} \
         FROM ( SELECT * FROM pgrst_source ) _postgrest_t",
        body(handler, None)
    ));
    sql
}

/// `EXPLAIN` of a count query, for `count=planned|estimated`.
pub fn planned_count(schema: &str, node: &ReadNode, source: Source<'_>, call: Option<&Sql>) -> Sql {
    let mut sql = Sql::default();
    sql.push("EXPLAIN (FORMAT JSON) ");
    if let Some(call) = call {
        sql.push("WITH pgrst_source AS (").append(call.clone()).push(") ");
    }
    sql.append(count_query(schema, node, source, None));
    sql
}

/// `FROM (SELECT $1::json AS json_data) pgrst_payload, LATERAL (...) pgrst_body`
/// (PostgREST's `fromJsonBodyF`): the payload's objects as typed rows.
fn json_body(sql: &mut Sql, body: &str, columns: &[PayloadColumn], select: bool, limit_one: bool, defaults: bool) {
    let is_object = body.trim_start_matches([' ', '\t', '\n', '\r']).starts_with('{');
    if select {
        sql.push("SELECT ");
        let names: Vec<String> = columns.iter().map(|c| format!("\"pgrst_body\".{}", ident(&c.name))).collect();
        sql.push(&names.join(", ")).push(" ");
    }
    let json_type = if defaults { "jsonb" } else { "json" };
    sql.push("FROM (SELECT ").param(body.to_owned()).push(&format!("::{json_type} AS json_data) pgrst_payload, "));
    let source = if defaults {
        let pairs: Vec<String> = columns
            .iter()
            .filter_map(|c| c.default.as_ref().map(|d| format!("{}, {d}", literal(&c.name))))
            .collect();
        let defaults = format!("jsonb_build_object({})", pairs.join(","));
        if is_object {
            sql.push(&format!("LATERAL (SELECT {defaults} || pgrst_payload.json_data AS val) pgrst_json_defs, "));
        } else {
            sql.push(&format!(
                "LATERAL (SELECT jsonb_agg({defaults} || elem) AS val from jsonb_array_elements(pgrst_payload.json_data) elem) pgrst_json_defs, "
            ));
        }
        "pgrst_json_defs.val"
    } else {
        "pgrst_payload.json_data"
    };
    let prefix = if defaults { "jsonb" } else { "json" };
    sql.push("LATERAL (SELECT ");
    if columns.is_empty() {
        sql.push("1 FROM ");
        if is_object {
            sql.push("(values(1)) _ ");
        } else {
            sql.push(&format!("{prefix}_array_elements({source}) _ "));
        }
    } else {
        let names: Vec<String> = columns.iter().map(|c| ident(&c.name)).collect();
        let typed: Vec<String> = columns.iter().map(|c| format!("{} {}", ident(&c.name), c.type_name)).collect();
        let function = if is_object { "to_record" } else { "to_recordset" };
        sql.push(&format!("{} FROM {prefix}_{function}({source}) AS _({}) ", names.join(", "), typed.join(", ")));
        if limit_one {
            sql.push("LIMIT 1");
        }
    }
    sql.push(") pgrst_body ");
}

fn returning(sql: &mut Sql, schema: &str, table: &str, columns: &[String]) {
    if columns.is_empty() {
        sql.push(" RETURNING 1");
        return;
    }
    let list: Vec<String> = columns
        .iter()
        .map(|c| if c == "*" { format!("{}.*", qualified(schema, table)) } else { format!("{}.{}", qualified(schema, table), ident(c)) })
        .collect();
    sql.push(&format!(" RETURNING {}", list.join(", ")));
}

const INSERTED: &str = "set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')::int, 0) + 1)::text, true) <> '0'";
const UPDATED: &str = "set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')::int, 0) - 1)::text, true) <> '-1'";

/// An INSERT (with ON CONFLICT for upserts).
pub struct Insert<'a> {
    pub schema: &'a str,
    pub table: &'a str,
    pub columns: &'a [PayloadColumn],
    pub body: &'a str,
    pub conflict: Option<(Resolution, &'a [String])>,
    pub returning: &'a [String],
    pub defaults: bool,
}

pub fn insert(insert: &Insert<'_>) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!("INSERT INTO {}", qualified(insert.schema, insert.table)));
    if insert.columns.is_empty() {
        sql.push(" ");
    } else {
        let names: Vec<String> = insert.columns.iter().map(|c| ident(&c.name)).collect();
        sql.push(&format!("({}) ", names.join(", ")));
    }
    json_body(&mut sql, insert.body, insert.columns, true, false, insert.defaults);
    let merge = matches!(insert.conflict, Some((Resolution::MergeDuplicates, _)));
    if merge {
        sql.push(&format!("WHERE {INSERTED}"));
    }
    if let Some((resolution, conflict)) = insert.conflict {
        if !conflict.is_empty() {
            let cols: Vec<String> = conflict.iter().map(|c| ident(c)).collect();
            sql.push(&format!(" ON CONFLICT({}) ", cols.join(", ")));
            match resolution {
                Resolution::IgnoreDuplicates => {
                    sql.push("DO NOTHING");
                }
                Resolution::MergeDuplicates if insert.columns.is_empty() => {
                    sql.push("DO NOTHING");
                }
                Resolution::MergeDuplicates => {
                    let sets: Vec<String> =
                        insert.columns.iter().map(|c| format!("{} = EXCLUDED.{}", ident(&c.name), ident(&c.name))).collect();
                    sql.push(&format!("DO UPDATE SET {}WHERE {UPDATED}", sets.join(", ") + " "));
                }
            }
        }
    }
    returning(&mut sql, insert.schema, insert.table, insert.returning);
    sql
}

fn where_logic(sql: &mut Sql, schema: &str, qualifier: &str, logic_forest: &[Logic]) {
    let empty = ReadNode {
        relation: String::new(),
        name: String::new(),
        alias: None,
        sql_alias: String::new(),
        select: vec![],
        logic: vec![],
        order: vec![],
        range: Range::all(),
        embeds: vec![],
    };
    for (i, tree) in logic_forest.iter().enumerate() {
        sql.push(if i == 0 { " WHERE " } else { " AND " });
        logic(sql, schema, &empty, qualifier, tree, false);
    }
}

/// A mutation's rows limited by `limit`/`offset` with its order: the CTE of affected rows.
fn affected_rows(sql: &mut Sql, schema: &str, table: &str, logic_forest: &[Logic], order: &[Order], range: &Range) -> String {
    let empty = ReadNode {
        relation: table.to_owned(),
        name: String::new(),
        alias: None,
        sql_alias: table.to_owned(),
        select: vec![],
        logic: vec![],
        order: vec![],
        range: Range::all(),
        embeds: vec![],
    };
    let ids: Vec<String> = order
        .iter()
        .filter_map(|o| match &o.target {
            OrderTarget::Column(c) => Some(c.name.clone()),
            OrderTarget::Embedded { .. } => None,
        })
        .collect();
    let list: Vec<String> = ids.iter().map(|c| format!("{}.{}", ident(table), ident(c))).collect();
    sql.push(&format!("pgrst_affected_rows AS (SELECT {} FROM {} AS {}", list.join(", "), qualified(schema, table), ident(table)));
    where_logic(sql, schema, table, logic_forest);
    order_by(sql, &empty, table, order);
    limit_offset(sql, range);
    sql.push(") ");
    ids.iter()
        .map(|c| format!("{}.{} = \"pgrst_affected_rows\".{}", qualified(schema, table), ident(c), ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// An UPDATE of the filtered rows (PostgREST's `mutatePlanToQuery Update`).
pub struct Update<'a> {
    pub schema: &'a str,
    pub table: &'a str,
    pub columns: &'a [PayloadColumn],
    pub body: &'a str,
    pub logic: &'a [Logic],
    pub order: &'a [Order],
    pub range: Range,
    pub returning: &'a [String],
    pub defaults: bool,
}

pub fn update(update: &Update<'_>) -> Sql {
    let mut sql = Sql::default();
    let table = qualified(update.schema, update.table);
    if update.columns.is_empty() {
        let cols = if update.returning.is_empty() {
            "NULL".to_owned()
        } else {
            update
                .returning
                .iter()
                .map(|c| if c == "*" { format!("{}.*", ident(update.table)) } else { format!("{}.{}", ident(update.table), ident(c)) })
                .collect::<Vec<_>>()
                .join(", ")
        };
        sql.push(&format!("SELECT {cols} FROM {table} WHERE false"));
        return sql;
    }
    if update.range.is_all() {
        let sets: Vec<String> =
            update.columns.iter().map(|c| format!("{} = \"pgrst_body\".{}", ident(&c.name), ident(&c.name))).collect();
        sql.push(&format!("UPDATE {table} SET {} ", sets.join(", ")));
        json_body(&mut sql, update.body, update.columns, false, false, update.defaults);
        where_logic(&mut sql, update.schema, update.table, update.logic);
    } else {
        sql.push("WITH pgrst_update_body AS (");
        json_body(&mut sql, update.body, update.columns, true, true, update.defaults);
        sql.push("), ");
        let matched = affected_rows(&mut sql, update.schema, update.table, update.logic, update.order, &update.range);
        let sets: Vec<String> = update
            .columns
            .iter()
            .map(|c| format!("{} = (SELECT {} FROM pgrst_update_body) ", ident(&c.name), ident(&c.name)))
            .collect();
        sql.push(&format!("UPDATE {table} SET {}FROM pgrst_affected_rows WHERE {matched}", sets.join(", ")));
    }
    returning(&mut sql, update.schema, update.table, update.returning);
    sql
}

/// A DELETE of the filtered rows.
pub fn delete(schema: &str, table: &str, logic_forest: &[Logic], order: &[Order], range: Range, returns: &[String]) -> Sql {
    let mut sql = Sql::default();
    let qualified_table = qualified(schema, table);
    if range.is_all() {
        sql.push(&format!("DELETE FROM {qualified_table}"));
        where_logic(&mut sql, schema, table, logic_forest);
    } else {
        sql.push("WITH ");
        let matched = affected_rows(&mut sql, schema, table, logic_forest, order, &range);
        sql.push(&format!("DELETE FROM {qualified_table} USING pgrst_affected_rows WHERE {matched}"));
    }
    returning(&mut sql, schema, table, returns);
    sql
}

/// The statement around a mutation: its rows, the Location of a single
/// insert, the body read over them, and the inserted count of upserts.
pub fn write_statement(
    schema: &str,
    mutation: Sql,
    node: &ReadNode,
    handler: Handler,
    location_keys: Option<&[String]>,
    count_inserted: bool,
) -> Sql {
    let mut sql = Sql::default();
    sql.push("WITH pgrst_source AS (").append(mutation).push(") SELECT '' AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, ");
    match location_keys {
        Some(keys) if !keys.is_empty() => {
            let keys = keys.iter().map(|k| literal(k)).collect::<Vec<_>>().join(",");
            sql.push(&format!(
                "CASE WHEN pg_catalog.count(_postgrest_t) = 1 THEN coalesce((WITH data AS (SELECT row_to_json(_) AS row FROM pgrst_source AS _ LIMIT 1) \
                 SELECT array_agg(json_data.key || '=' || coalesce('eq.' || json_data.value, 'is.null')) \
                 FROM data CROSS JOIN json_each_text(data.row) AS json_data WHERE json_data.key IN ({keys})), array[]::text[]) \
                 ELSE array[]::text[] END AS header, "
            ));
        }
        _ => {
            sql.push("array[]::text[] AS header, ");
        }
    }
    sql.push(&format!("{} AS body, {RESPONSE_GUCS}, ", body(handler, None)));
    sql.push(if count_inserted {
        "nullif(current_setting('pgrst.inserted', true), '')::int AS response_inserted "
    } else {
        "null::int AS response_inserted "
    });
    sql.push("FROM (");
    if handler == Handler::NoBody {
        sql.push("SELECT * FROM pgrst_source");
    } else {
        sql.append(read_query(schema, node, Source::Cte, None));
    }
    sql.push(") _postgrest_t");
    sql
}

/// A function call's rows (PostgREST's `callPlanToQuery`). Every column of a
/// composite result is kept: filters and orders over the call may name
/// columns the `select` does not.
pub fn call(schema: &str, routine: &Routine, params: &CallParams, args: &str) -> Sql {
    let function = qualified(schema, &routine.name);
    let scalar = routine.returns_scalar() || routine.returns_set_of_scalar();
    let mut sql = Sql::default();
    sql.push("SELECT ");
    sql.push(if scalar { "pgrst_call.pgrst_scalar " } else { "pgrst_call.* " });
    let call_it = |sql: &mut Sql, arguments: &dyn Fn(&mut Sql)| {
        if scalar {
            sql.push(&format!("(SELECT {function}("));
            arguments(sql);
            sql.push(") pgrst_scalar) pgrst_call");
        } else {
            sql.push(&format!("{function}("));
            arguments(sql);
            sql.push(") pgrst_call");
        }
    };
    match params {
        CallParams::Single(param) => {
            sql.push("FROM ");
            let type_name = param.type_name.clone();
            let body = args.to_owned();
            call_it(&mut sql, &move |sql: &mut Sql| {
                sql.param(body.clone()).push(&format!("::{type_name}"));
            });
        }
        CallParams::Named(named) if named.is_empty() => {
            sql.push("FROM ");
            call_it(&mut sql, &|_: &mut Sql| {});
        }
        CallParams::Named(named) => {
            let columns: Vec<PayloadColumn> = named
                .iter()
                .map(|p| PayloadColumn { name: p.name.clone(), type_name: max_length_type(&p.type_name), default: None })
                .collect();
            json_body(&mut sql, args, &columns, false, true, false);
            sql.push(", LATERAL ");
            let assignments: Vec<String> = named
                .iter()
                .map(|p| format!("{}{} := \"pgrst_body\".{}", if p.variadic { "VARIADIC " } else { "" }, ident(&p.name), ident(&p.name)))
                .collect();
            let assignments = assignments.join(", ");
            call_it(&mut sql, &move |sql: &mut Sql| {
                sql.push(&assignments);
            });
        }
    }
    sql
}

/// Parameter types read from JSON without their length limit (PostgREST's `ppTypeMaxLength`).
fn max_length_type(type_name: &str) -> String {
    match type_name {
        "bit" => "bit varying".into(),
        "bit[]" => "bit varying[]".into(),
        "character" => "character varying".into(),
        "character[]" => "character varying[]".into(),
        other => other.into(),
    }
}

/// The statement around a call: the read over its rows, counted when asked.
pub fn call_statement(schema: &str, call: Sql, routine: &Routine, node: &ReadNode, handler: Handler, counted: bool) -> Sql {
    let mut sql = Sql::default();
    sql.push("WITH pgrst_source AS (").append(call).push(") ");
    let total = if counted {
        sql.push(", pgrst_source_count AS (").append(count_query(schema, node, Source::Cte, None)).push(") ");
        "(SELECT pg_catalog.count(*) FROM pgrst_source_count)"
    } else {
        "null::bigint"
    };
    let page_total = if routine.returns_single() { "1::bigint" } else { "pg_catalog.count(_postgrest_t)" };
    sql.push(&format!(
        "SELECT {total} AS total_result_set, {page_total} AS page_total, {} AS body, {RESPONSE_GUCS} FROM (",
        body(handler, Some(routine))
    ));
    sql.append(read_query(schema, node, Source::Cte, None)).push(") _postgrest_t");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_cut_at_nul() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("ab\0; drop table x"), "\"ab\"");
    }

    #[test]
    fn in_lists_become_escaped_array_literals() {
        assert_eq!(array_literal(&["a".into(), "b,\"c\"".into(), "d\\".into()]), r#"{"a","b,\"c\"","d\\"}"#);
    }

    #[test]
    fn appended_fragments_are_renumbered() {
        let mut outer = Sql::default();
        outer.push("a = ").param("1");
        let mut inner = Sql::default();
        inner.push(" AND b = ").param("2").push(" AND c = ").param("3");
        outer.append(inner);
        assert_eq!(outer.text, "a = $1 AND b = $2 AND c = $3");
        assert_eq!(outer.params, vec![Some("1".into()), Some("2".into()), Some("3".into())]);
    }
}
