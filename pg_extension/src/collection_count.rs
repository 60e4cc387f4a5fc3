//! `update_collection_asset_count()`: keeps `user_collections.asset_count`
//! equal to the number of `user_library` rows in each collection.
//!
//! The seed's version only handled INSERT and DELETE, one row at a time, so
//! moving an item between collections (UPDATE of `collection_id`) or deleting
//! a collection (which `ON DELETE SET NULL` turns into UPDATEs of
//! `user_library`) made counts drift, and a 1000-row import updated its
//! collections 1000 times. Here the trigger fires once per statement
//! (`collections.sql`) with the statement's rows as transition tables, and
//! sums per collection +1 for every new row and -1 for every old one: an
//! insert, a delete and a move are the same rule, an update that moves
//! nothing sums to zero, and 1000 rows into 100 collections are 100 changes
//! in one UPDATE. The `asset_count >= 0` check on the table turns an
//! impossible decrement into an error instead of a silent negative count.
//!
//! A transaction's first statement with changes applies them at once (and
//! says so in the transaction-local setting `ourvidz.collection_counts_applied`);
//! its later statements record them in `ourvidz_private.pending_collection_counts`,
//! applied once at commit by a deferred trigger. Updating one collection row
//! once per statement of a long transaction leaves a row version per
//! statement, and each update walks past the earlier ones; this keeps it to
//! two updates per transaction (see `collections.sql`).
//!
//! Transition tables are read straight from their tuplestores and both
//! statements are prepared once per backend (SPI_keepplan).
//! The plpgsql twin is in `sql/twins/collection_count.sql`.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::ffi::CStr;

use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiResult};

thread_local! {
    static APPLY_NOW: OnceCell<OwnedPreparedStatement> = const { OnceCell::new() };
    static APPLY_AT_COMMIT: OnceCell<OwnedPreparedStatement> = const { OnceCell::new() };
}

/// Where the transaction is (a transaction-local setting, shared with the
/// twin and `collections.sql`'s apply): unset, nothing applied yet;
/// `applied`, counts applied and nothing waiting; `queued`, sums waiting in
/// `pending_collection_counts` with their apply queued.
const STATE: &CStr = c"ourvidz.collection_counts";

const UPDATE_COUNTS: &str = "
    update public.user_collections c
    set asset_count = c.asset_count + d.delta
    from unnest($1::uuid[], $2::integer[]) as d (id, delta)
    where c.id = d.id";

const RECORD_COUNTS: &str = "
    insert into ourvidz_private.pending_collection_counts (collection_id, delta, queue_flush)
    select d.id, d.delta, $3 from unnest($1::uuid[], $2::integer[]) as d (id, delta)";

#[derive(Debug, thiserror::Error)]
pub enum CountError {
    #[error("update_collection_asset_count() must be an AFTER STATEMENT trigger on user_library: {0}")]
    Misuse(#[from] PgTriggerError),
    #[error("update_collection_asset_count() must be an AFTER STATEMENT trigger with transition tables")]
    NotPerStatement,
    #[error("update_collection_asset_count(): user_library has no collection_id column")]
    NoColumn,
    #[error("update_collection_asset_count(): a count cannot change by {0} in one statement")]
    OutOfRange(i64),
    #[error("update_collection_asset_count(): {0}")]
    Spi(#[from] pgrx::spi::SpiError),
}

/// Net change per collection, in uuid (byte) order.
type Deltas = BTreeMap<[u8; 16], i64>;

/// Add `delta` for the collection of every row of a transition table.
///
/// # Safety
/// `store` is a transition table of the firing trigger, whose rows have the
/// row type `tupdesc` describes, and `attno` is collection_id's number in it.
unsafe fn add_rows(
    deltas: &mut Deltas,
    store: *mut pg_sys::Tuplestorestate,
    tupdesc: pg_sys::TupleDesc,
    attno: i32,
    delta: i64,
) {
    if store.is_null() {
        return;
    }
    let slot = pg_sys::MakeSingleTupleTableSlot(tupdesc, &pg_sys::TTSOpsMinimalTuple);
    // Read pointer 0 may be anywhere; leave it rewound for any later reader.
    pg_sys::tuplestore_rescan(store);
    while pg_sys::tuplestore_gettupleslot(store, true, false, slot) {
        let mut is_null = false;
        let datum = pg_sys::slot_getattr(slot, attno, &mut is_null);
        if !is_null {
            let bytes = std::ptr::read(datum.cast_mut_ptr::<[u8; 16]>());
            *deltas.entry(bytes).or_insert(0) += delta;
        }
    }
    pg_sys::tuplestore_rescan(store);
    pg_sys::ExecDropSingleTupleTableSlot(slot);
}

/// The statement's sums: +1 per row of the new table, -1 per row of the old.
fn statement_deltas(trigger: &PgTrigger<'_>) -> Result<Deltas, CountError> {
    if !matches!(trigger.level(), PgTriggerLevel::Statement) {
        return Err(CountError::NotPerStatement);
    }
    let data = trigger.trigger_data();
    // SAFETY: Postgres gives a firing trigger its open relation.
    let tupdesc = unsafe { (*data.tg_relation).rd_att };
    // SAFETY: tupdesc is the relation's, alive for the trigger's call.
    let attno = unsafe { pg_sys::SPI_fnumber(tupdesc, c"collection_id".as_ptr()) };
    if attno <= 0 {
        return Err(CountError::NoColumn);
    }
    let mut deltas = Deltas::new();
    // SAFETY: the transition tables belong to this firing trigger and hold
    // rows of the trigger's relation, described by tupdesc.
    unsafe {
        add_rows(&mut deltas, data.tg_newtable, tupdesc, attno, 1);
        add_rows(&mut deltas, data.tg_oldtable, tupdesc, attno, -1);
    }
    Ok(deltas)
}

/// What the transaction did with counts so far.
#[derive(Debug, PartialEq)]
enum State {
    Nothing,
    Applied,
    Queued,
}

fn state() -> State {
    // SAFETY: a NUL-terminated name; missing_ok, so an unset setting is NULL.
    let value = unsafe { pg_sys::GetConfigOption(STATE.as_ptr(), true, false) };
    if value.is_null() {
        return State::Nothing;
    }
    // SAFETY: a non-NULL value is a NUL-terminated string owned by the GUC.
    match unsafe { CStr::from_ptr(value) }.to_bytes() {
        b"applied" => State::Applied,
        b"queued" => State::Queued,
        _ => State::Nothing,
    }
}

fn set_state(value: &CStr) {
    // SAFETY: NUL-terminated name and value; as set_config(name, value, true).
    unsafe {
        pg_sys::set_config_option(
            STATE.as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            0,
            false,
        );
    }
}

/// Run one of the kept statements; returns how many rows it wrote.
fn run(
    client: &mut pgrx::spi::SpiClient<'_>,
    cell: &'static std::thread::LocalKey<OnceCell<OwnedPreparedStatement>>,
    sql: &str,
    args: Vec<pgrx::datum::DatumWithOid<'_>>,
) -> SpiResult<usize> {
    cell.with(|cell| {
        let statement = match cell.get() {
            Some(statement) => statement,
            None => {
                let types: Vec<PgOid> = args.iter().map(|arg| PgOid::from(arg.oid())).collect();
                let prepared = client.prepare_mut(sql, &types)?;
                cell.get_or_init(|| prepared.keep())
            }
        };
        Ok(client.update(statement, None, &args)?.len())
    })
}

#[pg_trigger]
fn update_collection_asset_count<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, CountError> {
    let mut ids = Vec::new();
    let mut deltas = Vec::new();
    // A row that stayed in its collection sums to zero: nothing to write.
    for (id, delta) in statement_deltas(trigger)?.into_iter().filter(|&(_, delta)| delta != 0) {
        ids.push(pgrx::Uuid::from_bytes(id));
        deltas.push(i32::try_from(delta).map_err(|_| CountError::OutOfRange(delta))?);
    }
    if ids.is_empty() {
        return Ok(None);
    }
    match state() {
        State::Nothing => {
            let updated = Spi::connect_mut(|client| run(client, &APPLY_NOW, UPDATE_COUNTS, vec![ids.into(), deltas.into()]))?;
            if updated > 0 {
                set_state(c"applied");
            }
        }
        waiting => {
            // Said before the insert: when the apply runs at once
            // (`set constraints ... immediate`), it resets the state itself.
            let queue_flush = waiting == State::Applied;
            if queue_flush {
                set_state(c"queued");
            }
            Spi::connect_mut(|client| {
                run(client, &APPLY_AT_COMMIT, RECORD_COUNTS, vec![ids.into(), deltas.into(), queue_flush.into()])
            })?;
        }
    }
    Ok(None)
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    /// Every pg_test is one transaction: apply each statement's sums at its
    /// end, as a transaction of one statement would.
    const EVERY_STATEMENT: &str = "set constraints ourvidz_private.apply_pending_collection_counts immediate";

    fn counts() -> (Option<i32>, Option<i32>) {
        Spi::get_two::<i32, i32>(
            "select (select asset_count from user_collections where name = 'a'),
                    (select asset_count from user_collections where name = 'b')",
        )
        .unwrap()
    }

    fn two_collections(user: &str) {
        Spi::run(&format!(
            "insert into auth.users (id) values ('{user}');
             insert into user_collections (id, user_id, name) values
               ('00000000-0000-4000-8000-0000000000a1', '{user}', 'a'),
               ('00000000-0000-4000-8000-0000000000b1', '{user}', 'b');"
        ))
        .unwrap();
    }

    fn add_items(user: &str, first: i32, last: i32, collection: &str) {
        Spi::run(&format!(
            "insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type,
                                       original_prompt, model_used, collection_id)
             select '{user}', 'image', '{user}/' || g || '.png', 1, 'image/png', 'p', 'm', {collection}
             from generate_series({first}, {last}) g"
        ))
        .unwrap();
    }

    #[pg_test]
    fn counts_follow_inserts_moves_deletes_and_collection_removal() {
        let user = "00000000-0000-4000-8000-000000000001";
        Spi::run(EVERY_STATEMENT).unwrap();
        two_collections(user);
        add_items(user, 1, 5, "'00000000-0000-4000-8000-0000000000a1'");
        add_items(user, 6, 6, "null");
        Spi::run(
            "update user_library set collection_id = '00000000-0000-4000-8000-0000000000b1'
             where storage_path like '%/1.png' or storage_path like '%/2.png';
             delete from user_library where storage_path like '%/3.png' or storage_path like '%/6.png';",
        )
        .unwrap();
        assert_eq!(counts(), (Some(2), Some(2)));
        Spi::run("delete from user_collections where name = 'a'").unwrap();
        assert_eq!(counts(), (None, Some(2)));
        let loose = Spi::get_one::<i64>("select count(*) from user_library where collection_id is null");
        assert_eq!(loose, Ok(Some(2)));
    }

    #[pg_test]
    fn a_statement_mixing_collections_applies_each_net_change() {
        let user = "00000000-0000-4000-8000-000000000003";
        Spi::run(EVERY_STATEMENT).unwrap();
        two_collections(user);
        add_items(
            user,
            1,
            30,
            "case g % 3 when 0 then '00000000-0000-4000-8000-0000000000a1'::uuid
                       when 1 then '00000000-0000-4000-8000-0000000000b1'::uuid end",
        );
        assert_eq!(counts(), (Some(10), Some(10)));
        // a swap moves rows both ways in one statement: the counts stay
        Spi::run(
            "update user_library set collection_id = case when collection_id = '00000000-0000-4000-8000-0000000000a1'
                                                         then '00000000-0000-4000-8000-0000000000b1'::uuid
                                                         else '00000000-0000-4000-8000-0000000000a1'::uuid end
             where collection_id is not null",
        )
        .unwrap();
        assert_eq!(counts(), (Some(10), Some(10)));
        Spi::run("delete from user_library where collection_id = '00000000-0000-4000-8000-0000000000a1' or collection_id is null")
            .unwrap();
        assert_eq!(counts(), (Some(0), Some(10)));
    }

    #[pg_test]
    fn later_statements_of_a_transaction_apply_at_its_commit() {
        let user = "00000000-0000-4000-8000-000000000004";
        two_collections(user);
        add_items(user, 1, 2, "'00000000-0000-4000-8000-0000000000a1'");
        add_items(user, 3, 3, "'00000000-0000-4000-8000-0000000000a1'");
        add_items(user, 4, 4, "'00000000-0000-4000-8000-0000000000b1'");
        // the first statement applied at once; the others wait for the commit
        assert_eq!(counts(), (Some(2), Some(0)));
        let pending = Spi::get_one::<i64>("select sum(delta) from ourvidz_private.pending_collection_counts");
        assert_eq!(pending, Ok(Some(2)));
        // which `set constraints ... immediate` brings forward
        Spi::run(EVERY_STATEMENT).unwrap();
        assert_eq!(counts(), (Some(3), Some(1)));
        let left = Spi::get_one::<i64>("select count(*) from ourvidz_private.pending_collection_counts");
        assert_eq!(left, Ok(Some(0)));
    }

    #[pg_test(error = "new row for relation \"user_collections\" violates check constraint \"user_collections_asset_count_check\"")]
    fn a_count_never_goes_negative_silently() {
        let user = "00000000-0000-4000-8000-000000000002";
        Spi::run(EVERY_STATEMENT).unwrap();
        two_collections(user);
        add_items(user, 1, 1, "'00000000-0000-4000-8000-0000000000a1'");
        Spi::run("update user_collections set asset_count = 0; delete from user_library;").unwrap();
    }
}
