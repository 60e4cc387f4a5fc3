-- plpgsql/SQL twins of src/storage_path.rs, for the pure-SQL build (hosted
-- Supabase loads no shared library). They must answer exactly as the Rust
-- functions do — same results, same error messages: tests/differential feeds
-- both the same generated paths, and the pg_regress suite runs against both
-- builds.

-- Control characters are Unicode category Cc, as Rust's char::is_control.
create function normalize_storage_path(path text, bucket text default null)
returns text
language plpgsql
immutable parallel safe
as $$
declare
    name text;
    prefix text;
    segment text;
begin
    if path is null then
        return null;
    end if;
    if strpos(path, '\') > 0 then
        raise exception using errcode = '22023', message = 'storage path contains a backslash';
    end if;
    if path ~ '[\x01-\x1f\x7f-\x9f]' then
        raise exception using errcode = '22023', message = 'storage path contains a control character';
    end if;
    name := ltrim(path, '/');
    -- no bucket named: either of ours (`array[null]` is not null, so no coalesce)
    foreach prefix in array case when bucket is null then array['workspace-temp', 'user-library']
                                 else array[bucket] end loop
        if starts_with(name, prefix || '/') then
            name := substr(name, char_length(prefix) + 2);
            exit;
        end if;
    end loop;
    name := btrim(name, '/');
    if name = '' then
        raise exception using errcode = '22023', message = 'storage path is empty';
    end if;
    if octet_length(name) > 1024 then
        raise exception using errcode = '22023', message = 'storage path is longer than 1024 bytes';
    end if;
    foreach segment in array string_to_array(name, '/') loop
        if segment = '' then
            raise exception using errcode = '22023', message = 'storage path contains an empty segment';
        elsif segment in ('.', '..') then
            raise exception using errcode = '22023', message = 'storage path contains a ''.'' or ''..'' segment';
        end if;
    end loop;
    return name;
end;
$$;

-- plpgsql, not SQL, like the predicates of rules.sql: an inlined SQL body is
-- parsed again for every INSERT and UPDATE of a table whose check calls it
-- (user_library single rows 8,200 -> 9,600 rows/s in this build); the Rust
-- function it twins is never inlined either. `(^|/)\.{0,2}(/|$)` finds an
-- empty, '.' or '..' segment.
create function storage_path_is_owned(path text, owner uuid)
returns boolean
language plpgsql
immutable parallel safe
as $$
begin
    return coalesce(
        path !~ '(^|/)\.{0,2}(/|$)'
        and octet_length(path) <= 1024
        and path !~ '[\\\x01-\x1f\x7f-\x9f]'
        and starts_with(path, owner::text || '/'),
        false);
end;
$$;
