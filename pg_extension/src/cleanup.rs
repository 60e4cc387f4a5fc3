//! `cleanup_expired_workspace_assets()`: removes workspace rows whose 7 days
//! are over, in short batches, within the caller's transaction.
//!
//! The seed ran one `DELETE ... WHERE expires_at < now()`: with a large backlog
//! that is one huge statement holding row locks on every expired row until it
//! commits, and blocking on any row a user happens to be touching. Here a call
//! runs batches of `ourvidz_private.delete_expired_workspace_assets`
//! (maintenance.sql: at most `batch_size` expired rows in expiry order, rows
//! someone holds skipped, never waited on), each starting after the last
//! `(expires_at, id)` the previous one took, and stops after `max_batches`,
//! after a short batch (nothing more is expired), or once the call has run
//! `ourvidz_private.cleanup_call_budget()`: a call's transaction holds the
//! rows it deleted briefly, whoever calls it. pg_cron runs the procedure
//! `cleanup_all_expired_workspace_assets()` instead, which commits after
//! every batch. The plpgsql twin is in `sql/twins/cleanup.sql`.

use std::time::{Duration, Instant};

use pgrx::prelude::*;

/// One batch after the cursor ($2, $3): how many went, and the new cursor.
const DELETE_BATCH: &str = "select deleted, last_expiry, last_id
                            from ourvidz_private.delete_expired_workspace_assets($1, $2, $3)";

/// Delete up to `max_batches` × `batch_size` expired workspace rows; returns
/// how many were deleted. Callable with no arguments (pg_cron, RPC).
#[pg_extern(volatile, parallel_unsafe)]
fn cleanup_expired_workspace_assets(
    batch_size: default!(i32, 1000),
    max_batches: default!(i32, 50),
) -> i64 {
    if batch_size < 1 || max_batches < 1 {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "batch_size and max_batches must be positive"
        );
    }
    let started = Instant::now();
    Spi::connect_mut(|client| {
        let budget = client
            .select("select extract(epoch from ourvidz_private.cleanup_call_budget())::float8", None, &[])?
            .first()
            .get_one::<f64>()?
            .map_or(Duration::ZERO, Duration::from_secs_f64);
        let statement = client.prepare_mut(
            DELETE_BATCH,
            &[pg_sys::INT4OID.into(), pg_sys::TIMESTAMPTZOID.into(), pg_sys::UUIDOID.into()],
        )?;
        let mut removed: i64 = 0;
        let mut after: (Option<TimestampWithTimeZone>, Option<pgrx::Uuid>) = (None, None);
        for _ in 0..max_batches {
            let batch = client.update(&statement, None, &[batch_size.into(), after.0.into(), after.1.into()])?;
            let (deleted, last_expiry, last_id) = batch.first().get_three::<i32, TimestampWithTimeZone, pgrx::Uuid>()?;
            let deleted = deleted.unwrap_or(0);
            removed += i64::from(deleted);
            if deleted < batch_size || started.elapsed() >= budget {
                break;
            }
            after = (last_expiry, last_id);
            check_for_interrupts!();
        }
        Ok::<_, pgrx::spi::SpiError>(removed)
    })
    .unwrap_or_else(|error| {
        ereport!(ERROR, PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("cleanup_expired_workspace_assets: {error}"));
    })
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn seed(expired: i32, live: i32) {
        Spi::run(&format!(
            "insert into auth.users (id) values ('00000000-0000-4000-8000-00000000000e');
             insert into jobs (id, user_id, job_type, mode, prompt, model, batch_size, generation_seed)
             values ('00000000-0000-4000-8000-0000000000e1', '00000000-0000-4000-8000-00000000000e',
                     'image_fast', 'image', 'p', 'sdxl', 1, 1);
             insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path,
                    thumbnail_path, file_size_bytes, mime_type, generation_seed, original_prompt,
                    model_used, expires_at)
             select '00000000-0000-4000-8000-00000000000e', '00000000-0000-4000-8000-0000000000e1', g,
                    'image', '00000000-0000-4000-8000-00000000000e/j/' || g || '.png',
                    case when g % 2 = 0 then '00000000-0000-4000-8000-00000000000e/j/thumbnails/' || g || '.png' end,
                    1, 'image/png', 1, 'p', 'sdxl',
                    case when g <= {expired} then now() - interval '1 hour' else now() + interval '1 day' end
             from generate_series(1, {expired} + {live}) g;"
        ))
        .unwrap();
    }

    #[pg_test]
    fn removes_only_expired_rows_and_queues_their_objects() {
        seed(25, 10);
        let removed = Spi::get_one::<i64>("select cleanup_expired_workspace_assets(10, 100)");
        assert_eq!(removed, Ok(Some(25)));
        assert_eq!(Spi::get_one::<i64>("select count(*) from workspace_assets"), Ok(Some(10)));
        // 25 assets + 12 thumbnails (even indexes among 1..25)
        assert_eq!(
            Spi::get_one::<i64>("select count(*) from storage_deletion_outbox where bucket_id = 'workspace-temp'"),
            Ok(Some(37))
        );
    }

    #[pg_test]
    fn one_call_is_bounded_by_its_batches() {
        seed(25, 0);
        assert_eq!(Spi::get_one::<i64>("select cleanup_expired_workspace_assets(10, 2)"), Ok(Some(20)));
        assert_eq!(Spi::get_one::<i64>("select cleanup_expired_workspace_assets(10, 2)"), Ok(Some(5)));
        assert_eq!(Spi::get_one::<i64>("select cleanup_expired_workspace_assets()"), Ok(Some(0)));
    }

    #[pg_test]
    fn rows_sharing_one_expiry_are_all_reached_across_batches() {
        // every row has the same expires_at: the cursor must order by id too
        seed(23, 0);
        assert_eq!(Spi::get_one::<i64>("select cleanup_expired_workspace_assets(4, 100)"), Ok(Some(23)));
        assert_eq!(Spi::get_one::<i64>("select count(*) from workspace_assets"), Ok(Some(0)));
    }

    #[pg_test(error = "batch_size and max_batches must be positive")]
    fn rejects_a_non_positive_batch() {
        let _ = Spi::get_one::<i64>("select cleanup_expired_workspace_assets(0)");
    }
}
