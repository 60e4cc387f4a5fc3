-- plpgsql twin of src/cleanup.rs, for the pure-SQL build: the same bounded,
-- SKIP LOCKED batches in expiry order, each starting after the last
-- (expires_at, id) the previous one took; the same answer and errors.
create function cleanup_expired_workspace_assets(batch_size integer default 1000, max_batches integer default 50)
returns bigint
language plpgsql
strict volatile
as $$
declare
    removed bigint := 0;
    deleted bigint;
    after_expiry timestamptz := '-infinity'::timestamptz;
    after_id uuid := '00000000-0000-0000-0000-000000000000'::uuid;
begin
    if batch_size < 1 or max_batches < 1 then
        raise exception using errcode = '22023', message = 'batch_size and max_batches must be positive';
    end if;
    for batch in 1..max_batches loop
        with doomed as (
            select id, expires_at
            from public.workspace_assets
            where expires_at < now() and (expires_at, id) > (after_expiry, after_id)
            order by expires_at, id
            limit batch_size
            for update skip locked
        ),
        gone as (
            delete from public.workspace_assets w
            using doomed
            where w.id = doomed.id
            returning doomed.expires_at, doomed.id
        )
        select (select count(*) from gone), g.expires_at, g.id
        into deleted, after_expiry, after_id
        from gone g
        order by g.expires_at desc, g.id desc
        limit 1;
        if deleted is null then
            exit;
        end if;
        removed := removed + deleted;
        exit when deleted < batch_size;
    end loop;
    return removed;
end;
$$;
