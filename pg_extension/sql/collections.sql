-- Collection counts (seed 001): `user_collections.asset_count` follows the
-- library rows in each collection.
--
-- update_collection_asset_count() is implemented in Rust (src/collection_count.rs;
-- plpgsql twin in sql/twins/collection_count.sql). Unlike the seed's trigger it
-- also fires on UPDATE OF collection_id, which covers moving an item and the
-- `ON DELETE SET NULL` updates a collection's deletion causes. It runs as the
-- function owner because users may not write asset_count themselves (see
-- policies.sql), with an empty search_path like every security definer
-- function (its SQL is schema-qualified), so a caller's objects can never
-- stand in for ours. Both builds get both settings from this one statement.

alter function update_collection_asset_count() security definer set search_path = '';

create trigger trigger_update_collection_asset_count
    after insert or delete or update of collection_id on user_library
    for each row
    execute function update_collection_asset_count();

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
