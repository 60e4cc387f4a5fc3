//! The schema cache (PostgREST's `SchemaCache.hs`): the tables, views and
//! columns of the exposed schema, the foreign keys between them (both
//! directions), its callable functions, and the type names a `::cast` may
//! name. Every identifier of a request is resolved against it; nothing from a
//! request reaches SQL as text unless the cache knows it.
//!
//! It is read from the catalog at start and again whenever someone runs
//! `NOTIFY pgrst, 'reload schema'` (or an empty payload), as PostgREST does;
//! [`listen`] keeps the LISTEN connection and reconnects when it drops.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::error::RestError;

/// A column of a table or view.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub description: Option<String>,
    pub nullable: bool,
    /// The type without modifiers (`character varying`), as OpenAPI shows it.
    pub data_type: String,
    /// The full type (`character varying(20)`), used to read JSON payloads.
    pub nominal_type: String,
    pub max_length: Option<i32>,
    /// The default expression, as the catalog prints it.
    pub default: Option<String>,
    pub enum_values: Vec<String>,
}

/// A table, view or foreign table of the exposed schema.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub description: Option<String>,
    pub is_view: bool,
    pub insertable: bool,
    pub updatable: bool,
    pub deletable: bool,
    pub primary_key: Vec<String>,
    pub columns: Vec<Column>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    ManyToOne,
    OneToMany,
    /// `parent`: this side is referenced (the other side holds the key).
    OneToOne { parent: bool },
}

/// A foreign key seen from `table`: `columns` pairs `table`'s column with `foreign_table`'s.
#[derive(Debug, Clone)]
pub struct Relationship {
    pub table: String,
    pub foreign_table: String,
    pub constraint: String,
    pub columns: Vec<(String, String)>,
    pub cardinality: Cardinality,
    pub is_self: bool,
}

impl Relationship {
    pub fn to_one(&self) -> bool {
        !matches!(self.cardinality, Cardinality::OneToMany)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

/// An input parameter of a function.
#[derive(Debug, Clone)]
pub struct Param {
    /// Empty for an unnamed parameter.
    pub name: String,
    /// The type as `regtype` prints it (`uuid[]`, `jsonb`).
    pub type_name: String,
    pub required: bool,
    pub variadic: bool,
}

/// What a function returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Returns {
    /// A scalar (`jsonb`, `bigint`, `void`), `set_of` when `returns setof`.
    Scalar { type_name: String, set_of: bool },
    /// Rows: a table's row type (`relation`), or `returns table(...)`/OUT parameters.
    Composite { relation: Option<String>, set_of: bool },
}

/// A callable function of the exposed schema (one overload).
#[derive(Debug, Clone)]
pub struct Routine {
    pub name: String,
    pub description: Option<String>,
    pub params: Vec<Param>,
    pub returns: Returns,
    pub volatility: Volatility,
    /// The result's columns and their types (table columns, OUT or TABLE parameters).
    pub out_columns: Vec<(String, String)>,
}

impl Routine {
    pub fn returns_void(&self) -> bool {
        matches!(&self.returns, Returns::Scalar { type_name, set_of: false } if type_name == "void")
    }

    pub fn returns_scalar(&self) -> bool {
        matches!(self.returns, Returns::Scalar { set_of: false, .. })
    }

    pub fn returns_set_of_scalar(&self) -> bool {
        matches!(self.returns, Returns::Scalar { set_of: true, .. })
    }

    pub fn returns_single_composite(&self) -> bool {
        matches!(self.returns, Returns::Composite { set_of: false, .. })
    }

    pub fn returns_single(&self) -> bool {
        matches!(self.returns, Returns::Scalar { set_of: false, .. } | Returns::Composite { set_of: false, .. })
    }
}

/// Everything a request is resolved against.
#[derive(Debug, Default)]
pub struct SchemaCache {
    pub schema: String,
    pub tables: HashMap<String, Table>,
    /// Relationships by the table they start from.
    pub relationships: HashMap<String, Vec<Relationship>>,
    /// Overloads by name, fewest parameters first.
    pub routines: HashMap<String, Vec<Routine>>,
    /// Type names a cast may use (lower case, as typed) → the type as SQL text.
    pub types: HashMap<String, String>,
    pub description: Option<String>,
}

impl SchemaCache {
    /// The SQL text of the type a request's `::cast` names, if it is a known type.
    pub fn cast_type(&self, requested: &str) -> Option<&str> {
        let normalised = requested.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase();
        let normalised = match normalised.as_str() {
            "int" => "integer",
            "float" => "double precision",
            "decimal" | "dec" => "numeric",
            "char" => "character",
            other => other,
        };
        self.types.get(normalised).map(String::as_str)
    }
}

/// The cache, swapped whole on reload.
pub type SharedCache = Arc<RwLock<Arc<SchemaCache>>>;

const TABLES: &str = "
select c.relname::text, d.description,
       c.relkind in ('v', 'm'),
       c.relkind in ('r', 'p') or (c.relkind in ('v', 'f') and (pg_relation_is_updatable(c.oid::regclass, true) & 8) = 8),
       c.relkind in ('r', 'p') or (c.relkind in ('v', 'f') and (pg_relation_is_updatable(c.oid::regclass, true) & 4) = 4),
       c.relkind in ('r', 'p') or (c.relkind in ('v', 'f') and (pg_relation_is_updatable(c.oid::regclass, true) & 16) = 16),
       coalesce((select array_agg(a.attname::text order by k.ord)
                 from pg_constraint pk
                 cross join lateral unnest(pk.conkey) with ordinality as k(attnum, ord)
                 join pg_attribute a on a.attrelid = pk.conrelid and a.attnum = k.attnum
                 where pk.conrelid = c.oid and pk.contype = 'p'), '{}')
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join pg_description d on d.objoid = c.oid and d.objsubid = 0 and d.classoid = 'pg_class'::regclass
where c.relkind in ('r', 'v', 'm', 'f', 'p') and n.nspname = $1 and not c.relispartition";

const COLUMNS: &str = "
select c.relname::text, a.attname::text, d.description,
       not (a.attnotnull or (t.typtype = 'd' and t.typnotnull)),
       case when t.typtype = 'd' then
                case when btn.nspname = 'pg_catalog' then format_type(t.typbasetype, null)
                     else format_type(a.atttypid, a.atttypmod) end
            else
                case when tn.nspname = 'pg_catalog' then format_type(a.atttypid, null)
                     else format_type(a.atttypid, a.atttypmod) end
       end,
       format_type(a.atttypid, a.atttypmod),
       information_schema._pg_char_max_length(information_schema._pg_truetypid(a.*, t.*),
                                              information_schema._pg_truetypmod(a.*, t.*))::int4,
       case when a.attgenerated = 's' then null
            when t.typbasetype <> 0 and ad.adbin is null then pg_get_expr(t.typdefaultbin, 0)
            else pg_get_expr(ad.adbin, ad.adrelid) end,
       coalesce((select array_agg(e.enumlabel::text order by e.enumsortorder)
                 from pg_enum e where e.enumtypid = coalesce(nullif(t.typbasetype, 0), t.oid)), '{}')
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_type t on t.oid = a.atttypid
join pg_namespace tn on tn.oid = t.typnamespace
left join pg_type bt on t.typtype = 'd' and bt.oid = t.typbasetype
left join pg_namespace btn on btn.oid = bt.typnamespace
left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
left join pg_description d on d.objoid = a.attrelid and d.objsubid = a.attnum and d.classoid = 'pg_class'::regclass
where a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'v', 'm', 'f', 'p') and n.nspname = $1
order by c.relname, a.attnum";

/// Foreign keys between two relations of the exposed schema; `one_to_one` when
/// the referencing columns are also a primary key or unique constraint.
const RELATIONSHIPS: &str = "
select tab.relname::text, other.relname::text, traint.conname::text,
       array_agg(cols.attname::text order by ord), array_agg(refs.attname::text order by ord),
       exists (select 1 from pg_constraint u
               where u.conrelid = traint.conrelid and u.contype in ('p', 'u')
                 and u.conkey::int2[] @> traint.conkey::int2[] and u.conkey::int2[] <@ traint.conkey::int2[])
from pg_constraint traint
cross join lateral unnest(traint.conkey, traint.confkey) with ordinality as k(col, ref, ord)
join pg_attribute cols on cols.attrelid = traint.conrelid and cols.attnum = k.col
join pg_attribute refs on refs.attrelid = traint.confrelid and refs.attnum = k.ref
join pg_class tab on tab.oid = traint.conrelid
join pg_namespace ns1 on ns1.oid = tab.relnamespace
join pg_class other on other.oid = traint.confrelid
join pg_namespace ns2 on ns2.oid = other.relnamespace
where traint.contype = 'f' and traint.conparentid = 0 and ns1.nspname = $1 and ns2.nspname = $1
group by traint.oid, tab.relname, other.relname, traint.conname, traint.conrelid, traint.conkey
order by traint.conrelid, traint.conname";

/// Callable functions: every parameter named, or a single unnamed json/jsonb/text/xml/bytea one.
const ROUTINES: &str = "
select p.proname::text, d.description, p.provolatile::text, p.proretset, p.pronargs::int4, p.pronargdefaults::int4,
       rt.typtype::text, format_type(rt.oid, null), comp.relname::text,
       coalesce(array(select coalesce(a.name, '') from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames, p.proargmodes::text[]) with ordinality a(type, name, mode, ord) order by a.ord), '{}'),
       coalesce(array(select format_type(a.type, null) from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames, p.proargmodes::text[]) with ordinality a(type, name, mode, ord) order by a.ord), '{}'),
       coalesce(array(select coalesce(a.mode, 'i') from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames, p.proargmodes::text[]) with ordinality a(type, name, mode, ord) order by a.ord), '{}')
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type rt on rt.oid = p.prorettype
left join pg_class comp on comp.oid = rt.typrelid and rt.typtype = 'c'
left join pg_description d on d.objoid = p.oid and d.classoid = 'pg_proc'::regclass
where n.nspname = $1 and p.prokind = 'f' and rt.oid <> 'trigger'::regtype";

/// Types a cast may name: base, domain, enum, range and multirange types of pg_catalog and the exposed schema.
const TYPES: &str = "
select t.typname::text, format_type(t.oid, null)
from pg_type t join pg_namespace n on n.oid = t.typnamespace
where n.nspname in ('pg_catalog', $1) and t.typtype in ('b', 'd', 'e', 'r', 'm') and t.typisdefined";

const SCHEMA_DESCRIPTION: &str =
    "select d.description from pg_namespace n left join pg_description d on d.objoid = n.oid where n.nspname = $1";

/// Read the cache of `schema` from the catalog, in one transaction with an
/// empty search path so every printed name outside it is schema-qualified.
pub async fn load(client: &mut tokio_postgres::Client, schema: &str) -> Result<SchemaCache, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.batch_execute("set local search_path = ''").await?;
    let mut tables: HashMap<String, Table> = HashMap::new();
    for row in tx.query(TABLES, &[&schema]).await? {
        let name: String = row.get(0);
        tables.insert(
            name.clone(),
            Table {
                name,
                description: row.get(1),
                is_view: row.get(2),
                insertable: row.get(3),
                updatable: row.get(4),
                deletable: row.get(5),
                primary_key: row.get(6),
                columns: Vec::new(),
            },
        );
    }
    for row in tx.query(COLUMNS, &[&schema]).await? {
        let table: String = row.get(0);
        if let Some(table) = tables.get_mut(&table) {
            table.columns.push(Column {
                name: row.get(1),
                description: row.get(2),
                nullable: row.get(3),
                data_type: row.get(4),
                nominal_type: row.get(5),
                max_length: row.get(6),
                default: row.get(7),
                enum_values: row.get(8),
            });
        }
    }

    let mut relationships: HashMap<String, Vec<Relationship>> = HashMap::new();
    for row in tx.query(RELATIONSHIPS, &[&schema]).await? {
        let table: String = row.get(0);
        let foreign_table: String = row.get(1);
        let constraint: String = row.get(2);
        let cols: Vec<String> = row.get(3);
        let refs: Vec<String> = row.get(4);
        let one_to_one: bool = row.get(5);
        let is_self = table == foreign_table;
        let pairs: Vec<(String, String)> = cols.iter().cloned().zip(refs.iter().cloned()).collect();
        let (forward, inverse) = if one_to_one {
            (Cardinality::OneToOne { parent: false }, Cardinality::OneToOne { parent: true })
        } else {
            (Cardinality::ManyToOne, Cardinality::OneToMany)
        };
        relationships.entry(table.clone()).or_default().push(Relationship {
            table: table.clone(),
            foreign_table: foreign_table.clone(),
            constraint: constraint.clone(),
            columns: pairs.clone(),
            cardinality: forward,
            is_self,
        });
        relationships.entry(foreign_table.clone()).or_default().push(Relationship {
            table: foreign_table,
            foreign_table: table,
            constraint,
            columns: pairs.into_iter().map(|(a, b)| (b, a)).collect(),
            cardinality: inverse,
            is_self,
        });
    }

    let mut routines: HashMap<String, Vec<Routine>> = HashMap::new();
    for row in tx.query(ROUTINES, &[&schema]).await? {
        if let Some(routine) = routine_from_row(&row, &tables) {
            routines.entry(routine.name.clone()).or_default().push(routine);
        }
    }
    for overloads in routines.values_mut() {
        overloads.sort_by_key(|r| r.params.len());
    }

    let mut types = HashMap::new();
    for row in tx.query(TYPES, &[&schema]).await? {
        let typname: String = row.get(0);
        let formatted: String = row.get(1);
        types.insert(formatted.to_ascii_lowercase(), formatted.clone());
        types.entry(typname.to_ascii_lowercase()).or_insert(formatted);
    }
    let description = tx.query_opt(SCHEMA_DESCRIPTION, &[&schema]).await?.and_then(|row| row.get(0));
    tx.commit().await?;
    Ok(SchemaCache { schema: schema.to_owned(), tables, relationships, routines, types, description })
}

fn routine_from_row(row: &tokio_postgres::Row, tables: &HashMap<String, Table>) -> Option<Routine> {
    let name: String = row.get(0);
    let volatility = match row.get::<_, String>(2).as_str() {
        "i" => Volatility::Immutable,
        "s" => Volatility::Stable,
        _ => Volatility::Volatile,
    };
    let set_of: bool = row.get(3);
    let nargs: i32 = row.get(4);
    let ndefaults: i32 = row.get(5);
    let typtype: String = row.get(6);
    let return_type: String = row.get(7);
    let relation: Option<String> = row.get(8);
    let names: Vec<String> = row.get(9);
    let arg_types: Vec<String> = row.get(10);
    let modes: Vec<String> = row.get(11);

    let mut params = Vec::new();
    let mut out_columns = Vec::new();
    for ((name, type_name), mode) in names.iter().zip(arg_types.iter()).zip(modes.iter()) {
        if matches!(mode.as_str(), "o" | "b" | "t") {
            out_columns.push((name.clone(), type_name.clone()));
        }
        if matches!(mode.as_str(), "i" | "b" | "v") {
            let index = params.len() as i32;
            params.push(Param {
                name: name.clone(),
                type_name: type_name.clone(),
                required: index < nargs - ndefaults,
                variadic: mode == "v",
            });
        }
    }
    let unnamed = params.iter().filter(|p| p.name.is_empty()).count();
    let callable = match unnamed {
        0 => true,
        1 => params.len() == 1 && ["bytea", "json", "jsonb", "text", "xml"].contains(&params[0].type_name.as_str()),
        _ => false,
    };
    if !callable {
        return None;
    }
    let composite = typtype == "c" || !out_columns.is_empty() && return_type == "record";
    let returns = if composite {
        if let Some(table) = relation.as_ref().and_then(|r| tables.get(r)) {
            out_columns = table.columns.iter().map(|c| (c.name.clone(), c.nominal_type.clone())).collect();
        }
        Returns::Composite { relation, set_of }
    } else {
        Returns::Scalar { type_name: return_type, set_of }
    };
    Some(Routine { name, description: row.get(1), params, returns, volatility, out_columns })
}

/// Keep `cache` in step with the catalog: LISTEN on channel `pgrst` and reload
/// on `reload schema` (or an empty payload), and after every reconnection.
/// Returns when `stop` fires (the API was dropped).
///
/// Prepared statements of the request pool are dropped on every reload: a
/// changed table can change what a cached statement returns.
pub async fn listen(
    config: tokio_postgres::Config,
    cache: SharedCache,
    pool: deadpool_postgres::Pool,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let schema = cache.read().map(|c| c.schema.clone()).unwrap_or_else(|e| e.into_inner().schema.clone());
    let mut backoff = Duration::from_millis(100);
    loop {
        let session = async {
            let (mut client, mut connection) = config.connect(NoTls).await?;
            let (notices, mut notifications) = tokio::sync::mpsc::unbounded_channel();
            let driver = tokio::spawn(async move {
                let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                while let Some(message) = messages.next().await {
                    match message {
                        Ok(AsyncMessage::Notification(n)) => {
                            let _ = notices.send(n.payload().to_owned());
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            });
            client.batch_execute("listen pgrst").await?;
            // Whatever changed while we were not listening is read now.
            reload(&mut client, &schema, &cache, &pool).await;
            while let Some(payload) = notifications.recv().await {
                if payload.is_empty() || payload == "reload schema" {
                    reload(&mut client, &schema, &cache, &pool).await;
                }
            }
            driver.abort();
            Ok::<(), tokio_postgres::Error>(())
        };
        tokio::select! {
            _ = &mut stop => return,
            result = session => match result {
                // The connection ended after working: reconnect soon.
                Ok(()) => backoff = Duration::from_millis(100),
                Err(err) => tracing::warn!("rest api: schema cache listener: {err}"),
            }
        }
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn reload(client: &mut tokio_postgres::Client, schema: &str, cache: &SharedCache, pool: &deadpool_postgres::Pool) {
    match load(client, schema).await {
        Ok(fresh) => {
            *cache.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
            pool.manager().statement_caches.clear();
            tracing::info!("rest api: schema cache reloaded");
        }
        Err(err) => tracing::warn!("rest api: schema cache reload failed: {err}"),
    }
}

/// Read the first cache, failing startup with a readable reason.
pub async fn initial(config: &tokio_postgres::Config, schema: &str) -> Result<SchemaCache, RestError> {
    let (mut client, connection) =
        config.connect(NoTls).await.map_err(|e| RestError::Startup(format!("cannot reach the database: {e}")))?;
    let driver = tokio::spawn(connection);
    let cache = load(&mut client, schema).await.map_err(|e| RestError::Startup(format!("cannot read the schema cache: {e}")));
    drop(client);
    let _ = driver.await;
    cache
}
