//! The twins answer alike: each Rust function of the extension and its plpgsql
//! twin of the pure-SQL build get the same few thousand generated inputs and
//! must give identical results — the same values, the same errors.
//!
//! - `normalize_storage_path` and `storage_path_is_owned`: paths built from
//!   the pieces that make paths hard (unicode, percent-encoding, `.`/`..`,
//!   empty segments, backslashes, control characters, bucket prefixes, lengths
//!   around 1024 bytes), with every bucket argument including NULL and none;
//! - the collection-count trigger: random histories of inserts, moves,
//!   deletes (single and multi-row statements, valid and refused), collection
//!   removals, mostly one statement per transaction and sometimes several
//!   (with savepoints rolled back, and rollbacks); after every statement the
//!   counts of both builds are compared, and after every transaction compared
//!   with the rows;
//! - the expiry cleanup: random mixes of expired and live rows (ties, thumbnails,
//!   several users) cleaned in random batch sizes; each call's answer, the rows
//!   left and the deletion outbox are compared.
//!
//! Only behaviour is compared (answers, counts, rows), never how a twin works,
//! so a twin may be rewritten (a statement-level trigger, a committing
//! procedure) and this test still says whether it still is a twin. Inputs come
//! from a seeded generator: `OURVIDZ_DIFF_SEED=<n>` replays or varies them.

use ourvidz_differential::{Answer, Builds};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use uuid::Uuid;

const USERS: [&str; 3] =
    ["aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", "cccccccc-cccc-4ccc-8ccc-cccccccccccc"];

fn rng(test: u64) -> StdRng {
    let seed = std::env::var("OURVIDZ_DIFF_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(14);
    eprintln!("generated inputs: OURVIDZ_DIFF_SEED={seed}");
    StdRng::seed_from_u64(seed ^ (test << 32))
}

fn uuid(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// `value` for a failure message, long strings cut short.
fn short<T: std::fmt::Debug>(value: &T) -> String {
    let text = format!("{value:?}");
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…({} bytes)", &text[..cut], text.len()),
        None => text,
    }
}

/// Where two lists of answers differ, as readable lines (at most ten).
fn differences<I: std::fmt::Debug>(inputs: &[I], extension: &Answer, migrations: &Answer) -> Vec<String> {
    match (extension, migrations) {
        (Ok(left), Ok(right)) => inputs
            .iter()
            .zip(left.iter().zip(right))
            .filter(|(_, (l, r))| l != r)
            .take(10)
            .map(|(input, (l, r))| format!("{}: extension {}, pure SQL {}", short(input), short(l), short(r)))
            .collect(),
        _ => vec![format!("extension {extension:?}, pure SQL {migrations:?}")],
    }
}

// ------------------------------------------------------------------ paths

/// Pieces of ordinary paths.
const PLAIN: &[&str] = &["a", "b.png", "0.png", "thumbnails", "x y", "é", "日本語", "10000000-0000-4000-8000-000000000001"];

/// Pieces of hostile and ordinary paths.
const SEGMENTS: &[&str] = &[
    "a", "b.png", "0.png", "thumbnails", "x y", " ", "é", "ü.png", "日本語", "💥", "e\u{301}", "%2e", "%2E%2E",
    "%2e%2e%2f", "..%2f", "%", ".", "..", "...", ".hidden", "a.", "\\", "a\\b", "..\\", "\t", "\u{1}", "\u{1f}",
    "\u{7f}", "\u{80}", "\u{85}", "\u{9f}", "\u{a0}", "\u{200b}", "\u{feff}", "workspace-temp", "user-library",
    "workspace-tempx", "user-library2", "WORKSPACE-TEMP", "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
    "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", "AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA", "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaax",
];

const BUCKETS: &[Option<&str>] =
    &[None, None, Some("workspace-temp"), Some("user-library"), Some(""), Some("other"), Some("workspace-temp/"), Some("é")];

fn path(rng: &mut StdRng) -> Option<String> {
    if rng.random_ratio(1, 50) {
        return None;
    }
    let mut path = "/".repeat(*[0, 0, 0, 1, 2].choose(rng).expect("choices"));
    if rng.random_ratio(1, 2) {
        path.push_str(["workspace-temp/", "user-library/", "workspace-temp//", "user-library"].choose(rng).expect("choices"));
    }
    if rng.random_ratio(3, 4) {
        path.push_str(USERS[rng.random_range(0..2)]);
        path.push('/');
    }
    for i in 0..rng.random_range(0..6) {
        if i > 0 {
            path.push_str(if rng.random_ratio(1, 10) { "//" } else { "/" });
        }
        let pieces = if rng.random_ratio(1, 2) { PLAIN } else { SEGMENTS };
        path.push_str(pieces.choose(rng).expect("segments"));
    }
    if rng.random_ratio(1, 8) {
        path.push('/');
    }
    if rng.random_ratio(1, 12) {
        // around Supabase's 1024-byte limit, in one- to four-byte characters
        let piece = ["a", "é", "日", "💥"].choose(rng).expect("choices");
        let length = rng.random_range(1010..1040);
        while path.len() < length {
            path.push_str(piece);
        }
    }
    Some(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normalize_storage_path_answers_alike_in_both_builds() {
    let builds = Builds::create().await;
    let mut rng = rng(1);
    let inputs: Vec<(Option<String>, Option<&str>)> =
        (0..4000).map(|_| (path(&mut rng), *BUCKETS.choose(&mut rng).expect("buckets"))).collect();
    let paths: Vec<Option<String>> = inputs.iter().map(|(p, _)| p.clone()).collect();
    let buckets: Vec<Option<String>> = inputs.iter().map(|(_, b)| b.map(str::to_owned)).collect();
    builds
        .setup(
            "create function normalize_answer(path text, bucket text, omit boolean) returns text language plpgsql as $$
             begin
                 return 'ok ' || coalesce(case when omit then normalize_storage_path(path)
                                               else normalize_storage_path(path, bucket) end, '<null>');
             exception when others then
                 return 'error ' || sqlstate || ' ' || sqlerrm;
             end $$",
        )
        .await;
    // a NULL bucket is asked both ways: given explicitly, and left out
    let sql = "select normalize_answer(p, b, false), case when b is null then normalize_answer(p, b, true) end
               from unnest($1::text[], $2::text[]) with ordinality t (p, b, n) order by n";
    let (extension, migrations) = builds.both(sql, &[&paths, &buckets]).await;
    let diverging = differences(&inputs, &extension, &migrations);
    assert!(diverging.is_empty(), "normalize_storage_path twins differ:\n{}", diverging.join("\n"));

    // The inputs reach every answer, so the comparison is not vacuous.
    let answers = extension.expect("answers");
    eprintln!("{} inputs compared ({} with the bucket left out as well)", answers.len(),
              answers.iter().filter(|row| row[1].is_some()).count());
    let count = |prefix: &str| answers.iter().filter(|row| row[0].as_deref().is_some_and(|a| a.starts_with(prefix))).count();
    for kind in ["ok ", "error 22023 storage path contains a '.'", "error 22023 storage path contains an empty",
                 "error 22023 storage path contains a backslash", "error 22023 storage path contains a control",
                 "error 22023 storage path is empty", "error 22023 storage path is longer", "ok <null>"] {
        assert!(count(kind) >= 10, "only {} answers {kind:?} among {} inputs", count(kind), answers.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_path_is_owned_answers_alike_in_both_builds() {
    let builds = Builds::create().await;
    let mut rng = rng(2);
    let owners = [Some(USERS[0]), Some(USERS[1]), None];
    let inputs: Vec<(Option<String>, Option<Uuid>)> = (0..4000)
        .map(|_| (path(&mut rng), owners.choose(&mut rng).expect("owners").map(|o| o.parse().expect("a uuid"))))
        .collect();
    let paths: Vec<Option<String>> = inputs.iter().map(|(p, _)| p.clone()).collect();
    let owner_ids: Vec<Option<Uuid>> = inputs.iter().map(|(_, o)| *o).collect();
    let sql = "select storage_path_is_owned(p, o)::text
               from unnest($1::text[], $2::uuid[]) with ordinality t (p, o, n) order by n";
    let (extension, migrations) = builds.both(sql, &[&paths, &owner_ids]).await;
    let diverging = differences(&inputs, &extension, &migrations);
    assert!(diverging.is_empty(), "storage_path_is_owned twins differ:\n{}", diverging.join("\n"));
    let answers = extension.expect("answers");
    eprintln!("{} inputs compared", answers.len());
    let owned = answers.iter().filter(|row| row[0].as_deref() == Some("true")).count();
    assert!(owned >= 100 && answers.len() - owned >= 100, "{owned} of {} inputs owned: too one-sided", answers.len());
}

// ------------------------------------------------------------ collections

/// The library rows and collections as the extension's database holds them
/// (equal to the other's, checked after every statement).
struct Library {
    rows: Vec<(String, String, Option<String>)>,
    collections: Vec<(String, String)>,
}

async fn library(builds: &Builds) -> Library {
    let rows = ourvidz_differential::answer(&builds.extension,
        "select id::text, user_id::text, collection_id::text from user_library order by id", &[]).await.expect("rows");
    let collections = ourvidz_differential::answer(&builds.extension,
        "select id::text, user_id::text from user_collections order by id", &[]).await.expect("collections");
    Library {
        rows: rows.into_iter().map(|r| (r[0].clone().unwrap_or_default(), r[1].clone().unwrap_or_default(), r[2].clone())).collect(),
        collections: collections.into_iter().map(|c| (c[0].clone().unwrap_or_default(), c[1].clone().unwrap_or_default())).collect(),
    }
}

fn quoted(ids: &[&String]) -> String {
    let list: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
    format!("array[{}]::uuid[]", list.join(", "))
}

fn sql_or_null(id: Option<&String>) -> String {
    id.map_or("null".to_owned(), |id| format!("'{id}'"))
}

/// One random statement on the library, valid or not.
fn library_statement(rng: &mut StdRng, state: &Library) -> String {
    let user = USERS[rng.random_range(0..USERS.len())];
    let own_collections: Vec<&String> = state.collections.iter().filter(|(_, u)| u == user).map(|(id, _)| id).collect();
    let any_collection = |rng: &mut StdRng| -> Option<&String> {
        if rng.random_ratio(1, 5) || state.collections.is_empty() {
            None
        } else if rng.random_ratio(9, 10) && !own_collections.is_empty() {
            own_collections.choose(rng).copied()
        } else {
            state.collections.choose(rng).map(|(id, _)| id) // possibly another user's: refused
        }
    };
    let some_rows = |rng: &mut StdRng| -> Vec<&String> {
        let n = rng.random_range(1..=4).min(state.rows.len());
        state.rows.sample(rng, n).map(|(id, _, _)| id).collect()
    };
    match rng.random_range(0..100) {
        0..=29 => {
            let values: Vec<String> = (0..rng.random_range(1..=5))
                .map(|_| {
                    let id = uuid(rng);
                    format!("('{id}', '{user}', 'image', '{user}/{id}.png', 1, 'image/png', 'p', 'm', {})",
                            sql_or_null(any_collection(rng)))
                })
                .collect();
            format!("insert into user_library (id, user_id, asset_type, storage_path, file_size_bytes, mime_type,
                     original_prompt, model_used, collection_id) values {}", values.join(", "))
        }
        30..=49 if !state.rows.is_empty() => {
            format!("update user_library set collection_id = {} where id = any ({})",
                    sql_or_null(any_collection(rng)), quoted(&some_rows(rng)))
        }
        50..=57 if own_collections.len() >= 2 => {
            let pair: Vec<&&String> = own_collections.sample(rng, 2).collect();
            format!("update user_library set collection_id = case when collection_id = '{0}' then '{1}'::uuid else '{0}'::uuid end
                     where collection_id in ('{0}', '{1}')", pair[0], pair[1])
        }
        58..=71 if !state.rows.is_empty() => format!("delete from user_library where id = any ({})", quoted(&some_rows(rng))),
        72..=75 => format!("delete from user_library where user_id = '{user}' and collection_id is not distinct from {}",
                           sql_or_null(any_collection(rng))),
        76..=81 if !state.rows.is_empty() => {
            // touches the row without moving it: no count may change
            format!("update user_library set custom_title = 't', collection_id = collection_id where id = any ({})",
                    quoted(&some_rows(rng)))
        }
        82..=87 if !state.collections.is_empty() => {
            format!("delete from user_collections where id = '{}'", state.collections.choose(rng).expect("some").0)
        }
        _ => {
            // names are unique per user
            let id = uuid(rng);
            format!("insert into user_collections (id, user_id, name) values ('{id}', '{user}', 'c {id}')")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_counts_follow_random_histories_alike_in_both_builds() {
    let builds = Builds::create().await;
    let mut rng = rng(3);
    let users: Vec<String> = USERS.iter().map(|u| format!("('{u}')")).collect();
    builds.setup(&format!("insert into auth.users (id) values {}", users.join(", "))).await;
    let counts = "select c.id::text, c.asset_count::text,
                         (select count(*) from user_library l where l.collection_id = c.id)::text
                  from user_collections c order by c.id";
    // Transactions are shaped by a generator of their own, so the statements
    // are drawn from the same stream as ever.
    let mut shapes = self::rng(30);
    let (mut statements, mut refused, mut moved, mut transactions) = (0, 0, 0, 0);
    let mut step = 0;
    while step < 2000 {
        // Mostly one statement per transaction; sometimes several in one,
        // whose later statements' counts wait for the commit (or a rollback,
        // or a rollback to a savepoint, drops them).
        let several = shapes.random_ratio(1, 8);
        let length = if several { shapes.random_range(2..=5) } else { 1 };
        let savepoint = (several && shapes.random_ratio(1, 3)).then(|| shapes.random_range(0..length));
        if several {
            builds.setup("begin").await;
            transactions += 1;
        }
        for position in 0..length {
            if savepoint == Some(position) {
                builds.setup("savepoint undo").await;
            }
            let state = library(&builds).await;
            let statement = library_statement(&mut rng, &state);
            let outcome = builds.same(&format!("step {step}: {statement}"), builds.both(&statement, &[]).await);
            statements += 1;
            step += 1;
            refused += usize::from(outcome.is_err());
            moved += usize::from(statement.starts_with("update user_library set collection_id") && outcome.is_ok());
            // inside a transaction the twins must lag alike
            let _ = builds.same(&format!("counts after step {step}: {statement}"), builds.both(counts, &[]).await);
            if outcome.is_err() {
                break;
            }
        }
        if several {
            let aborted = ourvidz_differential::answer(&builds.extension, "select 'open'", &[]).await.is_err();
            let end = match savepoint {
                Some(_) if !aborted => "rollback to savepoint undo; commit",
                _ if shapes.random_ratio(1, 6) => "rollback",
                _ => "commit",
            };
            builds.setup(end).await;
        }
        let after = builds.same(&format!("counts after step {step}"), builds.both(counts, &[]).await);
        for row in after.expect("counts") {
            assert_eq!(row[1], row[2], "after step {step} collection {:?} counts {:?} of {:?} rows", row[0], row[1], row[2]);
        }
    }
    let state = library(&builds).await;
    eprintln!("{statements} statements compared ({refused} refused alike, {moved} moves, {transactions} transactions of several)");
    assert!(refused >= 20 && moved >= 200 && transactions >= 50,
            "{statements} statements: {refused} refused, {moved} moves, {transactions} transactions of several");
    assert!(state.rows.len() >= 20 && state.collections.len() >= 5, "the history ends nearly empty");
}

// ---------------------------------------------------------------- cleanup

/// The call under test; its answer is the number of rows it removed.
fn cleanup_call(batch_size: i32, max_batches: i32) -> String {
    format!("select cleanup_expired_workspace_assets(batch_size => {batch_size}, max_batches => {max_batches})::text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_the_same_rows_in_both_builds() {
    let builds = Builds::create().await;
    let mut rng = rng(4);
    let users: Vec<String> = USERS.iter().map(|u| format!("('{u}')")).collect();
    builds.setup(&format!("insert into auth.users (id) values {}", users.join(", "))).await;
    let state = "select 'row ' || id || ' ' || user_id from workspace_assets
                 union all
                 select 'outbox ' || bucket_id || ' ' || object_name || ' ' || user_id || ' ' || reason
                 from storage_deletion_outbox
                 order by 1";
    let (mut rows, mut removed, mut calls) = (0usize, 0usize, 0usize);
    for round in 0..40 {
        builds.setup("delete from jobs; delete from storage_deletion_outbox;").await;
        // Expiry offsets at least 5 minutes from now, so the moment of the
        // call cannot matter; the exact boundary is specified in pg_regress
        // (06_cleanup). Repeated offsets make ties, ordered by id.
        let menu: Vec<i64> = (0..rng.random_range(1..12))
            .map(|_| {
                // (a row may live at most 7 days: 604,800 seconds)
                if rng.random_ratio(1, 2) { -rng.random_range(300..864_000) } else { rng.random_range(300..600_000) }
            })
            .collect();
        let mut values = Vec::new();
        for job in 0..rng.random_range(1..=8) {
            let user = USERS[rng.random_range(0..USERS.len())];
            let job_id = uuid(&mut rng);
            builds
                .setup(&format!(
                    "insert into jobs (id, user_id, job_type, mode, prompt, model, batch_size, generation_seed, status)
                     values ('{job_id}', '{user}', 'image_fast', 'image', 'p', 'sdxl', 1, {job}, 'completed')"
                ))
                .await;
            for index in 0..rng.random_range(1..=25) {
                let thumbnail = if rng.random_ratio(1, 3) { format!("'{user}/{job_id}/thumbnails/{index}.jpg'") } else { "null".into() };
                values.push(format!(
                    "('{}', '{user}', '{job_id}', {index}, 'image', '{user}/{job_id}/{index}.png', {thumbnail}, 1, 'image/png', 1,
                      'p', 'sdxl', now() + make_interval(secs => {}))",
                    uuid(&mut rng), menu.choose(&mut rng).expect("offsets")
                ));
            }
        }
        rows += values.len();
        values.shuffle(&mut rng);
        builds
            .setup(&format!(
                "insert into workspace_assets (id, user_id, job_id, asset_index, asset_type, temp_storage_path, thumbnail_path,
                     file_size_bytes, mime_type, generation_seed, original_prompt, model_used, expires_at) values {}",
                values.join(", ")
            ))
            .await;
        loop {
            let (batch_size, max_batches) = (rng.random_range(-1..40), rng.random_range(-1..6));
            let call = cleanup_call(batch_size, max_batches);
            let answer = builds.same(&format!("round {round}: {call}"), builds.both(&call, &[]).await);
            calls += 1;
            builds.same(&format!("round {round}: rows and outbox after {call}"), builds.both(state, &[]).await).expect("rows and outbox");
            if let Ok(answer) = answer {
                let count: usize = answer[0][0].as_deref().and_then(|n| n.parse().ok()).expect("a count");
                removed += count;
                if count == 0 && batch_size > 0 && max_batches > 0 {
                    break;
                }
            }
        }
    }
    eprintln!("{rows} rows in 40 rounds, {calls} cleanup calls compared, {removed} rows removed alike");
    assert!(rows >= 2000 && removed >= rows / 4 && removed <= rows * 3 / 4, "{removed} of {rows} rows removed");
}
