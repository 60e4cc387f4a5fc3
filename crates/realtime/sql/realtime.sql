-- Realtime's side of the database (schema `realtime`, as on Supabase): read the
-- change stream of the publication's tables from a wal2json slot, and decide
-- for each change which subscriptions may see it. Visibility is Postgres' own:
-- every check runs with the subscriber's role and JWT claims set the way
-- PostgREST sets them (`role`, `request.jwt.claims`, transaction-local), so the
-- table's row-level security policies and column privileges decide, not the
-- server. Run by the stack at every start; every statement is idempotent.

create schema if not exists realtime;
-- Only the stack's own (superuser) connection calls these functions.
revoke all on schema realtime from public;

-- wal2json's `add-tables` list names tables as schema.table, with spaces,
-- quotes, commas, periods and asterisks escaped by a backslash.
create or replace function realtime.wal2json_table_name(schema_name name, table_name name)
returns text
language sql
immutable
as $$
    select regexp_replace(schema_name, '([ '',.*\\])', '\\\1', 'g')
        || '.' || regexp_replace(table_name, '([ '',.*\\])', '\\\1', 'g')
$$;

-- Consume up to `max_changes` changes from the slot and return those of the
-- publication's tables as wal2json (format 2) documents. The slot is advanced
-- even when the publication is empty, so it never holds WAL back. Every call
-- starts a decoding that Postgres logs at LOG level; as on Supabase, those
-- lines are kept out of the server log (errors still reach the caller).
create or replace function realtime.take_changes(slot_name name, publication name, max_changes int)
returns setof text
language plpgsql
set log_min_messages to 'fatal'
as $$
declare
    tables text;
begin
    select string_agg(realtime.wal2json_table_name(schemaname, tablename), ',')
      into tables
      from pg_publication_tables
     where pubname = publication;
    if tables is null then
        perform pg_logical_slot_get_changes(slot_name, null, max_changes, 'filter-tables', '*.*');
        return;
    end if;
    return query
        select data
          from pg_logical_slot_get_changes(
                   slot_name, null, max_changes,
                   'format-version', '2',
                   'include-pk', 'true',
                   'include-timestamp', 'true',
                   'include-type-oids', 'true',
                   'include-transaction', 'false',
                   'actions', 'insert,update,delete',
                   'add-tables', tables);
end;
$$;

-- The publication's tables a postgres_changes subscription covers (`*` is any
-- schema or table), after checking that the role exists and that every filter
-- names a column the role may read and a value of that column's type. Raises
-- with the reason otherwise; returns no rows when no published table matches.
-- `filters` is a JSON array of [column, operator, value] (operator is one of
-- eq, neq, lt, lte, gt, gte, in; the value of `in` is an array literal).
create or replace function realtime.subscription_tables(
    publication name, role_name text, schema_pattern text, table_pattern text, filters jsonb)
returns table (schema_name name, table_name name)
language plpgsql
as $$
declare
    entity regclass;
    filter jsonb;
    column_type regtype;
begin
    perform role_name::regrole;
    for entity in
        select format('%I.%I', p.schemaname, p.tablename)::regclass
          from pg_publication_tables p
         where p.pubname = publication
           and (schema_pattern = '*' or p.schemaname = schema_pattern)
           and (table_pattern = '*' or p.tablename = table_pattern)
         order by p.schemaname, p.tablename
    loop
        for filter in select value from jsonb_array_elements(filters) loop
            select a.atttypid::regtype into column_type
              from pg_attribute a
             where a.attrelid = entity and a.attname = filter ->> 0 and a.attnum > 0 and not a.attisdropped
               and has_column_privilege(role_name, entity, a.attnum, 'SELECT');
            if column_type is null then
                raise exception 'invalid column for filter %', filter ->> 0;
            end if;
            if filter ->> 1 = 'in' then
                execute format('select %L::%s[]', filter ->> 2, column_type);
            else
                execute format('select %L::%s', filter ->> 2, column_type);
            end if;
        end loop;
        return query
            select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where c.oid = entity;
    end loop;
end;
$$;

-- `select $N[1]::type as col1, ...` over a wal2json row image: the row, typed
-- as the table's columns, from a text[] of the image's values (parameter N).
create or replace function realtime.image_select(image jsonb, parameter int)
returns text
language sql
immutable
as $$
    select 'select ' || string_agg(
               format('$%s[%s]::%s as %I', parameter, n, (c ->> 'typeoid')::oid::regtype, c ->> 'name'),
               ', ' order by n)
      from jsonb_array_elements(image) with ordinality as x(c, n)
$$;

create or replace function realtime.image_values(image jsonb)
returns text[]
language sql
immutable
as $$
    select array_agg(c -> 'value' #>> '{}' order by n)
      from jsonb_array_elements(image) with ordinality as x(c, n)
$$;

-- Which of `audiences` (claims of one role, a JSON array) may select the row
-- image from `entity` under its row-level security: for a row that still
-- exists (INSERT, UPDATE) by selecting it by primary key from the table, as
-- any client would; for a deleted row (DELETE) by evaluating the table's
-- SELECT policies that apply to the role (permissive ones or'ed, restrictive
-- ones and'ed, as Postgres combines them) on the old row. The check is
-- planned once, as the role, and run once per audience with its claims set;
-- an error (a policy that raises) hides the change from the whole role.
create or replace function realtime.visible_to(
    entity regclass, action text, image jsonb, pk jsonb, role_name text, audiences jsonb)
returns boolean[]
language plpgsql
as $$
declare
    rel record;
    permissive text;
    restrictive text;
    check_sql text;
    audience jsonb;
    visible boolean;
    answers boolean[] := '{}';
    all_claims jsonb[] := array(select value from jsonb_array_elements(audiences));
    literal_row text := (
        select string_agg(format('%L::%s as %I', c -> 'value' #>> '{}', (c ->> 'typeoid')::oid::regtype, c ->> 'name'), ', ')
          from jsonb_array_elements(image) c);
begin
    select c.relrowsecurity, c.relforcerowsecurity, c.relname, n.nspname,
           r.rolsuper or r.rolbypassrls as bypasses, pg_has_role(role_name, c.relowner, 'member') as owns
      into rel
      from pg_class c join pg_namespace n on n.oid = c.relnamespace, pg_roles r
     where c.oid = entity and r.rolname = role_name;
    if rel is null or not has_any_column_privilege(role_name, entity, 'SELECT') then
        return array_fill(false, array[cardinality(all_claims)]);
    end if;
    if not rel.relrowsecurity or rel.bypasses or (rel.owns and not rel.relforcerowsecurity) then
        return array_fill(true, array[cardinality(all_claims)]);
    end if;
    if action = 'DELETE' then
        select coalesce(string_agg('(' || coalesce(p.qual, 'false') || ')', ' or ')
                            filter (where p.permissive = 'PERMISSIVE'), 'false'),
               coalesce(string_agg('(' || coalesce(p.qual, 'false') || ')', ' and ')
                            filter (where p.permissive = 'RESTRICTIVE'), 'true')
          into permissive, restrictive
          from pg_policies p
         where p.schemaname = rel.nspname and p.tablename = rel.relname and p.cmd in ('SELECT', 'ALL')
           and ('public' = any(p.roles) or exists (select 1 from unnest(p.roles) r where pg_has_role(role_name, r, 'member')));
        check_sql := format('select exists (select 1 from (select %s) as %I where (%s) and (%s))',
                            literal_row, rel.relname, permissive, restrictive);
    else
        if jsonb_array_length(coalesce(pk, '[]')) = 0 then
            return array_fill(false, array[cardinality(all_claims)]);
        end if;
        check_sql := format('select exists (select 1 from %s as t where %s)', entity,
            (select string_agg(format('t.%I = %L::%s', k ->> 'name', c -> 'value' #>> '{}', (c ->> 'typeoid')::oid::regtype), ' and ')
               from jsonb_array_elements(pk) k join jsonb_array_elements(image) c on c ->> 'name' = k ->> 'name'));
    end if;
    if exists (select 1 from pg_prepared_statements where name = 'realtime_visible') then
        deallocate realtime_visible;
    end if;
    begin
        -- From here on the role is the subscriber's: nothing of schema realtime may run.
        perform set_config('role', role_name, true);
        execute 'prepare realtime_visible as ' || check_sql;
        foreach audience in array all_claims loop
            perform set_config('request.jwt.claims', audience::text, true);
            execute 'execute realtime_visible' into visible;
            answers := answers || coalesce(visible, false);
        end loop;
        perform set_config('role', null, true);
        deallocate realtime_visible;
    exception when others then
        -- the subtransaction's rollback undoes the role switch and the prepare
        raise warning 'realtime: checking % for role % failed: %', entity, role_name, sqlerrm;
        answers := array_fill(false, array[cardinality(all_claims)]);
    end;
    return answers;
end;
$$;

-- For each change (a JSON array of wal2json documents) and the subscriptions
-- that may want it (a JSON array of {id, role, claims, schema, table, event,
-- filters}), one row per role that sees it: the ids of the subscriptions that
-- receive it and the event in Realtime's shape (schema, table,
-- commit_timestamp, type, columns, record, old_record, errors), cut to the
-- columns that role may read. Filters are compared with the columns' own
-- types on the new row (the old one for DELETE). Rows come in change order.
create or replace function realtime.apply_rls(changes jsonb, subscriptions jsonb, max_record_bytes int)
returns table (change_index int, subscription_ids int[], payload jsonb)
language plpgsql
as $$
declare
    change jsonb;
    entity regclass;
    action text;
    image jsonb;
    new_row jsonb;
    old_row jsonb;
    too_large boolean;
    matching jsonb;
    filters jsonb;
    filter_passes boolean[];
    passes jsonb;
    role_name text;
    readable text[];
    audiences jsonb;
    audience_ids jsonb;
    visible boolean[];
    ids int[];
    op text;
begin
    change_index := -1;
    foreach change in array coalesce((select array_agg(value order by n) from jsonb_array_elements(changes) with ordinality x(value, n)), '{}') loop
        change_index := change_index + 1;
        entity := to_regclass(format('%I.%I', change ->> 'schema', change ->> 'table'));
        action := case change ->> 'action' when 'I' then 'INSERT' when 'U' then 'UPDATE' when 'D' then 'DELETE' end;
        select coalesce(jsonb_agg(s), '[]') into matching
          from jsonb_array_elements(subscriptions) s
         where s ->> 'schema' = change ->> 'schema' and s ->> 'table' = change ->> 'table'
           and s ->> 'event' in ('*', action);
        continue when entity is null or action is null or jsonb_array_length(matching) = 0;

        -- Unchanged TOASTed values are missing from an UPDATE's new image; the
        -- old image (REPLICA IDENTITY FULL) has them.
        if action = 'UPDATE' then
            change := jsonb_set(change, '{columns}', change -> 'columns' || coalesce(
                (select jsonb_agg(o) from jsonb_array_elements(change -> 'identity') o
                  where not exists (select 1 from jsonb_array_elements(change -> 'columns') c
                                     where c ->> 'name' = o ->> 'name')), '[]'));
        end if;
        image := case when action = 'DELETE' then change -> 'identity' else change -> 'columns' end;
        too_large := octet_length(change::text) > max_record_bytes;
        if action <> 'DELETE' then
            execute format('select to_jsonb(r) from (%s) as r', realtime.image_select(change -> 'columns', 1))
               into new_row using realtime.image_values(change -> 'columns');
        end if;
        if action <> 'INSERT' then
            execute format('select to_jsonb(r) from (%s) as r', realtime.image_select(change -> 'identity', 1))
               into old_row using realtime.image_values(change -> 'identity');
        end if;

        -- Every distinct filter once, typed as its column.
        select coalesce(jsonb_agg(distinct f), '[]') into filters
          from jsonb_array_elements(matching) s, jsonb_array_elements(s -> 'filters') f;
        filter_passes := '{}';
        if jsonb_array_length(filters) > 0 then
            execute format('select array[%s] from (%s) as r',
                (select string_agg(
                     case when not exists (select 1 from jsonb_array_elements(image) c where c ->> 'name' = f ->> 0)
                          then 'false'
                          when f ->> 1 = 'in'
                          then format('coalesce(r.%I = any($2[%s]::%s[]), false)', f ->> 0, n,
                                      (select (c ->> 'typeoid')::oid::regtype from jsonb_array_elements(image) c where c ->> 'name' = f ->> 0))
                          else format('coalesce(r.%I %s $2[%s]::%s, false)', f ->> 0,
                                      case f ->> 1 when 'eq' then '=' when 'neq' then '<>' when 'lt' then '<'
                                                   when 'lte' then '<=' when 'gt' then '>' when 'gte' then '>=' end,
                                      n, (select (c ->> 'typeoid')::oid::regtype from jsonb_array_elements(image) c where c ->> 'name' = f ->> 0))
                     end, ', ' order by n)
                   from jsonb_array_elements(filters) with ordinality as x(f, n)),
                realtime.image_select(image, 1))
               into filter_passes
               using realtime.image_values(image), (select array_agg(f ->> 2 order by n) from jsonb_array_elements(filters) with ordinality as x(f, n));
        end if;

        select coalesce(jsonb_object_agg(f::text, coalesce(filter_passes[n], false)), '{}') into passes
          from jsonb_array_elements(filters) with ordinality as x(f, n);

        for role_name in select distinct s ->> 'role' from jsonb_array_elements(matching) s order by 1 loop
            continue when not has_any_column_privilege(role_name, entity, 'SELECT');
            select array_agg(a.attname::text) into readable
              from pg_attribute a
             where a.attrelid = entity and a.attnum > 0 and not a.attisdropped
               and has_column_privilege(role_name, entity, a.attnum, 'SELECT');
            -- The role's audiences (distinct claims), each with the ids of its
            -- subscriptions whose filters pass; the others need no RLS check.
            select coalesce(jsonb_agg(claims order by first), '[]'), coalesce(jsonb_agg(subscription_list order by first), '[]')
              into audiences, audience_ids
              from (select s -> 'claims' as claims, jsonb_agg((s ->> 'id')::int) as subscription_list, min(n) as first
                      from jsonb_array_elements(matching) with ordinality as x(s, n)
                     where s ->> 'role' = role_name
                       and not exists (
                           select 1 from jsonb_array_elements(s -> 'filters') f
                            where not (f ->> 0 = any(readable)) or not coalesce((passes ->> (f::text))::boolean, false))
                     group by s -> 'claims') g;
            continue when jsonb_array_length(audiences) = 0;
            visible := realtime.visible_to(entity, action, image, change -> 'pk', role_name, audiences);
            select coalesce(array_agg(id::int order by id::int), '{}') into ids
              from jsonb_array_elements(audience_ids) with ordinality as a(list, n), jsonb_array_elements_text(list) as id
             where visible[n];
            continue when cardinality(ids) = 0;
            subscription_ids := ids;
            payload := jsonb_build_object(
                'schema', change ->> 'schema',
                'table', change ->> 'table',
                'commit_timestamp', to_char((change ->> 'timestamp')::timestamptz at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'type', action,
                'columns', (select jsonb_agg(jsonb_build_object('name', a.attname, 'type', t.typname) order by a.attnum)
                              from pg_attribute a join pg_type t on t.oid = a.atttypid
                             where a.attrelid = entity and a.attname = any(readable)),
                'errors', case when too_large then jsonb_build_array('Error 413: Payload Too Large') end);
            if action <> 'DELETE' then
                payload := payload || jsonb_build_object('record', (
                    select coalesce(jsonb_object_agg(key, value), '{}') from jsonb_each(new_row)
                     where key = any(readable) and (not too_large or octet_length(value::text) <= 64)));
            end if;
            if action <> 'INSERT' then
                payload := payload || jsonb_build_object('old_record', (
                    select coalesce(jsonb_object_agg(key, value), '{}') from jsonb_each(old_row)
                     where key = any(readable) and (not too_large or octet_length(value::text) <= 64)));
            end if;
            return next;
        end loop;
    end loop;
end;
$$;
