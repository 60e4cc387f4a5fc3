-- Collection counts (seed 001): `user_collections.asset_count` follows the
-- library rows in each collection.
--
-- update_collection_asset_count() is implemented in Rust (src/collection_count.rs;
-- plpgsql twin in sql/twins/collection_count.sql). It runs as the function
-- owner because users may not write asset_count themselves (see
-- policies.sql), with an empty search_path like every security definer
-- function (its SQL is schema-qualified), so a caller's objects can never
-- stand in for ours. Both builds get both settings from this one statement.
--
-- It fires once per statement with the statement's rows (transition tables;
-- Postgres allows them only on single-event triggers, hence one trigger per
-- event), and sums -1 for the collection each row left and +1 for the one it
-- entered. So an import of 1000 rows into 100 collections changes 100 counts
-- in one UPDATE, not 1000 times, and a move (an UPDATE of collection_id, also
-- the `ON DELETE SET NULL` a collection's deletion causes) counts as well,
-- unlike in the seed's trigger; an update that moves nothing sums to zero.
--
-- When the sums are applied: a transaction's first statement that changes
-- counts applies them at once. Its later statements record theirs in
-- ourvidz_private.pending_collection_counts instead, and the transaction
-- applies them all at once when it commits. (A transaction that updates the
-- same collection row again and again — a save of many items, an import row
-- by row, a function looping over items — leaves a version of that row per
-- update, and each update walks past the earlier ones: the n-th costs more
-- with every n.) So counts are exact when the transaction commits; inside a
-- transaction, after its first statement that changes counts, they can lag
-- until then. `set constraints ourvidz_private.apply_pending_collection_counts
-- immediate` applies each statement's sums at its end instead. The
-- transaction-local setting ourvidz.collection_counts says where a
-- transaction is: unset (nothing applied yet), 'applied' (counts applied,
-- nothing waiting) or 'queued' (sums waiting, their apply queued).

alter function update_collection_asset_count() security definer set search_path = '';

create trigger trigger_update_collection_asset_count
    after insert on user_library
    referencing new table as added
    for each statement
    execute function update_collection_asset_count();

create trigger trigger_update_collection_asset_count_on_delete
    after delete on user_library
    referencing old table as removed
    for each statement
    execute function update_collection_asset_count();

create trigger trigger_update_collection_asset_count_on_update
    after update on user_library
    referencing old table as removed new table as added
    for each statement
    execute function update_collection_asset_count();

-- Sums waiting for their transaction to commit: rows live only inside the
-- transaction that wrote them (applied and deleted at commit, or rolled back
-- with it), so the table is unlogged and always empty between transactions.
-- `queue_flush` is true on the rows of the statement that found nothing
-- pending: their insert queues the transaction's apply (the first of its
-- events applies everything, the others find nothing left).
create unlogged table ourvidz_private.pending_collection_counts (
    xact xid8 not null default pg_current_xact_id(),
    collection_id uuid not null,
    delta integer not null,
    queue_flush boolean not null
);

create index idx_pending_collection_counts_xact on ourvidz_private.pending_collection_counts (xact);

-- Apply the transaction's pending sums, one UPDATE for all its collections.
-- A definer: it runs at commit, as whichever role the transaction has then.
create function ourvidz_private.apply_pending_collection_counts()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform set_config('ourvidz.collection_counts', 'applied', true);
    with pending as (
        delete from ourvidz_private.pending_collection_counts p
        where p.xact = pg_current_xact_id()
        returning p.collection_id, p.delta
    ),
    sums as (
        select p.collection_id, sum(p.delta)::integer as delta
        from pending p
        group by p.collection_id
    )
    update public.user_collections c
    set asset_count = c.asset_count + s.delta
    from sums s
    where c.id = s.collection_id and s.delta <> 0;
    return null;
end;
$$;

create constraint trigger apply_pending_collection_counts
    after insert on ourvidz_private.pending_collection_counts
    deferrable initially deferred
    for each row
    when (new.queue_flush)
    execute function ourvidz_private.apply_pending_collection_counts();

-- Recompute counts from the rows, for all collections or one; returns how many
-- counts were wrong. For operators (service_role): counts never drift through
-- the trigger, but a restore, a disabled trigger or manual SQL can make them.
create function repair_collection_asset_counts(collection_id uuid default null)
returns integer
language sql
security definer
set search_path = pg_catalog, public
as $$
    with actual as (
        select c.id, (select count(*) from user_library l where l.collection_id = c.id)::integer as n
        from user_collections c
        where repair_collection_asset_counts.collection_id is null
           or c.id = repair_collection_asset_counts.collection_id
    ),
    fixed as (
        update user_collections c
        set asset_count = actual.n
        from actual
        where c.id = actual.id and c.asset_count <> actual.n
        returning 1
    )
    select count(*)::integer from fixed
$$;
