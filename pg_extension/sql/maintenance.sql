-- Maintenance: draining the deletion outbox, the orphan audit, expiry cleanup.
--
-- The drainer (the storage-drain function, run with the service role on a
-- schedule) claims due outbox entries, deletes the objects through
-- the Storage API, then completes or fails them. Claims are leases, so a
-- drainer that dies mid-way only delays its entries. An entry whose object a
-- live row owns again is dropped at claim time instead of returned: the drainer
-- never deletes an object a row points at.

create function ourvidz_private.object_is_owned_by_a_row(bucket text, object_name text)
returns boolean
language sql
stable
set search_path = pg_catalog, public
as $$
    select case bucket
        when 'workspace-temp' then exists (
            select 1 from workspace_assets w
            where w.temp_storage_path = object_name or w.thumbnail_path = object_name)
        when 'user-library' then exists (
            select 1 from user_library l
            where l.storage_path = object_name or l.thumbnail_path = object_name)
        else false
    end
$$;

create function claim_storage_deletions(max_items integer default 100, lease_seconds integer default 60)
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    lease interval := ourvidz_private.lease(lease_seconds);
    claimed jsonb;
begin
    perform ourvidz_private.require_between(max_items, 'max_items', 1, 1000);
    with due as (
        select o.id, o.bucket_id, o.object_name
        from storage_deletion_outbox o
        where o.not_before <= now() and (o.claimed_until is null or o.claimed_until < now())
        order by o.not_before
        limit max_items
        for update skip locked
    ),
    judged as (
        select due.*, ourvidz_private.object_is_owned_by_a_row(due.bucket_id, due.object_name) as owned
        from due
    ),
    dropped as (
        delete from storage_deletion_outbox o using judged
        where o.id = judged.id and judged.owned
    ),
    leased as (
        update storage_deletion_outbox o
        set claimed_until = now() + lease, attempts = o.attempts + 1
        from judged
        where o.id = judged.id and not judged.owned
        returning o.id, o.bucket_id, o.object_name
    )
    select coalesce(jsonb_agg(jsonb_build_object('id', id, 'bucket_id', bucket_id, 'object_name', object_name)
                              order by id), '[]'::jsonb)
    into claimed
    from leased;
    return jsonb_build_object('deletions', claimed);
end;
$$;

-- The Storage API deleted these objects (or they were already gone).
create function complete_storage_deletions(ids bigint[])
returns integer
language sql
set search_path = pg_catalog, public
as $$
    with done as (
        delete from storage_deletion_outbox where id = any (ids) returning 1
    )
    select count(*)::integer from done
$$;

-- The Storage API refused: release the lease and retry with exponential backoff
-- (capped at an hour).
create function fail_storage_deletions(ids bigint[], error text)
returns integer
language sql
set search_path = pg_catalog, public
as $$
    with failed as (
        update storage_deletion_outbox
        set claimed_until = null,
            last_error = left(error, 2000),
            not_before = now() + make_interval(secs => least(power(2, least(attempts, 12)), 3600))
        where id = any (ids)
        returning 1
    )
    select count(*)::integer from failed
$$;

-- Objects in our buckets that no row owns and no outbox entry will delete.
create function ourvidz_private.unowned_objects(older_than interval)
returns table (bucket_id text, object_name text)
language sql
stable
set search_path = pg_catalog, public
as $$
    select o.bucket_id, o.name
    from storage.objects o
    where o.bucket_id in ('workspace-temp', 'user-library')
      and o.created_at <= now() - older_than
      and not ourvidz_private.object_is_owned_by_a_row(o.bucket_id, o.name)
      and not exists (select 1 from storage_deletion_outbox d
                      where d.bucket_id = o.bucket_id and d.object_name = o.name)
      -- a job still rendering may have uploaded before reporting
      and not exists (select 1 from jobs j
                      where o.bucket_id = 'workspace-temp'
                        and j.status in ('queued', 'processing')
                        and o.name like j.user_id::text || '/' || j.id::text || '/%')
$$;

-- The orphan audit: every object without a row (not already queued for
-- deletion, and not a running job's upload) and every row without its object.
-- Empty when the system is consistent and the outbox is drained.
create function storage_orphans()
returns table (kind text, bucket_id text, object_name text)
language sql
stable
set search_path = pg_catalog, public
as $$
    select 'object_without_row', u.bucket_id, u.object_name
    from ourvidz_private.unowned_objects(interval '0') u
    union all
    select 'row_without_object', r.bucket_id, r.object_name
    from (
        select 'workspace-temp' as bucket_id, w.temp_storage_path as object_name from workspace_assets w
        union all
        select 'workspace-temp', w.thumbnail_path from workspace_assets w where w.thumbnail_path is not null
        union all
        select 'user-library', l.storage_path from user_library l
        union all
        select 'user-library', l.thumbnail_path from user_library l where l.thumbnail_path is not null
    ) r
    where not exists (select 1 from storage.objects o
                      where o.bucket_id = r.bucket_id and o.name = r.object_name)
    order by 1, 2, 3
$$;

-- Queue objects that have had no owner for `older_than`: uploads of a worker
-- that crashed before reporting, copies of a save a client abandoned. Schedule
-- it next to the cleanup (hourly is plenty); returns how many were queued.
create function reclaim_orphaned_objects(older_than interval default interval '1 day')
returns integer
language sql
set search_path = pg_catalog, public
as $$
    with queued as (
        insert into storage_deletion_outbox (bucket_id, object_name, user_id, reason)
        select u.bucket_id, u.object_name,
               case when split_part(u.object_name, '/', 1) ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                    then split_part(u.object_name, '/', 1)::uuid end,
               'orphaned'
        from ourvidz_private.unowned_objects(older_than) u
        on conflict (bucket_id, object_name) do nothing
        returning 1
    )
    select count(*)::integer from queued
$$;

-- Expiry cleanup ------------------------------------------------------------------------
-- Workspace rows go when their 7 days are over, in short batches: each batch is
-- one statement taking at most `batch_size` expired rows in expiry order, with
-- FOR UPDATE SKIP LOCKED (a row a user or another cleanup holds is left for
-- the next run, never waited on), then deleting exactly those rows by their
-- ctid (no second index lookup per row). The objects the rows owned reach the
-- deletion outbox through the table's statement trigger, in the same
-- statement. A batch starts after the last (expires_at, id) the previous one
-- took: rows deleted by a batch stay in the expiry index until vacuum, and
-- re-walking them would make a cleanup quadratic in its backlog.
--
-- Two entry points share it:
--   * cleanup_expired_workspace_assets(batch_size, max_batches) (seed 001's
--     name; Rust, twin in sql/twins/cleanup.sql) runs batches in the caller's
--     transaction, and stops starting new ones once the call has run
--     cleanup_call_budget(), so no call holds the rows it deletes for long;
--   * cleanup_all_expired_workspace_assets() (what pg_cron runs, schedule.sql)
--     is a procedure that commits after every batch until nothing expired is
--     left, sizing its batches to take about cleanup_batch_target() each.
-- Whoever calls them, a user's transaction waits for a cleanup's row for one
-- batch at most, and a cleanup never waits for a user.

create function ourvidz_private.cleanup_call_budget() returns interval
language sql immutable parallel safe as $$ select interval '100 milliseconds' $$;

create function ourvidz_private.cleanup_batch_target() returns interval
language sql immutable parallel safe as $$ select interval '40 milliseconds' $$;

-- One batch: how many rows went, and the last (expires_at, id) taken (NULLs
-- when none).
create function ourvidz_private.delete_expired_workspace_assets(
    batch_size integer, after_expiry timestamptz, after_id uuid,
    out deleted integer, out last_expiry timestamptz, out last_id uuid)
language plpgsql
volatile
set search_path = pg_catalog, public
as $$
begin
    with doomed as (
        select w.ctid
        from workspace_assets w
        where w.expires_at < now()
          and (w.expires_at, w.id) > (coalesce(after_expiry, '-infinity'::timestamptz),
                                      coalesce(after_id, '00000000-0000-0000-0000-000000000000'::uuid))
        order by w.expires_at, w.id
        limit batch_size
        for update skip locked
    ),
    gone as (
        delete from workspace_assets w
        where w.ctid = any (array(select doomed.ctid from doomed))
        returning w.expires_at, w.id
    )
    select (select count(*) from gone)::integer, g.expires_at, g.id
    into deleted, last_expiry, last_id
    from gone g
    order by g.expires_at desc, g.id desc
    limit 1;
    deleted := coalesce(deleted, 0);
end;
$$;

-- Until nothing expired is left, committing after every batch. Call it on its
-- own (`call cleanup_all_expired_workspace_assets()`, as pg_cron does), not
-- inside a transaction block: a procedure can only commit there (and only
-- without a SET clause, hence the qualified names). Batches start at 1000
-- rows and halve or double to take about cleanup_batch_target(), between 100
-- and 2500 rows: at ~20 µs a row, even a machine three times slower than
-- expected holds a batch's rows well under 200 ms. The commits are
-- asynchronous: losing the last few to a crash only means their rows are
-- deleted again by the next run, and no batch waits for the disk.
create procedure cleanup_all_expired_workspace_assets()
language plpgsql
as $$
declare
    batch_size integer := 1000;
    after_expiry timestamptz;
    after_id uuid;
    deleted integer;
    started timestamptz;
    took interval;
begin
    loop
        perform pg_catalog.set_config('synchronous_commit', 'off', true);
        started := pg_catalog.clock_timestamp();
        select b.deleted, coalesce(b.last_expiry, after_expiry), coalesce(b.last_id, after_id)
        into deleted, after_expiry, after_id
        from ourvidz_private.delete_expired_workspace_assets(batch_size, after_expiry, after_id) b;
        exit when deleted < batch_size;
        commit;
        took := pg_catalog.clock_timestamp() - started;
        if took > ourvidz_private.cleanup_batch_target() then
            batch_size := greatest(batch_size / 2, 100);
        elsif took * 2 < ourvidz_private.cleanup_batch_target() then
            batch_size := least(batch_size * 2, 2500);
        end if;
    end loop;
end;
$$;

revoke execute on function claim_storage_deletions(integer, integer), complete_storage_deletions(bigint[]),
    fail_storage_deletions(bigint[], text), storage_orphans(), reclaim_orphaned_objects(interval),
    cleanup_expired_workspace_assets(integer, integer)
    from public, anon, authenticated;
grant execute on function claim_storage_deletions(integer, integer), complete_storage_deletions(bigint[]),
    fail_storage_deletions(bigint[], text), storage_orphans(), reclaim_orphaned_objects(interval),
    cleanup_expired_workspace_assets(integer, integer)
    to service_role;
revoke execute on procedure cleanup_all_expired_workspace_assets() from public, anon, authenticated;
grant execute on procedure cleanup_all_expired_workspace_assets() to service_role;
revoke execute on function ourvidz_private.object_is_owned_by_a_row(text, text),
    ourvidz_private.unowned_objects(interval),
    ourvidz_private.delete_expired_workspace_assets(integer, timestamptz, uuid) from public;
grant execute on function ourvidz_private.object_is_owned_by_a_row(text, text),
    ourvidz_private.unowned_objects(interval),
    ourvidz_private.delete_expired_workspace_assets(integer, timestamptz, uuid) to service_role;
