//! `update_collection_asset_count()`: keeps `user_collections.asset_count`
//! equal to the number of `user_library` rows in each collection.
//!
//! The seed's version only handled INSERT and DELETE, so moving an item between
//! collections (UPDATE of `collection_id`) or deleting a collection (which
//! `ON DELETE SET NULL` turns into UPDATEs of `user_library`) made counts drift.
//! This trigger handles all of them: every change is a -1 on the collection the
//! row left and a +1 on the one it entered. The `asset_count >= 0` check on the
//! table turns an impossible decrement into an error instead of a silent
//! negative count. When a row moves between two collections, the two counters
//! are updated in uuid order, so two opposite moves cannot deadlock.
//!
//! The UPDATE is prepared once per backend and kept (SPI_keepplan), so a bulk
//! insert pays planning once, as a plpgsql trigger would.
//! The plpgsql twin is in `sql/twins/collection_count.sql`.

use std::cell::OnceCell;

use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiResult};

thread_local! {
    static ADJUST_COUNT: OnceCell<OwnedPreparedStatement> = const { OnceCell::new() };
}

#[derive(Debug, thiserror::Error)]
pub enum CountError {
    #[error("update_collection_asset_count() must be an AFTER ROW trigger on user_library: {0}")]
    Misuse(#[from] PgTriggerError),
    #[error("update_collection_asset_count(): cannot read collection_id: {0}")]
    Column(#[from] pgrx::datum::TryFromDatumError),
    #[error("update_collection_asset_count(): {0}")]
    Spi(#[from] pgrx::spi::SpiError),
}

/// Which collections a row change leaves and enters.
fn moves(op: PgTriggerOperation, old: Option<pgrx::Uuid>, new: Option<pgrx::Uuid>) -> (Option<pgrx::Uuid>, Option<pgrx::Uuid>) {
    match op {
        PgTriggerOperation::Insert => (None, new),
        PgTriggerOperation::Delete => (old, None),
        PgTriggerOperation::Update if old != new => (old, new),
        _ => (None, None),
    }
}

fn collection_id(tuple: Option<PgHeapTuple<'_, AllocatedByPostgres>>) -> Result<Option<pgrx::Uuid>, CountError> {
    Ok(match tuple {
        Some(tuple) => tuple.get_by_name::<pgrx::Uuid>("collection_id")?,
        None => None,
    })
}

fn adjust(client: &mut pgrx::spi::SpiClient<'_>, collection: pgrx::Uuid, delta: i32) -> SpiResult<()> {
    ADJUST_COUNT.with(|cell| {
        let statement = match cell.get() {
            Some(statement) => statement,
            None => {
                let prepared = client.prepare_mut(
                    "update public.user_collections set asset_count = asset_count + $2 where id = $1",
                    &[pg_sys::UUIDOID.into(), pg_sys::INT4OID.into()],
                )?;
                cell.get_or_init(|| prepared.keep())
            }
        };
        client.update(statement, None, &[collection.into(), delta.into()])?;
        Ok(())
    })
}

#[pg_trigger]
fn update_collection_asset_count<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, CountError> {
    let op = trigger.op()?;
    let (left, entered) = moves(op, collection_id(trigger.old())?, collection_id(trigger.new())?);
    if left.is_none() && entered.is_none() {
        return Ok(None);
    }
    let mut changes: Vec<(pgrx::Uuid, i32)> = left.map(|id| (id, -1)).into_iter().chain(entered.map(|id| (id, 1))).collect();
    changes.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Spi::connect_mut(|client| {
        for (collection, delta) in changes {
            adjust(client, collection, delta)?;
        }
        Ok::<_, pgrx::spi::SpiError>(())
    })?;
    Ok(None)
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::*;

    fn uuid(n: u8) -> pgrx::Uuid {
        pgrx::Uuid::from_bytes([n; 16])
    }

    #[pg_test]
    fn moves_cover_every_operation() {
        use PgTriggerOperation::*;
        assert_eq!(moves(Insert, None, Some(uuid(1))), (None, Some(uuid(1))));
        assert_eq!(moves(Insert, None, None), (None, None));
        assert_eq!(moves(Delete, Some(uuid(1)), None), (Some(uuid(1)), None));
        assert_eq!(moves(Update, Some(uuid(1)), Some(uuid(2))), (Some(uuid(1)), Some(uuid(2))));
        assert_eq!(moves(Update, Some(uuid(1)), Some(uuid(1))), (None, None));
        assert_eq!(moves(Update, None, Some(uuid(2))), (None, Some(uuid(2))));
        assert_eq!(moves(Update, Some(uuid(1)), None), (Some(uuid(1)), None));
    }

    #[pg_test]
    fn counts_follow_inserts_moves_deletes_and_collection_removal() {
        Spi::run(
            "insert into auth.users (id) values ('00000000-0000-4000-8000-000000000001');
             insert into user_collections (id, user_id, name) values
               ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000001', 'a'),
               ('00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-000000000001', 'b');
             insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type,
                                       original_prompt, model_used, collection_id)
             select '00000000-0000-4000-8000-000000000001', 'image',
                    '00000000-0000-4000-8000-000000000001/' || g || '.png', 1, 'image/png', 'p', 'm',
                    '00000000-0000-4000-8000-0000000000a1'
             from generate_series(1, 5) g;
             update user_library set collection_id = '00000000-0000-4000-8000-0000000000b1'
             where storage_path like '%/1.png' or storage_path like '%/2.png';
             delete from user_library where storage_path like '%/3.png';",
        )
        .unwrap();
        let counts = || {
            Spi::get_two::<i32, i32>(
                "select (select asset_count from user_collections where name = 'a'),
                        (select asset_count from user_collections where name = 'b')",
            )
            .unwrap()
        };
        assert_eq!(counts(), (Some(2), Some(2)));
        Spi::run("delete from user_collections where name = 'a'").unwrap();
        assert_eq!(counts(), (None, Some(2)));
        let loose = Spi::get_one::<i64>("select count(*) from user_library where collection_id is null");
        assert_eq!(loose, Ok(Some(2)));
    }

    #[pg_test(error = "new row for relation \"user_collections\" violates check constraint \"user_collections_asset_count_check\"")]
    fn a_count_never_goes_negative_silently() {
        Spi::run(
            "insert into auth.users (id) values ('00000000-0000-4000-8000-000000000002');
             insert into user_collections (id, user_id, name) values
               ('00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-000000000002', 'c');
             insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type,
                                       original_prompt, model_used, collection_id)
             values ('00000000-0000-4000-8000-000000000002', 'image',
                     '00000000-0000-4000-8000-000000000002/x.png', 1, 'image/png', 'p', 'm',
                     '00000000-0000-4000-8000-0000000000c1');
             update user_collections set asset_count = 0;
             delete from user_library;",
        )
        .unwrap();
    }
}
