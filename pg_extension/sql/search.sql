-- Search: what a search box finds in the library and the workspace.
--
-- A search string is matched against a text — a library item's title and
-- prompt, a workspace asset's prompt — in stages, each tried only when the one
-- before found nothing at all (search_matches()):
--   1. words: full text, the words stemmed (English) as a web search reads
--      them (`websearch_to_tsquery`: "quoted phrases", `or`, `-word`), against
--      a stored document with a GIN index in the library (user_library's
--      search_document), computed per row in the small per-user workspace;
--   2. substring: the string anywhere in the text, ignoring case (ILIKE,
--      served by pg_trgm's trigram GIN index in the library), for a part of a
--      word ("ount" finds "mountain");
--   3. fuzzy: the string close to a word of the text (pg_trgm's word
--      similarity `<%`, same index), for a typo ("mountian").
-- Staged rather than all at once because the later stages cost more per row
-- and match more loosely: in a 100,000-item library, every search would
-- otherwise pay for trigram matching and drag in near misses next to its
-- real matches. Substring and fuzzy need min_substring_chars() characters
-- (trigrams). Relevance is the full-text rank (ts_rank_cd) of a words match,
-- the word similarity of the others. A listing says which stage answered
-- (`match`), and its cursor keeps to that stage.
--
-- The predicate and the rank are SQL functions the planner inlines into the
-- listing queries, so the indexes apply. The listing functions plan with the
-- actual arguments (plan_cache_mode = force_custom_plan): the stages not
-- tried, and a part that does not apply (no words, a string too short), fold
-- away instead of becoming conditions no index can serve.

-- The stages, in the order they are tried.
create function ourvidz_private.search_matches()
returns text[]
language sql immutable parallel safe
as $$ select '{words,substring,fuzzy}'::text[] $$;

-- The search as given (trimmed), NULL for none or a blank one, or PT400.
create function ourvidz_private.checked_search(search text)
returns text
language plpgsql
immutable
as $$
begin
    if search is null or ourvidz_private.is_blank(search) then
        return null;
    end if;
    if char_length(btrim(search)) > ourvidz_private.max_search_chars()
       or not ourvidz_private.is_plain_text(search, false) then
        raise exception using errcode = 'PT400', message = format(
            'search must be at most %s characters without control characters', ourvidz_private.max_search_chars());
    end if;
    return btrim(search);
end;
$$;

-- The full-text query of a search (empty when it has no words but stop words).
create function ourvidz_private.search_words(search text)
returns tsquery
language sql immutable parallel safe
as $$ select websearch_to_tsquery('english', search) $$;

-- The ILIKE pattern of a search, or NULL when it is too short for trigrams.
create function ourvidz_private.search_pattern(search text)
returns text
language sql immutable parallel safe
as $$
    select case when char_length(search) >= ourvidz_private.min_substring_chars()
                then '%' || replace(replace(replace(search, '\', '\\'), '%', '\%'), '_', '\_') || '%' end
$$;

-- Does a text match at stage `match`? `document` is its text-search
-- document, `body` the text; `words` and `pattern` come from the two functions
-- above. (Stable, not immutable: `<%` reads pg_trgm's similarity threshold
-- setting, and a function declared more constant than its body is never
-- inlined.)
create function ourvidz_private.text_matches(document tsvector, body text, search text, words tsquery, pattern text,
                                             match text)
returns boolean
language sql stable parallel safe
as $$
    select (match = 'words' and numnode(words) > 0 and document @@ words)
        or (match = 'substring' and pattern is not null and body ilike pattern)
        or (match = 'fuzzy' and pattern is not null and search <% body)
$$;

create function ourvidz_private.text_rank(document tsvector, body text, search text, words tsquery, match text)
returns double precision
language sql stable parallel safe
as $$
    select case when match = 'words' then ts_rank_cd(document, words)::double precision
                else word_similarity(search, body)::double precision end
$$;

revoke execute on function ourvidz_private.search_matches(), ourvidz_private.checked_search(text), ourvidz_private.search_words(text),
    ourvidz_private.search_pattern(text), ourvidz_private.text_matches(tsvector, text, text, tsquery, text, text),
    ourvidz_private.text_rank(tsvector, text, text, tsquery, text)
    from public;
grant execute on function ourvidz_private.search_matches(), ourvidz_private.checked_search(text), ourvidz_private.search_words(text),
    ourvidz_private.search_pattern(text), ourvidz_private.text_matches(tsvector, text, text, tsquery, text, text),
    ourvidz_private.text_rank(tsvector, text, text, tsquery, text)
    to authenticated, service_role;
