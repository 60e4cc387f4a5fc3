-- plpgsql twin of src/collection_count.rs, for the pure-SQL build.
-- Every row change is a -1 on the collection it left and a +1 on the one it
-- entered; both counters are updated in uuid order so opposite moves can't
-- deadlock. collections.sql makes it security definer with an empty
-- search_path, like the Rust one.
create function update_collection_asset_count()
returns trigger
language plpgsql
as $$
declare
    change record;
begin
    for change in
        select d.id, d.delta
        from (values (case when tg_op <> 'INSERT' then old.collection_id end, -1),
                     (case when tg_op <> 'DELETE' then new.collection_id end, 1)) as d (id, delta)
        where d.id is not null
          and (tg_op <> 'UPDATE' or old.collection_id is distinct from new.collection_id)
        order by d.id
    loop
        update public.user_collections set asset_count = asset_count + change.delta where id = change.id;
    end loop;
    return null;
end;
$$;
