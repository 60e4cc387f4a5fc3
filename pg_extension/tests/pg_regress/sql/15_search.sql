-- Search (search.sql): one string matches a library item's title and prompt,
-- or a workspace asset's prompt, in stages, each tried only when the one
-- before found nothing: words (full text, stemmed, web-search syntax), then
-- substring (ILIKE), then fuzzy word similarity (pg_trgm); the answer says
-- which stage matched; relevance ranks the matches. The library's search runs
-- on its GIN indexes, which lead with the user.
\set VERBOSITY terse
begin;
insert into user_library (id, user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt,
                          model_used, custom_title, tags, created_at)
select ('40000000-0000-4000-8000-00000000000' || n)::uuid, 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image',
       'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/4000000' || n || '.png', 1, 'image/png', prompt, 'sdxl', title,
       '{}', timestamptz '2026-03-01' + make_interval(days => n)
from (values
    (1, 'a red fox in the snow', null),
    (2, 'three foxes running at dawn', null),
    (3, 'an owl at night', 'Night watch'),
    (4, 'a mountain landscape, cinematic lighting', null),
    (5, 'a shirt of 100% cotton_wool', null),
    (6, 'a portrait of a woman', 'Fox portrait'),
    (7, 'a red fox sleeping, red leaves', null)
) as items (n, prompt, title);
-- bob has a fox too
insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt, model_used)
values ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'image', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/fox.png', 1,
        'image/png', 'a red fox', 'sdxl');
create function pg_temp.found(answer jsonb)
returns text
language sql
as $$
    select coalesce(string_agg(right(i ->> 'id', 1), ' ' order by n), '-')
    from jsonb_array_elements(answer -> 'items') with ordinality e (i, n)
$$;

select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
-- newest first unless asked for relevance; bob's fox is never found
select search, pg_temp.found(list_library(search => search)) as newest_first,
       pg_temp.found(list_library(search => search, sort => 'relevance')) as by_relevance,
       list_library(search => search) ->> 'match' as match
from (values
    ('fox'),              -- words: the word, its plural (stemmed), and the title
    ('FOXES'),            -- case does not matter
    ('"red fox"'),        -- a phrase
    ('fox -snow'),        -- a word, without another
    ('owl or mountain'),  -- either word
    ('night watch'),      -- the title counts
    ('ount'),             -- no such word: a substring of one
    ('mountian'),         -- neither word nor substring: a typo, fuzzy
    ('lighting fox'),     -- no text has both words or the phrase: the nearest
    ('100%'),             -- % and _ are plain characters, not patterns
    ('n_w'),
    ('the'),              -- stop words only (no words): the substring finds them
    ('ow'),               -- too short for substring and fuzzy: words only
    ('  fox  '),          -- trimmed
    ('zebra')             -- nothing
) as searches (search);
-- relevance pages follow their cursor (rank, then newest); the pages of a
-- search keep to the stage that matched on the first
select pg_temp.found(p1) as page_1, pg_temp.found(list_library(2, p1 -> 'next', search => 'fox', sort => 'relevance')) as page_2,
       (p1 -> 'next') ? 'rank' as cursor_has_rank
from (select list_library(2, search => 'fox', sort => 'relevance') as p1) a;
select pg_temp.found(p1) as fuzzy_1, p1 #>> '{next,match}' as cursor_match,
       pg_temp.found(list_library(1, p1 -> 'next', search => 'redd')) as fuzzy_2
from (select list_library(1, search => 'redd') as p1) a;
-- search combines with the filters
select pg_temp.found(list_library(search => 'fox', created_before => '2026-03-05')) as early_foxes;
-- a search string is short plain text
select rule, regress.try(statement) as answer
from (values
    ('at most 200 characters',   format('select list_library(search => %L)', repeat('s', 201))),
    ('... 200 is fine',          format('select list_library(search => %L)', repeat('s', 200))),
    ('no control characters',    $$select list_library(search => E'fox\u0007')$$),
    ('blank is no search',       $$select list_library(search => '   ')$$),
    ('a stage in a cursor needs a search', $$select list_library(after => '{"sort": "newest", "created_at": "2026-03-02T00:00:00Z", "id": "40000000-0000-4000-8000-000000000001", "match": "fuzzy"}')$$),
    ('... and is a stage',       $$select list_library(search => 'fox', after => '{"sort": "newest", "created_at": "2026-03-02T00:00:00Z", "id": "40000000-0000-4000-8000-000000000001", "match": "regex"}')$$),
    ('... nor for relevance',    $$select list_library(search => '   ', sort => 'relevance')$$)
) as cases (rule, statement);

-- the workspace: the same search over its prompts, and its filters
reset role;
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 2);
insert into jobs (id, user_id, job_type, mode, prompt, model, batch_size, generation_seed, status)
values ('10000000-0000-4000-8000-000000000002', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'video_fast', 'video',
        'an owl flying', 'wan', 1, 1, 'queued');
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select f as filter, (select string_agg(right(g ->> 'job_id', 1) || ':' || jsonb_array_length(g -> 'assets'), ' ')
                     from jsonb_array_elements(answer -> 'jobs') g) as jobs, answer ->> 'match' as match
from (values
    ('everything',      list_workspace()),
    ('search foxes',    list_workspace(search => 'foxes')),
    ('search owl',      list_workspace(search => 'owl')),
    ('search redd (typo)', list_workspace(search => 'redd')),
    ('search fox, videos', list_workspace(search => 'fox', asset_type => 'video')),
    ('videos',          list_workspace(asset_type => 'video')),
    ('model sdxl',      list_workspace(model => 'sdxl')),
    ('created later',   list_workspace(created_after => now() + interval '1 minute')),
    ('nothing',         list_workspace(search => 'zebra'))
) as cases (f, answer);
select regress.try($$select list_workspace(asset_type => 'gif')$$) as bad_type,
       regress.try(format('select list_workspace(search => %L)', repeat('s', 201))) as long_search;

-- The search is indexable: inlined, the predicate the listing filters by
-- (text_matches over library_text) runs on a GIN index at every stage — the
-- text search document for words, the trigram index for substring and
-- fuzzy; a tag filter runs on the tags' GIN index.
-- Each index leads with user_id (btree_gin), which the listing's
-- `user_id = ...` uses too, at scale (bench/library.sh). (The planner is
-- told to avoid plain scans: the table is tiny here.)
reset role;
set local enable_seqscan = off;
set local enable_indexscan = off;
set local search_path = public, extensions;
explain (costs off)
select l.id from user_library l
where ourvidz_private.text_matches(l.search_document, ourvidz_private.library_text(l.custom_title, l.original_prompt),
                                   'foxes', ourvidz_private.search_words('foxes'), ourvidz_private.search_pattern('foxes'),
                                   'words');
explain (costs off)
select l.id from user_library l
where ourvidz_private.text_matches(l.search_document, ourvidz_private.library_text(l.custom_title, l.original_prompt),
                                   'ount', ourvidz_private.search_words('ount'), ourvidz_private.search_pattern('ount'),
                                   'substring');
explain (costs off)
select l.id from user_library l
where ourvidz_private.text_matches(l.search_document, ourvidz_private.library_text(l.custom_title, l.original_prompt),
                                   'foxs', ourvidz_private.search_words('foxs'), ourvidz_private.search_pattern('foxs'),
                                   'fuzzy');
explain (costs off)
select l.id from user_library l where l.tags @> '{fox}';
rollback;
