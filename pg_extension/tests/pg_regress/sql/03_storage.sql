-- Storage buckets and storage.objects policies (seed 001): each user only
-- inside their own folder, in both buckets; SQL can never delete a file.
\set VERBOSITY terse
begin;

select id, name, public, file_size_limit, allowed_mime_types from storage.buckets order by id;
select policyname, cmd, roles, qual, with_check
from pg_policies where schemaname = 'storage' and tablename = 'objects' order by policyname;

-- bob has a file in each bucket.
insert into storage.objects (bucket_id, name, owner) values
    ('workspace-temp', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/j/0.png', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'),
    ('user-library', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/l.png', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');

select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
-- alice may write into her own folder of both buckets ...
insert into storage.objects (bucket_id, name, owner)
values ('workspace-temp', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/j/0.png', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'),
       ('user-library', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/l.png', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa')
returning bucket_id, name;
-- ... and nowhere else: not bob's folder, not the bucket root, not via '..'
savepoint attack;
insert into storage.objects (bucket_id, name) values ('workspace-temp', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/planted.png');
rollback to savepoint attack;
insert into storage.objects (bucket_id, name) values ('user-library', 'planted.png');
rollback to savepoint attack;
insert into storage.objects (bucket_id, name)
values ('user-library', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/../bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/planted.png');
rollback to savepoint attack;
insert into storage.objects (bucket_id, name)
values ('user-library', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa//planted.png');
rollback to savepoint attack;

-- She sees only her own files, and cannot touch bob's.
select bucket_id, name from storage.objects order by bucket_id, name;
update storage.objects set metadata = '{"stolen": true}' where owner = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb' returning name;
-- moving her file into his folder is refused by WITH CHECK
update storage.objects set name = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/moved.png'
where name = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/l.png';
rollback to savepoint attack;
-- as does moving it to the other bucket's policy scope under a foreign name
update storage.objects set bucket_id = 'workspace-temp', name = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/x.png'
where name = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/l.png';
rollback to savepoint attack;

-- SQL cannot delete files at all (Supabase's protect_delete) ...
delete from storage.objects where name = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/l.png';
rollback to savepoint attack;
-- ... and where the Storage API may (it sets the flag), RLS still limits it
select set_config('storage.allow_delete_query', 'true', true);
delete from storage.objects where owner = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb' returning name;
delete from storage.objects where name = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/l.png' returning name;

-- anon sees no file.
reset role;
select regress.act_as_anon();
select count(*) from storage.objects;

-- service_role sees all of them.
reset role;
select regress.act_as_service();
select bucket_id, name from storage.objects order by bucket_id, name;
rollback;
