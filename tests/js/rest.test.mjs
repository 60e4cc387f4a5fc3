// supabase-js against the local stack's /rest/v1, as an app uses it: tables
// through from() with filters, order, range, counts, single rows, writes with
// .select(), embedding along the schema's composite foreign keys, rpc(), and
// the errors a bad request gets (PostgREST's 4xx JSON, never a 5xx). Row-level
// security holds throughout: a user reads and changes only their own rows.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from './support.mjs';

let stack;
let alice;
let bob;
let asAlice;
let asBob;
let asAnon;
let asService;
let foxes;

// A row of user_library whose object path lies in its owner's folder.
function libraryRow(user, n, extra = {}) {
  return {
    asset_type: 'image',
    storage_path: `${user.id}/lib-${n}.png`,
    file_size_bytes: 1000 * n,
    mime_type: 'image/png',
    original_prompt: `prompt ${n}`,
    model_used: 'sdxl',
    ...extra,
  };
}

function assertNoServerError(result, what) {
  assert.ok(result.status < 500, `${what}: ${result.status} ${JSON.stringify(result.error)}`);
}

before(async () => {
  stack = await startStack();
  alice = await stack.createUser();
  bob = await stack.createUser();
  asAlice = stack.client(alice.token);
  asBob = stack.client(bob.token);
  asAnon = stack.client();
  asService = stack.client(stack.serviceRoleKey);

  const created = await asAlice.from('user_collections').insert([{ name: 'Foxes' }, { name: 'Owls' }]).select();
  assert.equal(created.error, null, JSON.stringify(created.error));
  foxes = created.data.find((c) => c.name === 'Foxes');
  const rows = [
    libraryRow(alice, 1, { custom_title: 'red fox', tags: ['fox', 'red'], collection_id: foxes.id, is_favorite: true }),
    libraryRow(alice, 2, { custom_title: 'arctic fox', tags: ['fox', 'white'], collection_id: foxes.id }),
    libraryRow(alice, 3, { custom_title: 'barn owl', tags: ['owl'] }),
    libraryRow(alice, 4, { custom_title: 'snowy owl', tags: ['owl', 'white'], asset_type: 'video', mime_type: 'video/mp4' }),
    libraryRow(alice, 5, { custom_title: 'fox cub', tags: ['fox'] }),
  ];
  // The rows differ in keys: columns= lists their union, missing=default fills the rest.
  const inserted = await asAlice.from('user_library').insert(rows, { defaultToNull: false });
  assert.equal(inserted.error, null, JSON.stringify(inserted.error));
  const theirs = await asBob
    .from('user_library')
    .insert([libraryRow(bob, 1, { custom_title: 'bob fox', tags: ['fox'] }), libraryRow(bob, 2)], { defaultToNull: false });
  assert.equal(theirs.error, null, JSON.stringify(theirs.error));
});

after(async () => {
  await stack?.stop();
});

test('select with filters, order and range answers the caller\'s own rows', async () => {
  const page = await asAlice
    .from('user_library')
    .select('custom_title, tags')
    .contains('tags', ['fox'])
    .order('file_size_bytes', { ascending: false })
    .range(0, 1);
  assert.equal(page.error, null);
  assert.deepEqual(page.data.map((r) => r.custom_title), ['fox cub', 'arctic fox']);

  const cases = [
    [asAlice.from('user_library').select('custom_title').eq('asset_type', 'video'), ['snowy owl']],
    [asAlice.from('user_library').select('custom_title').in('custom_title', ['red fox', 'barn owl', 'bob fox']), ['barn owl', 'red fox']],
    [asAlice.from('user_library').select('custom_title').ilike('custom_title', '%OWL%'), ['barn owl', 'snowy owl']],
    [asAlice.from('user_library').select('custom_title').gte('file_size_bytes', 4000), ['fox cub', 'snowy owl']],
    [asAlice.from('user_library').select('custom_title').not('collection_id', 'is', null), ['arctic fox', 'red fox']],
    [asAlice.from('user_library').select('custom_title').or('is_favorite.eq.true,custom_title.like.*cub'), ['fox cub', 'red fox']],
    [asAlice.from('user_library').select('custom_title').overlaps('tags', ['white', 'red']), ['arctic fox', 'red fox', 'snowy owl']],
    [asAlice.from('user_library').select('custom_title').textSearch('custom_title', 'owls', { config: 'english' }), ['barn owl', 'snowy owl']],
    [asAlice.from('user_library').select('custom_title').match({ asset_type: 'image', is_favorite: false }).neq('custom_title', 'fox cub'), ['arctic fox', 'barn owl']],
  ];
  for (const [query, expected] of cases) {
    const { data, error } = await query.order('custom_title');
    assert.equal(error, null, JSON.stringify(error));
    assert.deepEqual(data.map((r) => r.custom_title), expected);
  }
});

test('count exact counts only own rows, also with head', async () => {
  const mine = await asAlice.from('user_library').select('id', { count: 'exact' }).limit(2);
  assert.equal(mine.count, 5);
  assert.equal(mine.data.length, 2);
  assert.equal(mine.status, 206);
  const theirs = await asBob.from('user_library').select('*', { count: 'exact', head: true });
  assert.equal(theirs.count, 2);
  assert.equal(theirs.data, null);
  const all = await asService.from('user_library').select('*', { count: 'exact', head: true }).in('user_id', [alice.id, bob.id]);
  assert.equal(all.count, 7);
});

test('single() and maybeSingle() want one row', async () => {
  const one = await asAlice.from('user_library').select('custom_title').eq('custom_title', 'red fox').single();
  assert.deepEqual(one.data, { custom_title: 'red fox' });
  const none = await asAlice.from('user_library').select('custom_title').eq('custom_title', 'bob fox').single();
  assert.equal(none.status, 406);
  assert.equal(none.error.code, 'PGRST116');
  const maybe = await asAlice.from('user_library').select('custom_title').eq('custom_title', 'bob fox').maybeSingle();
  assert.equal(maybe.error, null);
  assert.equal(maybe.data, null);
  const many = await asAlice.from('user_library').select('custom_title').contains('tags', ['owl']).maybeSingle();
  assert.equal(many.error.code, 'PGRST116');
});

test('embedding follows the composite foreign keys both ways', async () => {
  const items = await asAlice.from('user_library').select('custom_title, user_collections(name)').eq('custom_title', 'red fox').single();
  assert.deepEqual(items.data, { custom_title: 'red fox', user_collections: { name: 'Foxes' } });
  const collections = await asAlice
    .from('user_collections')
    .select('name, asset_count, user_library(custom_title)')
    .order('name')
    .order('custom_title', { referencedTable: 'user_library' });
  assert.equal(collections.error, null, JSON.stringify(collections.error));
  assert.deepEqual(collections.data, [
    { name: 'Foxes', asset_count: 2, user_library: [{ custom_title: 'arctic fox' }, { custom_title: 'red fox' }] },
    { name: 'Owls', asset_count: 0, user_library: [] },
  ]);
  const inner = await asAlice.from('user_collections').select('name, user_library!inner(custom_title)');
  assert.deepEqual(inner.data.map((c) => c.name), ['Foxes']);
});

test('insert, update, upsert and delete with .select() reach only own rows', async () => {
  const created = await asAlice.from('user_collections').insert({ name: 'Drafts' }).select().single();
  assert.equal(created.status, 201);
  assert.equal(created.data.name, 'Drafts');
  assert.equal(created.data.user_id, alice.id);

  // A user may not rewrite a collection's id, which a merging upsert's SET would:
  // users upsert by ignoring duplicates; merging is the service role's.
  const kept = await asAlice.from('user_collections').upsert({ id: created.data.id, name: 'Ignored' }, { ignoreDuplicates: true }).select('name');
  assert.equal(kept.error, null, JSON.stringify(kept.error));
  assert.deepEqual(kept.data, []);
  const merging = await asAlice.from('user_collections').upsert({ id: created.data.id, name: 'Sketches' });
  assert.equal(merging.error.code, '42501');
  const renamed = await asService.from('user_collections').upsert({ id: created.data.id, user_id: alice.id, name: 'Sketches' }).select('name');
  assert.equal(renamed.error, null, JSON.stringify(renamed.error));
  assert.equal(renamed.status, 200, 'an upsert that only updates answers 200');
  assert.deepEqual(renamed.data, [{ name: 'Sketches' }]);
  const fresh = await asService.from('user_collections').upsert({ user_id: alice.id, name: 'New' }, { defaultToNull: false }).select('name');
  assert.equal(fresh.status, 201, 'an upsert that inserts answers 201');
  await asService.from('user_collections').delete().eq('name', 'New').eq('user_id', alice.id);

  const mixed = await asAlice.from('user_collections').insert([{ name: 'A' }, { name: 'B', description: 'bee' }]).select('name, description');
  assert.deepEqual(mixed.data.sort((a, b) => a.name.localeCompare(b.name)), [{ name: 'A', description: null }, { name: 'B', description: 'bee' }]);

  const updated = await asAlice.from('user_library').update({ custom_title: 'fox kit', is_favorite: true }).eq('custom_title', 'fox cub').select('custom_title, is_favorite');
  assert.deepEqual(updated.data, [{ custom_title: 'fox kit', is_favorite: true }]);

  // Bob's rows are invisible to Alice: updating or deleting them affects nothing.
  const stolen = await asAlice.from('user_library').update({ custom_title: 'mine now' }).eq('custom_title', 'bob fox').select();
  assert.deepEqual(stolen.data, []);
  const removed = await asAlice.from('user_library').delete().eq('custom_title', 'bob fox').select();
  assert.deepEqual(removed.data, []);
  const still = await asBob.from('user_library').select('custom_title').eq('custom_title', 'bob fox');
  assert.deepEqual(still.data, [{ custom_title: 'bob fox' }]);

  // A row for someone else cannot be inserted, and a stored path cannot be changed.
  const forged = await asAlice.from('user_collections').insert({ name: 'forged', user_id: bob.id });
  assert.equal(forged.status, 403);
  assert.equal(forged.error.code, '42501');
  const repath = await asAlice.from('user_library').update({ storage_path: `${alice.id}/other.png` }).eq('custom_title', 'red fox');
  assert.equal(repath.error.code, '42501');

  const deleted = await asAlice.from('user_collections').delete().in('name', ['A', 'B']).select('name');
  assert.deepEqual(deleted.data.map((c) => c.name).sort(), ['A', 'B']);
});

test('rpc() calls the SQL API with named arguments, by POST and GET', async () => {
  const queued = await asAlice.rpc('enqueue_job', { request: { mode: 'image', prompt: 'a fox in the snow' }, idempotency_key: 'js-rpc' });
  assert.equal(queued.error, null, JSON.stringify(queued.error));
  assert.equal(queued.data.created, true);
  assert.equal(queued.data.job.status, 'queued');
  const again = await asAlice.rpc('enqueue_job', { request: { mode: 'image', prompt: 'a fox in the snow' }, idempotency_key: 'js-rpc' });
  assert.equal(again.data.created, false);
  assert.equal(again.data.job.id, queued.data.job.id);

  const workspace = await asAlice.rpc('list_workspace', { page_size: 5 }, { get: true });
  assert.equal(workspace.error, null, JSON.stringify(workspace.error));
  assert.deepEqual(workspace.data.jobs.map((j) => j.job_id), [queued.data.job.id]);
  const bobs = await asBob.rpc('list_workspace', {});
  assert.deepEqual(bobs.data.jobs, []);

  const refused = await asAlice.rpc('enqueue_job', { request: { mode: 'sculpture', prompt: 'x' } });
  assert.equal(refused.status, 400);
  assert.equal(refused.error.code, 'PT400');
  const missing = await asAlice.rpc('discard_workspace_assets', { job_id: '00000000-0000-0000-0000-000000000000' });
  assert.equal(missing.status, 404);
  assert.equal(missing.error.code, 'PT404');
  const workerOnly = await asAlice.rpc('claim_jobs', { worker_id: 'sneaky' });
  assert.equal(workerOnly.status, 403);
});

test('anon sees no table and the service role sees every row', async () => {
  const anon = await asAnon.from('user_library').select('*');
  assert.equal(anon.status, 401);
  assert.equal(anon.error.code, '42501');
  const service = await asService.from('user_library').select('user_id').in('user_id', [alice.id, bob.id]);
  assert.equal(service.data.length, 7);
});

test('bad requests get PostgREST\'s 4xx JSON, never a 5xx', async () => {
  const cases = [
    [asAlice.from('user_library').select('nope'), 400, '42703'],
    [asAlice.from('user_library').select('*').eq('nope', 1), 400, '42703'],
    [asAlice.from('no_such_table').select('*'), 404, '42P01'],
    [asAlice.rpc('no_such_function', {}), 404, 'PGRST202'],
    [asAlice.rpc('enqueue_job', { nope: 1 }), 404, 'PGRST202'],
    [asAlice.from('user_library').select('*').filter('custom_title', 'nope', 'x'), 400, 'PGRST100'],
    [asAlice.from('user_library').select('*').or('custom_title.eq.a,'), 400, 'PGRST100'],
    [asAlice.from('user_library').select('*').or('custom_title.eq.a,and('), 400, 'PGRST100'],
    [asAlice.from('user_library').select('*').or('custom_title.eq.a))'), 400, 'PGRST100'],
    [asAlice.from('user_library').select('*').eq('id', 'not-a-uuid'), 400, '22P02'],
    [asAlice.from('user_library').select('*, nope(*)'), 400, 'PGRST200'],
    [asAlice.from('user_library').insert({ nope: 1 }), 400, 'PGRST204'],
  ];
  for (const [query, status, code] of cases) {
    const result = await query;
    assertNoServerError(result, code);
    assert.ok(result.error, `expected ${code}, got ${result.status} ${JSON.stringify(result.data)}`);
    assert.equal(result.status, status, JSON.stringify(result.error));
    assert.equal(result.error.code, code, JSON.stringify(result.error));
    assert.ok('message' in result.error && 'details' in result.error && 'hint' in result.error);
  }

  for (const body of ['{"name": ', 'not json', '']) {
    const response = await fetch(`${stack.url}/rest/v1/user_collections`, {
      method: 'POST',
      headers: { apikey: stack.anonKey, authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body,
    });
    assert.equal(response.status, 400);
    const error = await response.json();
    assert.equal(error.code, 'PGRST102');
  }
});
