-- plpgsql twin of src/cleanup.rs, for the pure-SQL build: the same bounded,
-- SKIP LOCKED batches in expiry order, the same answer and errors.
create function cleanup_expired_workspace_assets(batch_size integer default 1000, max_batches integer default 100)
returns bigint
language plpgsql
strict volatile
as $$
declare
    removed bigint := 0;
    deleted bigint;
begin
    if batch_size < 1 or max_batches < 1 then
        raise exception using errcode = '22023', message = 'batch_size and max_batches must be positive';
    end if;
    for batch in 1..max_batches loop
        with doomed as (
            select id
            from public.workspace_assets
            where expires_at < now()
            order by expires_at
            limit batch_size
            for update skip locked
        )
        delete from public.workspace_assets w
        using doomed
        where w.id = doomed.id;
        get diagnostics deleted = row_count;
        removed := removed + deleted;
        exit when deleted < batch_size;
    end loop;
    return removed;
end;
$$;
