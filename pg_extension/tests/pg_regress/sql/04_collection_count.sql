-- trigger_update_collection_asset_count: asset_count equals the number of
-- library rows in the collection after every kind of change.
\set VERBOSITY terse
begin;
-- This file is one transaction: apply each statement's sums at its end, as
-- separate transactions would (the last section shows the default).
set constraints ourvidz_private.apply_pending_collection_counts immediate;

create function regress.counts()
returns table (name text, asset_count integer, actual bigint)
language sql
as $$
    select c.name, c.asset_count, (select count(*) from user_library l where l.collection_id = c.id)
    from user_collections c order by c.name
$$;

create function regress.add_library_item(n integer, collection uuid)
returns void
language sql
as $$
    insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type,
                              original_prompt, model_used, collection_id)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image',
            format('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/%s.png', n), 1, 'image/png', 'p', 'm', collection);
$$;

select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
insert into user_collections (id, name) values
    ('30000000-0000-4000-8000-00000000000a', 'a'),
    ('30000000-0000-4000-8000-00000000000b', 'b'),
    ('30000000-0000-4000-8000-00000000000c', 'c');

-- INSERT: into a collection counts, into none does not.
select regress.add_library_item(n, '30000000-0000-4000-8000-00000000000a') from generate_series(1, 3) n;
select regress.add_library_item(4, null);
select * from regress.counts();

-- UPDATE of collection_id: between collections, out of one, into one.
update user_library set collection_id = '30000000-0000-4000-8000-00000000000b'
where storage_path like '%/1.png';
update user_library set collection_id = null where storage_path like '%/2.png';
update user_library set collection_id = '30000000-0000-4000-8000-00000000000c' where storage_path like '%/4.png';
select * from regress.counts();

-- UPDATE of anything else leaves counts alone; so does a no-op move.
update user_library set custom_title = 'renamed', collection_id = collection_id;
select * from regress.counts();

-- DELETE.
delete from user_library where storage_path like '%/3.png';
select * from regress.counts();

-- Bulk: 100 rows in one statement, then moved together, then deleted together.
insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt,
                          model_used, collection_id)
select 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image', format('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/bulk/%s.png', g),
       1, 'image/png', 'p', 'm', '30000000-0000-4000-8000-00000000000b'
from generate_series(1, 100) g;
select * from regress.counts();
update user_library set collection_id = '30000000-0000-4000-8000-00000000000c' where storage_path like '%/bulk/%';
select * from regress.counts();
delete from user_library where storage_path like '%/bulk/%';
select * from regress.counts();

-- Deleting a collection: ON DELETE SET NULL updates its rows, the other
-- collections keep their counts, the items stay in the library.
delete from user_collections where name = 'c';
select * from regress.counts();
select count(*) as items_without_collection from user_library where collection_id is null;

-- A count that somehow drifted is repaired from the rows (service role).
reset role;
update user_collections set asset_count = 7 where name = 'b';
update user_collections set asset_count = 9 where name = 'a';
select regress.act_as_service();
select repair_collection_asset_counts('30000000-0000-4000-8000-00000000000b') as repaired_one;
select * from regress.counts();
select repair_collection_asset_counts() as repaired_all;
select repair_collection_asset_counts() as nothing_left_to_repair;
select * from regress.counts();

-- A decrement below zero is an error, never a silent negative count.
reset role;
update user_collections set asset_count = 0 where name = 'b';
savepoint attack;
delete from user_library where collection_id = '30000000-0000-4000-8000-00000000000b';
rollback to savepoint attack;
rollback;

-- By default a transaction's first statement that changes counts applies
-- them at once, and its later statements' sums wait for the commit: a long
-- transaction updates each collection row twice, not once per statement.
\set counts 'select c.name, c.asset_count, (select count(*) from user_library l where l.collection_id = c.id) as actual from user_collections c order by c.name'
begin;
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
insert into user_collections (id, name) values
    ('30000000-0000-4000-8000-00000000000a', 'a'),
    ('30000000-0000-4000-8000-00000000000b', 'b');
insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt,
                          model_used, collection_id)
select 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image', format('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/%s.png', g),
       1, 'image/png', 'p', 'm', '30000000-0000-4000-8000-00000000000a'
from generate_series(1, 4) g;
:counts;
update user_library set collection_id = '30000000-0000-4000-8000-00000000000b' where storage_path like '%/2.png';
delete from user_library where storage_path like '%/3.png';
:counts;
reset role;
select collection_id, sum(delta) as waiting from ourvidz_private.pending_collection_counts group by 1 order by 1;
-- Sums rolled back with a savepoint leave the queue too.
savepoint undo;
delete from user_library;
select collection_id, sum(delta) as waiting from ourvidz_private.pending_collection_counts group by 1 order by 1;
rollback to savepoint undo;
select collection_id, sum(delta) as waiting from ourvidz_private.pending_collection_counts group by 1 order by 1;
-- What the commit does: the queue is applied and emptied.
set constraints ourvidz_private.apply_pending_collection_counts immediate;
:counts;
select count(*) as still_waiting from ourvidz_private.pending_collection_counts;
-- Users can neither read nor write the queue.
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
savepoint attack;
select count(*) from ourvidz_private.pending_collection_counts;
rollback to savepoint attack;
insert into ourvidz_private.pending_collection_counts (collection_id, delta, queue_flush)
values ('30000000-0000-4000-8000-00000000000a', 100, true);
rollback to savepoint attack;
rollback;
