//! `GET /` : the OpenAPI (Swagger 2.0) description PostgREST serves
//! (`Response/OpenAPI.hs`), following privileges as its default
//! `openapi-mode = follow-privileges` does: only the tables and functions the
//! caller's role may use are listed. Enough for tooling to list the tables,
//! their columns and the RPCs with their parameters.

use serde_json::{json, Map, Value};

use crate::schema::{Cardinality, Column, Routine, SchemaCache, Table, Volatility};
use crate::sql::Sql;

/// The names the caller's role may use: tables/views, then functions, as two JSON arrays.
pub fn accessible(schema: &str) -> Sql {
    Sql {
        text: "select coalesce((select json_agg(c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace \
               where c.relkind in ('v', 'r', 'm', 'f', 'p') and n.nspname = $1 and not c.relispartition \
               and (pg_has_role(c.relowner, 'USAGE') \
                    or has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') \
                    or has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))), '[]')::text AS total_result_set, \
               coalesce((select json_agg(distinct p.proname) from pg_proc p join pg_namespace n on n.oid = p.pronamespace \
               where n.nspname = $1 and has_function_privilege(p.oid, 'execute')), '[]')::text AS body"
            .into(),
        params: vec![Some(schema.to_owned())],
    }
}

fn swagger_type(data_type: &str) -> Option<&'static str> {
    match data_type {
        "character varying" | "character" | "text" => Some("string"),
        "boolean" => Some("boolean"),
        "smallint" | "integer" | "bigint" => Some("integer"),
        "numeric" | "real" | "double precision" => Some("number"),
        "json" | "jsonb" => None,
        other if other.ends_with("[]") => Some("array"),
        _ => Some("string"),
    }
}

fn property(cache: &SchemaCache, table: &Table, column: &Column) -> Value {
    let mut notes = vec!["Note:".to_owned()];
    if table.primary_key.contains(&column.name) {
        notes.push("This is a Primary Key.<pk/>".into());
    }
    let foreign = cache.relationships.get(&table.name).and_then(|rels| {
        rels.iter().find(|r| {
            matches!(r.cardinality, Cardinality::ManyToOne | Cardinality::OneToOne { parent: false })
                && r.columns.len() == 1
                && r.columns[0].0 == column.name
        })
    });
    if let Some(rel) = foreign {
        let (table, col) = (&rel.foreign_table, &rel.columns[0].1);
        notes.push(format!("This is a Foreign Key to `{table}.{col}`.<fk table='{table}' column='{col}'/>"));
    }
    let description = if notes.len() > 1 {
        Some(format!("{}{}", column.description.as_ref().map(|d| format!("{d}\n\n")).unwrap_or_default(), notes.join("\n")))
    } else {
        column.description.clone()
    };
    let mut schema = Map::new();
    schema.insert("format".into(), json!(column.nominal_type));
    if let Some(kind) = swagger_type(&column.data_type) {
        schema.insert("type".into(), json!(kind));
        if kind == "array" {
            if let Some(item) = swagger_type(column.data_type.trim_end_matches("[]")) {
                schema.insert("items".into(), json!({"type": item}));
            }
        }
    }
    if let Some(description) = description {
        schema.insert("description".into(), json!(description));
    }
    if let Some(default) = &column.default {
        schema.insert("default".into(), json!(default));
    }
    if let Some(max) = column.max_length {
        schema.insert("maxLength".into(), json!(max));
    }
    if !column.enum_values.is_empty() {
        schema.insert("enum".into(), json!(column.enum_values));
    }
    Value::Object(schema)
}

fn table_paths(table: &Table) -> Value {
    let name = &table.name;
    let reference = |p: &str| json!({"$ref": format!("#/parameters/{p}")});
    let row_filters: Vec<Value> =
        table.columns.iter().map(|c| json!({"$ref": format!("#/parameters/rowFilter.{name}.{}", c.name)})).collect();
    let mut get_params = row_filters.clone();
    get_params.extend(["select", "order", "range", "rangeUnit", "offset", "limit", "preferCount"].map(reference));
    let ok = json!({"200": {"description": "OK", "schema": {"type": "array", "items": {"$ref": format!("#/definitions/{name}")}}},
                    "206": {"description": "Partial Content"}});
    let mut path = Map::new();
    path.insert("get".into(), json!({"tags": [name], "summary": table.description, "parameters": get_params, "responses": ok}));
    if table.insertable {
        path.insert("post".into(), json!({"tags": [name], "summary": table.description,
            "parameters": [reference(&format!("body.{name}")), reference("select"), reference("preferPost")],
            "responses": {"201": {"description": "Created"}}}));
    }
    if table.updatable {
        let mut params = row_filters.clone();
        params.extend([reference(&format!("body.{name}")), reference("preferReturn")]);
        path.insert("patch".into(), json!({"tags": [name], "summary": table.description, "parameters": params,
            "responses": {"204": {"description": "No Content"}}}));
    }
    if table.deletable {
        let mut params = row_filters;
        params.push(reference("preferReturn"));
        path.insert("delete".into(), json!({"tags": [name], "summary": table.description, "parameters": params,
            "responses": {"204": {"description": "No Content"}}}));
    }
    Value::Object(path)
}

fn routine_path(routine: &Routine) -> Value {
    let properties: Map<String, Value> = routine
        .params
        .iter()
        .map(|p| (p.name.clone(), json!({"format": p.type_name, "type": swagger_type(&p.type_name).unwrap_or("string")})))
        .collect();
    let required: Vec<&str> = routine.params.iter().filter(|p| p.required).map(|p| p.name.as_str()).collect();
    let body = json!({"in": "body", "name": "args", "required": true,
        "schema": {"type": "object", "required": required, "properties": properties}});
    let responses = json!({"200": {"description": "OK"}});
    let mut path = Map::new();
    path.insert("post".into(), json!({"tags": ["(rpc) ".to_owned() + &routine.name], "summary": routine.description,
        "produces": ["application/json", "application/vnd.pgrst.object+json"],
        "parameters": [body, {"$ref": "#/parameters/preferParams"}], "responses": responses}));
    if routine.volatility != Volatility::Volatile {
        let params: Vec<Value> = routine
            .params
            .iter()
            .map(|p| json!({"in": "query", "name": p.name, "required": p.required, "format": p.type_name,
                            "type": swagger_type(&p.type_name).unwrap_or("string")}))
            .collect();
        path.insert("get".into(), json!({"tags": ["(rpc) ".to_owned() + &routine.name], "summary": routine.description,
            "parameters": params, "responses": responses}));
    }
    Value::Object(path)
}

/// The document for the tables and functions named in `tables`/`functions` (those the role may use).
pub fn document(cache: &SchemaCache, tables: &[String], functions: &[String], host: &str) -> Value {
    let mut paths = Map::new();
    paths.insert("/".into(), json!({"get": {"tags": ["Introspection"], "summary": "OpenAPI description (this document)",
        "produces": ["application/openapi+json", "application/json"], "responses": {"200": {"description": "OK"}}}}));
    let mut definitions = Map::new();
    let mut parameters = Map::new();
    let mut listed: Vec<&Table> = tables.iter().filter_map(|t| cache.tables.get(t)).collect();
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    for table in listed {
        paths.insert(format!("/{}", table.name), table_paths(table));
        let properties: Map<String, Value> =
            table.columns.iter().map(|c| (c.name.clone(), property(cache, table, c))).collect();
        let required: Vec<&str> =
            table.columns.iter().filter(|c| !c.nullable && c.default.is_none()).map(|c| c.name.as_str()).collect();
        definitions.insert(
            table.name.clone(),
            json!({"type": "object", "description": table.description, "properties": properties, "required": required}),
        );
        parameters.insert(
            format!("body.{}", table.name),
            json!({"name": table.name, "in": "body", "required": false, "description": table.name,
                   "schema": {"$ref": format!("#/definitions/{}", table.name)}}),
        );
        for column in &table.columns {
            parameters.insert(
                format!("rowFilter.{}.{}", table.name, column.name),
                json!({"name": column.name, "in": "query", "required": false, "type": "string", "format": column.nominal_type}),
            );
        }
    }
    let mut names: Vec<&String> = functions.iter().filter(|f| cache.routines.contains_key(*f)).collect();
    names.sort();
    for name in names {
        for routine in &cache.routines[name] {
            paths.insert(format!("/rpc/{}", routine.name), routine_path(routine));
        }
    }
    for (name, value) in [
        ("select", json!({"name": "select", "description": "Filtering Columns", "required": false, "in": "query", "type": "string"})),
        ("order", json!({"name": "order", "description": "Ordering", "required": false, "in": "query", "type": "string"})),
        ("range", json!({"name": "Range", "description": "Limiting and Pagination", "required": false, "in": "header", "type": "string"})),
        ("rangeUnit", json!({"name": "Range-Unit", "description": "Limiting and Pagination", "required": false, "default": "items", "in": "header", "type": "string"})),
        ("offset", json!({"name": "offset", "description": "Limiting and Pagination", "required": false, "in": "query", "type": "string"})),
        ("limit", json!({"name": "limit", "description": "Limiting and Pagination", "required": false, "in": "query", "type": "string"})),
        ("preferParams", json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["params=single-object"], "in": "header", "type": "string"})),
        ("preferReturn", json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["return=representation", "return=minimal", "return=none"], "in": "header", "type": "string"})),
        ("preferCount", json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["count=none"], "in": "header", "type": "string"})),
        ("preferPost", json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["return=representation", "return=minimal", "return=none", "resolution=ignore-duplicates", "resolution=merge-duplicates"], "in": "header", "type": "string"})),
    ] {
        parameters.insert(name.into(), value);
    }
    json!({
        "swagger": "2.0",
        "info": {"description": cache.description.clone().unwrap_or_default(), "title": "standard public schema", "version": "12.2.12"},
        "host": host,
        "basePath": "/rest/v1",
        "schemes": ["http"],
        "consumes": ["application/json", "application/vnd.pgrst.object+json;nulls=stripped", "application/vnd.pgrst.object+json", "text/csv"],
        "produces": ["application/json", "application/vnd.pgrst.object+json;nulls=stripped", "application/vnd.pgrst.object+json", "text/csv"],
        "paths": paths,
        "definitions": definitions,
        "parameters": parameters,
    })
}
