-- plpgsql twin of src/collection_count.rs, for the pure-SQL build.
-- Fires once per statement (collections.sql creates the triggers and makes it
-- security definer with an empty search_path, like the Rust one) and sums,
-- per collection, +1 for each row of `added` and -1 for each row of
-- `removed`. The transaction-local setting ourvidz.collection_counts says
-- what this transaction did so far: nothing yet (unset) — apply the sums at
-- once; 'applied' — record them in ourvidz_private.pending_collection_counts
-- and queue the apply at commit; 'queued' — record them, the apply is queued.
create function update_collection_asset_count()
returns trigger
language plpgsql
as $$
declare
    state text := current_setting('ourvidz.collection_counts', true);
    changed integer;
begin
    if state is distinct from 'applied' and state is distinct from 'queued' then
        if tg_op = 'INSERT' then
            update public.user_collections c set asset_count = c.asset_count + s.delta
            from (select a.collection_id as id, count(*)::integer as delta
                  from added a where a.collection_id is not null group by a.collection_id) s
            where c.id = s.id;
        elsif tg_op = 'DELETE' then
            update public.user_collections c set asset_count = c.asset_count - s.delta
            from (select r.collection_id as id, count(*)::integer as delta
                  from removed r where r.collection_id is not null group by r.collection_id) s
            where c.id = s.id;
        else
            update public.user_collections c set asset_count = c.asset_count + s.delta
            from (select m.id, sum(m.delta)::integer as delta
                  from (select a.collection_id as id, 1 as delta from added a
                        union all
                        select r.collection_id, -1 from removed r) m
                  where m.id is not null
                  group by m.id
                  having sum(m.delta) <> 0) s
            where c.id = s.id;
        end if;
        get diagnostics changed = row_count;
        if changed > 0 then
            perform set_config('ourvidz.collection_counts', 'applied', true);
        end if;
        return null;
    end if;
    -- Said before the insert: when the apply runs at once (`set constraints
    -- ... immediate`), it resets the state itself.
    if state = 'applied' then
        perform set_config('ourvidz.collection_counts', 'queued', true);
    elsif tg_op = 'INSERT' then
        -- The apply is queued: a row's +1 or -1 is recorded as it is and the
        -- apply sums them. Grouping first writes fewer rows, but a hash
        -- aggregate's setup costs more than a one-row statement (a third of
        -- the trigger when a transaction inserts row by row, its worst case).
        insert into ourvidz_private.pending_collection_counts (collection_id, delta, queue_flush)
        select a.collection_id, 1, false from added a where a.collection_id is not null;
        return null;
    elsif tg_op = 'DELETE' then
        insert into ourvidz_private.pending_collection_counts (collection_id, delta, queue_flush)
        select r.collection_id, -1, false from removed r where r.collection_id is not null;
        return null;
    end if;
    if tg_op = 'INSERT' then
        insert into ourvidz_private.pending_collection_counts (collection_id, delta, queue_flush)
        select a.collection_id, count(*), state = 'applied'
        from added a where a.collection_id is not null group by a.collection_id;
    elsif tg_op = 'DELETE' then
        insert into ourvidz_private.pending_collection_counts (collection_id, delta, queue_flush)
        select r.collection_id, -count(*), state = 'applied'
        from removed r where r.collection_id is not null group by r.collection_id;
    else
        insert into ourvidz_private.pending_collection_counts (collection_id, delta, queue_flush)
        select m.id, sum(m.delta), state = 'applied'
        from (select a.collection_id as id, 1 as delta from added a
              union all
              select r.collection_id, -1 from removed r) m
        where m.id is not null
        group by m.id
        having sum(m.delta) <> 0;
    end if;
    get diagnostics changed = row_count;
    if changed = 0 and state = 'applied' then
        perform set_config('ourvidz.collection_counts', 'applied', true);
    end if;
    return null;
end;
$$;
