-- plpgsql twin of src/cleanup.rs, for the pure-SQL build: batches of
-- ourvidz_private.delete_expired_workspace_assets (maintenance.sql) in the
-- caller's transaction, each after the last row the previous one took, until
-- a batch comes back short, max_batches ran, or the call has run
-- cleanup_call_budget(); the same answer and errors.
create function cleanup_expired_workspace_assets(batch_size integer default 1000, max_batches integer default 50)
returns bigint
language plpgsql
strict volatile
as $$
declare
    started timestamptz := clock_timestamp();
    removed bigint := 0;
    batch record;
    after_expiry timestamptz;
    after_id uuid;
begin
    if batch_size < 1 or max_batches < 1 then
        raise exception using errcode = '22023', message = 'batch_size and max_batches must be positive';
    end if;
    for n in 1..max_batches loop
        select * into batch
        from ourvidz_private.delete_expired_workspace_assets(batch_size, after_expiry, after_id);
        removed := removed + batch.deleted;
        exit when batch.deleted < batch_size
               or clock_timestamp() - started >= ourvidz_private.cleanup_call_budget();
        after_expiry := batch.last_expiry;
        after_id := batch.last_id;
    end loop;
    return removed;
end;
$$;
