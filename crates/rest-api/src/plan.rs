//! The planner (PostgREST's `Plan.hs`): a parsed request resolved against the
//! schema cache into plans whose every name is known — the read tree with its
//! embeddings (found along foreign keys, both directions), the mutation, or the
//! function call. Unknown names fail here with the error PostgREST (or
//! Postgres behind it) gives; [`crate::sql`] only turns plans into SQL.

use std::collections::{BTreeSet, HashMap};

use crate::error::RestError;
use crate::params::{
    key_path, Direction, Field, Filter, JsonOperand, JsonStep, LogicOp, LogicTree, Nulls, OpExpr, Operation,
    OrderTerm, QueryParams, SelectItem, TriVal,
};
use crate::prefer::{MediaType, Preferences, Representation, Resolution};
use crate::range::Range;
use crate::schema::{Cardinality, Param, Relationship, Routine, SchemaCache, Table, Volatility};

/// A column reference with its JSON path; `to_json` wraps a non-JSON column in
/// `to_jsonb()` before the path applies.
#[derive(Debug, Clone)]
pub struct ColumnRef {
    /// `*` or a column the cache knows.
    pub name: String,
    pub json_path: Vec<JsonStep>,
    pub to_json: bool,
}

#[derive(Debug, Clone)]
pub struct SelectColumn {
    pub column: ColumnRef,
    /// A type the cache knows, as SQL text.
    pub cast: Option<String>,
    pub alias: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Logic {
    Expr { negated: bool, op: LogicOp, children: Vec<Logic> },
    Filter { column: ColumnRef, op: OpExpr },
    /// `rel=is.null` / `rel=not.is.null` on an embedding: whether it matched a row.
    NullEmbed { negated: bool, embed: usize },
}

#[derive(Debug, Clone)]
pub enum OrderTarget {
    Column(ColumnRef),
    /// A column of the to-one embedding `embed` (an index into the node's embeds).
    Embedded { embed: usize, column: ColumnRef },
}

#[derive(Debug, Clone)]
pub struct Order {
    pub target: OrderTarget,
    pub direction: Option<Direction>,
    pub nulls: Option<Nulls>,
}

/// An embedded resource: the child node and how it joins its parent.
#[derive(Debug, Clone)]
pub struct Embed {
    /// The JSON key of the embedding in each row.
    pub key: String,
    pub to_one: bool,
    pub inner: bool,
    /// `(parent column, child column)` pairs of the foreign key.
    pub join: Vec<(String, String)>,
    /// No columns selected at any depth: joined for filtering only, not output.
    pub empty: bool,
    pub node: ReadNode,
}

/// One level of a read: what to select from one relation, and its embeddings.
#[derive(Debug, Clone)]
pub struct ReadNode {
    /// The relation's name (table, or the function whose result is read).
    pub relation: String,
    /// The name and alias a request uses to address this node (`rel`/`alias:rel`).
    pub name: String,
    pub alias: Option<String>,
    /// The SQL alias of this node's FROM item, made here, never taken from a request.
    pub sql_alias: String,
    pub select: Vec<SelectColumn>,
    pub logic: Vec<Logic>,
    pub order: Vec<Order>,
    pub range: Range,
    pub embeds: Vec<Embed>,
}

/// How the result rows become the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    JsonArray,
    JsonArrayStripped,
    /// `vnd.pgrst.object+json`: exactly one row (`true`: nulls stripped).
    Single(bool),
    Csv,
    /// No body (HEAD, or a mutation without `return=representation`).
    NoBody,
}

/// The columns (and their types) a node may name.
pub struct Relation<'a> {
    pub name: &'a str,
    columns: Vec<(&'a str, &'a str)>,
    /// For function results: names not checked (a scalar result has the single column `pgrst_scalar`).
    table: Option<&'a Table>,
}

impl<'a> Relation<'a> {
    pub fn table(table: &'a Table) -> Relation<'a> {
        Relation {
            name: &table.name,
            columns: table.columns.iter().map(|c| (c.name.as_str(), c.nominal_type.as_str())).collect(),
            table: Some(table),
        }
    }

    pub fn routine(routine: &'a Routine, cache: &'a SchemaCache) -> Relation<'a> {
        let table = match &routine.returns {
            crate::schema::Returns::Composite { relation: Some(r), .. } => cache.tables.get(r),
            _ => None,
        };
        Relation {
            name: &routine.name,
            columns: routine.out_columns.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect(),
            table,
        }
    }

    fn column_type(&self, name: &str) -> Option<&'a str> {
        self.columns.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    fn resolve(&self, field: &Field) -> Result<ColumnRef, RestError> {
        if field.name == "*" && field.json_path.is_empty() {
            return Ok(ColumnRef { name: "*".into(), json_path: vec![], to_json: false });
        }
        let Some(type_name) = self.column_type(&field.name) else {
            return Err(RestError::undefined_column(self.name, &field.name));
        };
        let is_json = type_name == "json" || type_name == "jsonb";
        Ok(ColumnRef { name: field.name.clone(), json_path: field.json_path.clone(), to_json: !is_json })
    }
}

/// Everything about a request the planner needs.
pub struct Request<'a> {
    pub params: &'a QueryParams,
    /// Ranges per embed path key, the root's (`limit`) already combined with the `Range` header.
    pub ranges: &'a HashMap<String, Range>,
    /// Whether rows are read (GET/HEAD on a table, or RPC): `db-max-rows` and orders apply to the root.
    pub reading: bool,
    pub max_rows: Option<i64>,
}

struct Aliases(usize);

impl Aliases {
    fn next(&mut self, depth: usize) -> String {
        self.0 += 1;
        format!("pgrst_{depth}_{}", self.0)
    }
}

/// Resolve the read tree of `root` (`select`, filters, orders, ranges, embeddings).
pub fn read_plan(cache: &SchemaCache, root: &Relation<'_>, request: &Request<'_>) -> Result<ReadNode, RestError> {
    let mut aliases = Aliases(0);
    let mut node = build_node(cache, root, root.name, None, &request.params.select, 0, &mut aliases)?;
    node.sql_alias = root.name.to_owned();
    let params = request.params;
    // Filters: on a mutation, root filters belong to the mutation itself.
    for (path, filter) in &params.filters {
        if path.is_empty() && !request.reading {
            continue;
        }
        let target = find_node(&mut node, path)?;
        let logic = resolve_filter(cache, target, filter)?;
        target.logic.push(logic);
    }
    for (path, tree) in &params.logic {
        if path.is_empty() && !request.reading {
            continue;
        }
        let target = find_node(&mut node, path)?;
        let logic = resolve_logic(cache, target, tree)?;
        target.logic.push(logic);
    }
    for (path, terms) in &params.order {
        if path.is_empty() && !request.reading {
            continue;
        }
        let target = find_node(&mut node, path)?;
        target.order = terms.iter().map(|t| resolve_order(cache, target, t)).collect::<Result<_, _>>()?;
    }
    for (key, range) in request.ranges {
        let path = if key == "limit" { Vec::new() } else { key_path(key)? };
        if path.is_empty() && !request.reading {
            continue;
        }
        find_node(&mut node, &path)?.range = *range;
    }
    if request.reading {
        apply_max_rows(&mut node, request.max_rows);
    }
    Ok(node)
}

fn apply_max_rows(node: &mut ReadNode, max_rows: Option<i64>) {
    node.range = node.range.with_max_rows(max_rows);
    for embed in &mut node.embeds {
        apply_max_rows(&mut embed.node, max_rows);
    }
}

fn build_node(
    cache: &SchemaCache,
    relation: &Relation<'_>,
    name: &str,
    alias: Option<&str>,
    items: &[SelectItem],
    depth: usize,
    aliases: &mut Aliases,
) -> Result<ReadNode, RestError> {
    let mut node = ReadNode {
        relation: relation.name.to_owned(),
        name: name.to_owned(),
        alias: alias.map(str::to_owned),
        sql_alias: aliases.next(depth),
        select: Vec::new(),
        logic: Vec::new(),
        order: Vec::new(),
        range: Range::all(),
        embeds: Vec::new(),
    };
    for item in items {
        match item {
            SelectItem::Field { aggregate: true, .. } => return Err(RestError::AggregatesNotAllowed),
            SelectItem::Field { field, cast, alias, .. } => {
                let column = relation.resolve(field)?;
                let cast = match cast {
                    Some(cast) => Some(
                        cache
                            .cast_type(cast)
                            .ok_or_else(|| RestError::sql("42704", format!("type \"{cast}\" does not exist")))?
                            .to_owned(),
                    ),
                    None => None,
                };
                // PostgREST names a JSON path by its last key.
                let alias = alias.clone().or_else(|| last_json_key(field));
                node.select.push(SelectColumn { column, cast, alias });
            }
            SelectItem::Spread { name } => {
                return Err(RestError::QueryParam {
                    message: format!("Spreading '{name}' is not supported by this server"),
                    details: "Embed the resource without '...' instead".into(),
                })
            }
            SelectItem::Relation { name: target, alias, hint, inner, children } => {
                let origin = relation.table.map(|t| t.name.as_str()).unwrap_or(relation.name);
                let rel = find_relationship(cache, origin, target, hint.as_deref())?;
                let child_table = cache
                    .tables
                    .get(&rel.foreign_table)
                    .ok_or_else(|| RestError::NoRelBetween { parent: origin.into(), child: target.clone(), hint: hint.clone() })?;
                let child_relation = Relation::table(child_table);
                let child = build_node(cache, &child_relation, target, alias.as_deref(), children, depth + 1, aliases)?;
                let empty = is_empty(&child);
                node.embeds.push(Embed {
                    key: alias.clone().unwrap_or_else(|| target.clone()),
                    to_one: rel.to_one(),
                    inner: *inner,
                    join: rel.columns.clone(),
                    empty,
                    node: child,
                });
            }
        }
    }
    Ok(node)
}

fn is_empty(node: &ReadNode) -> bool {
    node.select.is_empty() && node.embeds.iter().all(|e| e.empty)
}

fn last_json_key(field: &Field) -> Option<String> {
    let last = field.json_path.last()?;
    match &last.operand {
        JsonOperand::Key(key) => Some(key.clone()),
        JsonOperand::Index(_) => field
            .json_path
            .iter()
            .rev()
            .find_map(|s| match &s.operand {
                JsonOperand::Key(k) => Some(k.clone()),
                JsonOperand::Index(_) => None,
            })
            .or_else(|| Some(field.name.clone())),
    }
}

/// The one column pair of a single-column foreign key.
fn single(cols: &[(String, String)]) -> Option<(&str, &str)> {
    match cols {
        [(col, fcol)] => Some((col.as_str(), fcol.as_str())),
        _ => None,
    }
}

/// PostgREST's `findRel`: the one foreign key joining `origin` to `target`.
fn find_relationship<'a>(
    cache: &'a SchemaCache,
    origin: &str,
    target: &str,
    hint: Option<&str>,
) -> Result<&'a Relationship, RestError> {
    let candidates = cache.relationships.get(origin).map(Vec::as_slice).unwrap_or(&[]);
    let foreign_is_view = |r: &Relationship| cache.tables.get(&r.foreign_table).is_some_and(|t| t.is_view);
    let matches: Vec<&Relationship> = candidates
        .iter()
        .filter(|r| {
            let to_many = r.cardinality == Cardinality::OneToMany;
            let single_col = single(&r.columns);
            if r.is_self {
                match hint {
                    None => {
                        (target == r.foreign_table && to_many)
                            || (single_col.is_some_and(|(c, _)| c == target) && r.cardinality == Cardinality::ManyToOne)
                    }
                    Some(h) => target == r.foreign_table && to_many && single_col.is_some_and(|(_, f)| f == h),
                }
            } else {
                match hint {
                    None => {
                        target == r.foreign_table
                            || (r.constraint == target && !foreign_is_view(r))
                            || (single_col.is_some_and(|(c, _)| c == target) && !foreign_is_view(r))
                    }
                    Some(h) => {
                        target == r.foreign_table
                            && (r.constraint == h || single_col.is_some_and(|(c, f)| c == h || f == h))
                    }
                }
            }
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(RestError::NoRelBetween { parent: origin.into(), child: target.into(), hint: hint.map(str::to_owned) }),
        many => {
            let details = many
                .iter()
                .map(|r| {
                    let (cardinality, (from, to)) = match r.cardinality {
                        Cardinality::ManyToOne => ("many-to-one", (&r.table, &r.foreign_table)),
                        Cardinality::OneToMany => ("one-to-many", (&r.table, &r.foreign_table)),
                        Cardinality::OneToOne { .. } => ("one-to-one", (&r.table, &r.foreign_table)),
                    };
                    let cols = r.columns.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ");
                    let fcols = r.columns.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>().join(", ");
                    serde_json::json!({
                        "cardinality": cardinality,
                        "embedding": format!("{from} with {to}"),
                        "relationship": format!("{} using {from}({cols}) and {to}({fcols})", r.constraint),
                    })
                })
                .collect::<Vec<_>>();
            let hints = many.iter().map(|r| format!("'{}!{}'", r.foreign_table, r.constraint)).collect::<Vec<_>>().join(", ");
            Err(RestError::AmbiguousRelBetween {
                parent: origin.into(),
                child: target.into(),
                details: serde_json::Value::Array(details),
                hint: format!(
                    "Try changing '{target}' to one of the following: {hints}. Find the desired relationship in the 'details' key."
                ),
            })
        }
    }
}

/// The node an embed path leads to (by embedding name or alias).
fn find_node<'a>(node: &'a mut ReadNode, path: &[String]) -> Result<&'a mut ReadNode, RestError> {
    let Some((first, rest)) = path.split_first() else { return Ok(node) };
    let Some(embed) = node.embeds.iter_mut().find(|e| &e.node.name == first || e.node.alias.as_deref() == Some(first.as_str()))
    else {
        return Err(RestError::NotEmbedded(first.clone()));
    };
    find_node(&mut embed.node, rest)
}

fn node_relation<'a>(cache: &'a SchemaCache, node: &ReadNode) -> Result<Relation<'a>, RestError> {
    if let Some(table) = cache.tables.get(&node.relation) {
        return Ok(Relation::table(table));
    }
    if let Some(routine) = cache.routines.get(&node.relation).and_then(|r| r.first()) {
        return Ok(Relation::routine(routine, cache));
    }
    Err(RestError::sql("42P01", format!("relation \"{}.{}\" does not exist", cache.schema, node.relation)))
}

fn embed_index(node: &ReadNode, name: &str) -> Option<usize> {
    node.embeds.iter().position(|e| e.node.name == name || e.node.alias.as_deref() == Some(name))
}

fn resolve_filter(cache: &SchemaCache, node: &ReadNode, filter: &Filter) -> Result<Logic, RestError> {
    // `rel=is.null` on an embedding tests whether it matched (PostgREST's addNullEmbedFilters).
    if filter.field.json_path.is_empty() {
        if let (Some(embed), Operation::Is(TriVal::Null)) = (embed_index(node, &filter.field.name), &filter.op.operation) {
            return Ok(Logic::NullEmbed { negated: filter.op.negated, embed });
        }
    }
    let relation = node_relation(cache, node)?;
    Ok(Logic::Filter { column: relation.resolve(&filter.field)?, op: filter.op.clone() })
}

fn resolve_logic(cache: &SchemaCache, node: &ReadNode, tree: &LogicTree) -> Result<Logic, RestError> {
    match tree {
        LogicTree::Stmt(filter) => resolve_filter(cache, node, filter),
        LogicTree::Expr { negated, op, children } => Ok(Logic::Expr {
            negated: *negated,
            op: *op,
            children: children.iter().map(|c| resolve_logic(cache, node, c)).collect::<Result<_, _>>()?,
        }),
    }
}

fn resolve_order(cache: &SchemaCache, node: &ReadNode, term: &OrderTerm) -> Result<Order, RestError> {
    let target = match &term.relation {
        None => OrderTarget::Column(node_relation(cache, node)?.resolve(&term.field)?),
        Some(name) => {
            let Some(embed) = embed_index(node, name) else { return Err(RestError::NotEmbedded(name.clone())) };
            if !node.embeds[embed].to_one {
                return Err(RestError::RelatedOrderNotToOne { origin: node.relation.clone(), target: name.clone() });
            }
            let child = &node.embeds[embed].node;
            let column = node_relation(cache, child)?.resolve(&term.field)?;
            OrderTarget::Embedded { embed, column }
        }
    };
    Ok(Order { target, direction: term.direction, nulls: term.nulls })
}

/// The root filters and order of a PATCH/DELETE, on the table itself.
pub fn mutation_filters(cache: &SchemaCache, table: &Table, params: &QueryParams) -> Result<(Vec<Logic>, Vec<Order>), RestError> {
    let node = ReadNode {
        relation: table.name.clone(),
        name: table.name.clone(),
        alias: None,
        sql_alias: table.name.clone(),
        select: vec![],
        logic: vec![],
        order: vec![],
        range: Range::all(),
        embeds: vec![],
    };
    let mut logic = Vec::new();
    for (_, filter) in params.filters.iter().filter(|(p, _)| p.is_empty()) {
        logic.push(resolve_filter(cache, &node, filter)?);
    }
    for (_, tree) in params.logic.iter().filter(|(p, _)| p.is_empty()) {
        logic.push(resolve_logic(cache, &node, tree)?);
    }
    let order = match params.order.iter().find(|(p, _)| p.is_empty()) {
        Some((_, terms)) => terms.iter().map(|t| resolve_order(cache, &node, t)).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok((logic, order))
}

/// The columns a mutation must return so the read over its result can be
/// answered (PostgREST's `inferColsEmbedNeeds`): `*`, or the selected columns,
/// the parent sides of embedded foreign keys and the primary key.
pub fn returning_columns(node: &ReadNode, primary_key: &[String]) -> Vec<String> {
    if node.select.iter().any(|s| s.column.name == "*") {
        return vec!["*".into()];
    }
    let mut columns: BTreeSet<String> = node.select.iter().map(|s| s.column.name.clone()).collect();
    for embed in &node.embeds {
        columns.extend(embed.join.iter().map(|(parent, _)| parent.clone()));
    }
    columns.extend(primary_key.iter().cloned());
    columns.into_iter().collect()
}

/// A column a payload writes, with the type its JSON is read as.
#[derive(Debug, Clone)]
pub struct PayloadColumn {
    pub name: String,
    pub type_name: String,
    pub default: Option<String>,
}

/// The payload's columns, each one the table must have (PGRST204 otherwise).
pub fn payload_columns(table: &Table, keys: &[String]) -> Result<Vec<PayloadColumn>, RestError> {
    keys.iter()
        .map(|key| {
            table
                .column(key)
                .map(|c| PayloadColumn { name: c.name.clone(), type_name: c.nominal_type.clone(), default: c.default.clone() })
                .ok_or_else(|| RestError::ColumnNotFound { relation: table.name.clone(), column: key.clone() })
        })
        .collect()
}

/// The `on_conflict` columns (the primary key by default), each one known.
pub fn conflict_columns(table: &Table, requested: Option<&Vec<String>>) -> Result<Vec<String>, RestError> {
    match requested {
        None => Ok(table.primary_key.clone()),
        Some(columns) => columns
            .iter()
            .map(|c| table.column(c).map(|c| c.name.clone()).ok_or_else(|| RestError::undefined_column(&table.name, c)))
            .collect(),
    }
}

/// What an INSERT does on conflict.
pub fn on_conflict(prefs: &Preferences, conflict: &[String]) -> Option<Resolution> {
    if conflict.is_empty() {
        None
    } else {
        prefs.resolution
    }
}

/// Whether a mutation's answer carries the rows (`return=representation`).
pub fn returns_rows(prefs: &Preferences) -> bool {
    prefs.representation == Some(Representation::Full)
}

/// How a function is called: named arguments from a JSON object, or the whole body as its one parameter.
#[derive(Debug, Clone)]
pub enum CallParams {
    /// The named parameters the arguments give (in declaration order).
    Named(Vec<Param>),
    /// The single (unnamed, or `Prefer: params=single-object`) json/jsonb parameter.
    Single(Param),
}

/// PostgREST's `findProc`: the overload of `name` whose parameters the argument keys fit.
pub fn find_routine<'a>(
    cache: &'a SchemaCache,
    name: &str,
    keys: &BTreeSet<String>,
    single_object: bool,
    json_body: bool,
) -> Result<&'a Routine, RestError> {
    let overloads = cache.routines.get(name).map(Vec::as_slice).unwrap_or(&[]);
    let fits = |routine: &Routine| {
        let params = &routine.params;
        if single_object {
            return params.len() == 1 && (params[0].type_name == "json" || params[0].type_name == "jsonb");
        }
        if params.is_empty() {
            return keys.is_empty();
        }
        let required: BTreeSet<String> = params.iter().filter(|p| p.required).map(|p| p.name.clone()).collect();
        let optional: BTreeSet<String> = params.iter().filter(|p| !p.required).map(|p| p.name.clone()).collect();
        if optional.is_empty() {
            *keys == required
        } else if required.is_empty() {
            keys.is_subset(&optional)
        } else {
            keys.difference(&optional).cloned().collect::<BTreeSet<_>>() == required
        }
    };
    let single_unnamed = |routine: &Routine| {
        json_body && matches!(routine.params.as_slice(), [p] if p.name.is_empty() && (p.type_name == "json" || p.type_name == "jsonb"))
    };
    let matching: Vec<&Routine> = overloads.iter().filter(|r| fits(r)).collect();
    let fallback: Vec<&Routine> = overloads.iter().filter(|r| !fits(r) && single_unnamed(r)).collect();
    match (matching.as_slice(), fallback.as_slice()) {
        ([one], _) | ([], [one]) => Ok(one),
        ([], []) => Err(no_routine(cache, name, keys, single_object, json_body)),
        (many, _) if !many.is_empty() => Err(ambiguous(cache, many)),
        (_, many) => Err(ambiguous(cache, many)),
    }
}

fn ambiguous(cache: &SchemaCache, routines: &[&Routine]) -> RestError {
    RestError::AmbiguousRpc(
        routines
            .iter()
            .map(|r| {
                let params = r.params.iter().map(|p| format!("{} => {}", p.name, p.type_name)).collect::<Vec<_>>().join(", ");
                format!("{}.{}({params})", cache.schema, r.name)
            })
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn no_routine(cache: &SchemaCache, name: &str, keys: &BTreeSet<String>, single_object: bool, json_body: bool) -> RestError {
    let function = format!("{}.{}", cache.schema, name);
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let listed = keys.join(", ");
    let message = if single_object {
        format!("Could not find the function {function} in the schema cache")
    } else if keys.is_empty() {
        format!("Could not find the function {function} without parameters in the schema cache")
    } else {
        format!("Could not find the function {function}({listed}) in the schema cache")
    };
    let with_params = if keys.is_empty() {
        " without parameters".to_owned()
    } else {
        format!(" with parameter{} {listed}", if keys.len() > 1 { "s" } else { "" })
    };
    let details = if single_object {
        format!("Searched for the function {function} with a single json/jsonb parameter, but no matches were found in the schema cache.")
    } else if json_body {
        format!("Searched for the function {function}{with_params} or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.")
    } else {
        format!("Searched for the function {function}{with_params}, but no matches were found in the schema cache.")
    };
    let hint = if single_object {
        None
    } else if let Some(overloads) = cache.routines.get(name) {
        overloads.first().map(|r| {
            let mut names: Vec<&str> = r.params.iter().map(|p| p.name.as_str()).collect();
            names.sort();
            format!("Perhaps you meant to call the function {function}({})", names.join(", "))
        })
    } else {
        closest(name, cache.routines.keys()).map(|other| format!("Perhaps you meant to call the function {}.{other}", cache.schema))
    };
    RestError::NoRpc { message, details, hint }
}

/// A name close to `name` (a shared prefix of most of it), for hints.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    candidates
        .map(|c| (c.chars().zip(name.chars()).take_while(|(a, b)| a == b).count(), c))
        .filter(|(shared, c)| *shared * 2 > name.len().max(c.len()))
        .max_by_key(|(shared, _)| *shared)
        .map(|(_, c)| c)
}

/// How `routine` takes its arguments (PostgREST's `callPlan`).
pub fn call_params(routine: &Routine, keys: &BTreeSet<String>, single_object: bool) -> CallParams {
    match routine.params.as_slice() {
        [param] if single_object || param.name.is_empty() => CallParams::Single(param.clone()),
        params => CallParams::Named(params.iter().filter(|p| keys.contains(&p.name)).cloned().collect()),
    }
}

/// Whether a call may change data: POST to a volatile function.
pub fn call_writes(routine: &Routine, post: bool) -> bool {
    post && routine.volatility == Volatility::Volatile
}

/// Pick the body handler for the first `Accept` type this API produces (PostgREST's `negotiateContent`).
pub fn negotiate(accepted: &[MediaType]) -> Result<(Handler, MediaType), RestError> {
    for media in accepted {
        let picked = match media {
            MediaType::Json | MediaType::Any => Some((Handler::JsonArray, MediaType::Json)),
            MediaType::SingularJson(strip) => Some((Handler::Single(*strip), media.clone())),
            MediaType::ArrayJsonStripped => Some((Handler::JsonArrayStripped, media.clone())),
            MediaType::Csv => Some((Handler::Csv, MediaType::Csv)),
            _ => None,
        };
        if let Some(picked) = picked {
            return Ok(picked);
        }
    }
    Err(RestError::MediaType(accepted.iter().map(MediaType::mime).collect()))
}
