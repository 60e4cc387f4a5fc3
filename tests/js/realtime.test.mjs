// Realtime with the client the app uses: supabase-js' `channel().on('postgres_changes')`
// against the local stack, with the reference worker rendering real jobs.
// What a user sees is decided by the database (RLS with the user's token), so
// one user's subscription never carries another's rows; a filter narrows it;
// the client rejoins by itself when the stack restarts; an expired token is
// refused with Realtime's reason.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@supabase/supabase-js';
import { startStack, repoRoot } from './support.mjs';

let stack;
before(async () => {
  stack = await startStack({ worker: true });
});
after(async () => {
  await stack?.stop();
});

/** Resolves once `check()` is truthy; fails after `timeoutMs`. */
async function until(check, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A supabase-js client acting as `token`, its Realtime token settled before
 * any channel joins. A channel subscribed in the same tick as `createClient`
 * would join with the apikey instead: the client's first `setAuth` is still
 * pending when the join is queued, and later refreshes only send a token that
 * changed. That is the client's behaviour against hosted Supabase too; the app
 * creates its client once, long before it subscribes.
 */
async function clientAs(token) {
  const supabase = stack.client(token);
  await supabase.realtime.setAuth();
  return supabase;
}

/** Subscribe `channel` and resolve on SUBSCRIBED, reject on an error; `statuses` keeps every status. */
function subscribed(channel, statuses = []) {
  return new Promise((resolve, reject) => {
    channel.subscribe((status, error) => {
      statuses.push(status);
      if (status === 'SUBSCRIBED') resolve(statuses);
      if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') reject(error ?? new Error(status));
    });
  });
}

/** A user's channel on their workspace: every change of `jobs` and `workspace_assets` they may see. */
async function watchWorkspace(supabase, name) {
  const events = [];
  const channel = supabase
    .channel(name)
    .on('postgres_changes', { event: '*', schema: 'public', table: 'jobs' }, (payload) => events.push(payload))
    .on('postgres_changes', { event: '*', schema: 'public', table: 'workspace_assets' }, (payload) => events.push(payload));
  await subscribed(channel);
  return { channel, events };
}

async function queueJob(supabase, prompt) {
  const { data, error } = await supabase.functions.invoke('queue-job', { body: { mode: 'image', prompt } });
  assert.equal(error, null, `queue-job failed: ${error?.message}`);
  return data.job;
}

const jobStatuses = (events, jobId) =>
  events.filter((e) => e.table === 'jobs' && e.new.id === jobId).map((e) => e.new.status);
const assetInserts = (events, jobId) =>
  events.filter((e) => e.table === 'workspace_assets' && e.eventType === 'INSERT' && e.new.job_id === jobId);

test('a rendered job reaches its owner as status changes and three asset inserts, and nothing of it reaches another user', async () => {
  const [alice, bob] = [await stack.createUser(), await stack.createUser()];
  const [aliceClient, bobClient] = [await clientAs(alice.token), await clientAs(bob.token)];
  try {
    const mine = await watchWorkspace(aliceClient, 'workspace');
    const theirs = await watchWorkspace(bobClient, 'workspace');
    // The README's snippet, as the app writes it.
    const snippet = [];
    const channel = aliceClient
      .channel('ws')
      .on('postgres_changes', { event: '*', schema: 'public', table: 'workspace_assets', filter: `user_id=eq.${alice.id}` }, (p) => snippet.push(p))
      .subscribe();
    await until(() => channel.state === 'joined', 'the snippet channel to join');

    const job = await queueJob(aliceClient, 'a red fox in the snow');
    await until(() => jobStatuses(mine.events, job.id).includes('completed') && assetInserts(mine.events, job.id).length === 3, "alice's finished job");

    const statuses = jobStatuses(mine.events, job.id);
    const firsts = statuses.filter((s, i) => s !== statuses[i - 1]);
    assert.deepEqual(firsts, ['queued', 'processing', 'completed'], `status changes in commit order: ${statuses}`);
    const inserts = assetInserts(mine.events, job.id);
    assert.deepEqual(inserts.map((e) => e.new.asset_index).sort(), [0, 1, 2]);
    for (const insert of inserts) {
      assert.equal(insert.schema, 'public');
      assert.equal(insert.new.user_id, alice.id);
      assert.match(insert.commit_timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.deepEqual(insert.old, {});
    }
    const processingAt = mine.events.findIndex((e) => e.table === 'jobs' && e.new.status === 'processing');
    assert.ok(mine.events.indexOf(inserts[0]) > processingAt, 'the assets come after the job started processing');
    await until(() => snippet.length === 3, 'the three inserts on the snippet channel');

    // Bob's identical subscription: changes arrive in commit order, so if any
    // of alice's reached him they would come before his own job's first event.
    const bobsJob = await queueJob(bobClient, 'a grey wolf at night');
    await until(() => theirs.events.length > 0, "bob's own job");
    assert.equal(theirs.events[0].new.id, bobsJob.id);
    assert.ok(theirs.events.every((e) => e.new.user_id === bob.id || e.old.user_id === bob.id), 'bob sees only his rows');
  } finally {
    await aliceClient.removeAllChannels();
    await bobClient.removeAllChannels();
  }
});

test('a filter narrows a subscription to one job', async () => {
  const alice = await stack.createUser();
  const supabase = await clientAs(alice.token);
  try {
    const prompt = `a lighthouse at dusk ${crypto.randomUUID()}`;
    const events = [];
    const channel = supabase
      .channel('one-job')
      .on('postgres_changes', { event: '*', schema: 'public', table: 'jobs', filter: `prompt=eq.${prompt}` }, (p) => events.push(p));
    await subscribed(channel);
    const other = await queueJob(supabase, 'something else entirely');
    const job = await queueJob(supabase, prompt);
    await until(() => events.some((e) => e.new.status === 'completed'), 'the filtered job to complete');
    assert.ok(events.every((e) => e.new.id === job.id), `only ${job.id}, never ${other.id}`);
    assert.equal(events[0].eventType, 'INSERT');
  } finally {
    await supabase.removeAllChannels();
  }
});

test('an expired token is refused with Realtime’s reason', async () => {
  const user = await stack.createUser();
  const supabase = await clientAs(stack.token('authenticated', user.id, -3600));
  try {
    const channel = supabase.channel('expired').on('postgres_changes', { event: '*', schema: 'public', table: 'jobs' }, () => {});
    await assert.rejects(subscribed(channel), (error) => {
      assert.equal(error.message, 'InvalidJWTToken: Token has expired');
      return true;
    });
  } finally {
    await supabase.removeAllChannels();
  }
});

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A second `ourvidz up` on the stack's database at `port`, started the way support.mjs starts one. */
async function serveOn(port, home) {
  const server = spawn(join(repoRoot, 'target/debug/ourvidz'),
    ['up', '--no-build', '--no-worker', '--db-url', stack.dbUrl, '--listen', `127.0.0.1:${port}`,
      '--compile-cache', join(repoRoot, '.ourvidz/wasm-cache')],
    { cwd: repoRoot, env: { ...process.env, OURVIDZ_HOME: home, OURVIDZ_JWT_SECRET: stack.secret }, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`ourvidz up exited with ${server.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
    if (ok) return server;
    if (Date.now() > deadline) {
      server.kill('SIGKILL');
      throw new Error(`the stack on port ${port} did not become healthy`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(server) {
  if (server.exitCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  await exited;
}

test('a subscription rejoins by itself after the stack restarts', async () => {
  const alice = await stack.createUser();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const home = mkdtempSync(join(tmpdir(), 'ourvidz-js-realtime-'));
  let server = await serveOn(port, home);
  const supabase = createClient(url, stack.anonKey, { accessToken: async () => alice.token });
  await supabase.realtime.setAuth();
  try {
    const events = [];
    const statuses = [];
    const channel = supabase
      .channel('restart')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'jobs', filter: `user_id=eq.${alice.id}` }, (p) => events.push(p));
    await subscribed(channel, statuses);

    await stop(server);
    server = await serveOn(port, home);
    await until(() => statuses.filter((s) => s === 'SUBSCRIBED').length === 2, 'the channel to rejoin the restarted stack');

    // The job goes through the harness' stack (same database); its insert
    // reaches the client through the restarted one.
    const job = await queueJob(stack.client(alice.token), 'after the restart');
    await until(() => events.some((e) => e.new.id === job.id), "the job's insert after the restart");
  } finally {
    await supabase.removeAllChannels();
    await stop(server);
    rmSync(home, { recursive: true, force: true });
  }
});
