// The JavaScript test harness: one whole local stack per test file, reached
// with the clients users run (supabase-js).
//
// `startStack()` does what tests/e2e/src/lib.rs does for the Rust tests: a
// fresh database in the Postgres at OURVIDZ_TEST_PG (the Supabase
// compatibility bootstrap + `create extension ourvidz`, so the extension must
// be installed), the real `target/debug/ourvidz up --no-build` on it as a child
// process on a free port with its own OURVIDZ_HOME and JWT secret, and a wait
// for /health. It answers the API URL, the anon and service role keys, a
// superuser `pg` client on the stack's database, `createUser()` (a row in
// auth.users and its access token) and `stop()`, which stops the server and
// drops the database. Nothing is mocked.
//
// Prerequisites (scripts/test.sh js builds them): `cargo build -p
// ourvidz-runtime -p ourvidz-worker` and the release components.

import { spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createClient } from '@supabase/supabase-js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

// Not Supabase's public default, so a token minted for another stack never works here.
const SECRET = 'js-secret-js-secret-js-secret-js-secret-js-secret';

function base64url(value) {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

/** An HS256 JWT of `claims` signed with `secret`, as the project's JWT crate signs them. */
export function signJwt(claims, secret = SECRET) {
  const header = base64url({ alg: 'HS256', typ: 'JWT' });
  const payload = base64url(claims);
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/** The claims of a Supabase access token (ourvidz_jwt::access_token_claims). */
export function accessTokenClaims(role, sub, ttlSeconds = 3600) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: 'supabase-demo', role, iat: now, exp: now + ttlSeconds };
  if (sub) Object.assign(claims, { sub, aud: 'authenticated', aal: 'aal1', is_anonymous: false });
  return claims;
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

function withDatabase(url, name) {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function waitUntilHealthy(api, server) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`ourvidz up exited with ${server.exitCode} before it was healthy`);
    try {
      const response = await fetch(`${api}/health`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the stack at ${api} did not become healthy`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Start a stack on a fresh database. `worker: true` also starts the reference
 * worker beside it (as `ourvidz up` does by default), so queued jobs get rendered.
 */
export async function startStack({ worker = false } = {}) {
  const adminUrl = process.env.OURVIDZ_TEST_PG;
  if (!adminUrl) {
    throw new Error('OURVIDZ_TEST_PG is not set: these tests need a Postgres 15 with the ourvidz extension installed (scripts/test.sh js sets it up)');
  }
  const dbName = `js_${randomUUID().replaceAll('-', '')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  await admin.end();
  const dbUrl = withDatabase(adminUrl, dbName);
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  await db.query(readFileSync(join(repoRoot, 'pg_extension/bootstrap/supabase_compat.sql'), 'utf8'));
  await db.query('create extension ourvidz');

  const binary = join(repoRoot, 'target/debug/ourvidz');
  if (!existsSync(binary)) throw new Error(`${binary} is missing: cargo build -p ourvidz-runtime`);
  const home = mkdtempSync(join(tmpdir(), 'ourvidz-js-'));
  const port = await freePort();
  const args = ['up', '--no-build', '--db-url', dbUrl, '--listen', `127.0.0.1:${port}`,
    '--compile-cache', join(repoRoot, '.ourvidz/wasm-cache')];
  if (!worker) args.push('--no-worker');
  const server = spawn(binary, args, {
    cwd: repoRoot,
    env: { ...process.env, OURVIDZ_HOME: home, OURVIDZ_JWT_SECRET: SECRET },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const stack = {
    url,
    dbUrl,
    db,
    home,
    secret: SECRET,
    anonKey: signJwt({ iss: 'supabase-demo', role: 'anon', exp: 1983812996 }),
    serviceRoleKey: signJwt({ iss: 'supabase-demo', role: 'service_role', exp: 1983812996 }),

    /** A token for any role and subject, signed with this stack's secret. */
    token(role, sub, ttlSeconds) {
      return signJwt(accessTokenClaims(role, sub, ttlSeconds));
    },

    /**
     * A supabase-js client for this stack, acting with `accessToken` (a user's
     * token or a key; the anon key when omitted) for REST, Storage, Functions
     * and Realtime alike.
     */
    client(accessToken) {
      return createClient(url, stack.anonKey, { accessToken: async () => accessToken ?? stack.anonKey });
    },

    /** A new user in auth.users: `{ id, email, token }`. */
    async createUser() {
      const id = randomUUID();
      const email = `${id}@example.com`;
      await db.query('insert into auth.users (id, email) values ($1, $2)', [id, email]);
      return { id, email, token: signJwt({ ...accessTokenClaims('authenticated', id), email }) };
    },

    /** Stop the server and drop the database. */
    async stop() {
      if (server.exitCode === null) {
        const exited = new Promise((r) => server.once('exit', r));
        server.kill('SIGTERM');
        const timer = setTimeout(() => server.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      await db.end().catch(() => {});
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${dbName} with (force)`);
      await cleanup.end();
      rmSync(home, { recursive: true, force: true });
    },
  };
  try {
    await waitUntilHealthy(url, server);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}

/**
 * Debian's Chromium (scripts/setup.sh installs it), headless, driven by
 * playwright-core. The flags keep it off the network this machine does not
 * have (no background requests, updates, sync or QUIC) and let it run as root.
 */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * `ourvidz link --email <email>` against `stack`: the sign-in link of that
 * user (made in auth.users the first time), as a person gets one.
 */
export function signInLink(stack, email) {
  return new Promise((resolveLink, reject) => {
    const args = ['link'];
    if (email) args.push('--email', email);
    const child = spawn(join(repoRoot, 'target/debug/ourvidz'), args, {
      cwd: repoRoot,
      env: { ...process.env, OURVIDZ_HOME: stack.home, OURVIDZ_JWT_SECRET: stack.secret },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolveLink(out.trim()) : reject(new Error(`ourvidz link exited with ${code}`))));
  });
}
