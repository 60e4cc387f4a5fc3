-- Maintenance: draining the deletion outbox, the orphan audit, expiry cleanup.
--
-- The drainer (the workspace-actions `drain_storage_deletions` action, run
-- with the service role) claims due outbox entries, deletes the objects through
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

revoke execute on function claim_storage_deletions(integer, integer), complete_storage_deletions(bigint[]),
    fail_storage_deletions(bigint[], text), storage_orphans(), reclaim_orphaned_objects(interval),
    cleanup_expired_workspace_assets(integer, integer)
    from public, anon, authenticated;
grant execute on function claim_storage_deletions(integer, integer), complete_storage_deletions(bigint[]),
    fail_storage_deletions(bigint[], text), storage_orphans(), reclaim_orphaned_objects(interval),
    cleanup_expired_workspace_assets(integer, integer)
    to service_role;
revoke execute on function ourvidz_private.object_is_owned_by_a_row(text, text),
    ourvidz_private.unowned_objects(interval) from public;
grant execute on function ourvidz_private.object_is_owned_by_a_row(text, text),
    ourvidz_private.unowned_objects(interval) to service_role;
