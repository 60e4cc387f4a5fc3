// The app page (web/) in a real browser: Debian's headless Chromium driven by
// playwright-core against one whole local stack with the reference worker.
// A person's path through seeds 002 and 004 — sign in by link, generate a
// 1x3 set and watch it arrive, save into a new collection, find it in the
// library by a prompt word, dismiss and undo, delete a job — and what must
// never happen: another user's items on a page, an error in the console.
// Screenshots of the workspace and the library go to target/browser/.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@supabase/supabase-js';
import { startStack, launchChromium, signInLink, repoRoot } from './support.mjs';

const SHOTS = join(repoRoot, 'target/browser');
const VIEWPORT = { width: 1400, height: 900 };

let stack;
let browser;
let alice;
const pages = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  stack = await startStack({ worker: true });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

/**
 * A page signed in with `link` in a context of its own (its own tab storage),
 * every console error and uncaught exception kept in `page.errors`, and each
 * request to the workspace listing counted in `page.listings`.
 */
async function open(link, { live = true } = {}) {
  const context = await browser.newContext({ viewport: VIEWPORT, acceptDownloads: true });
  const page = await context.newPage();
  page.errors = [];
  page.listings = 0;
  page.on('console', (message) => {
    if (message.type() === 'error') page.errors.push(message.text());
  });
  page.on('pageerror', (error) => page.errors.push(error.message));
  // Which request a "Failed to load resource" was: its status, method and URL.
  page.on('response', (response) => {
    if (response.status() >= 400) page.errors.push(`${response.status()} ${response.request().method()} ${response.url()}`);
  });
  page.on('request', (request) => {
    if (request.method() === 'GET' && request.url().includes('/functions/v1/workspace-actions')) page.listings++;
  });
  pages.push(page);
  await page.goto(link);
  if (live) await page.locator('#live[data-state=live]').waitFor();
  return page;
}

// No page may log an error to its console, whatever the test did.
afterEach(() => {
  for (const page of pages) assert.deepEqual(page.errors, [], `console errors on ${page.url()}`);
});

async function aliceLink() {
  alice ??= await signInLink(stack, 'alice@example.com');
  return alice;
}

/** Queue `prompt` from the prompt bar and wait for its job's 1x3 set to show, images loaded. */
async function generate(page, prompt) {
  await page.fill('#prompt', prompt);
  await page.click('#generate');
  const withPrompt = { has: page.locator('.job-prompt', { hasText: prompt }) };
  await page.locator('li.job', withPrompt).waitFor();
  const job = page.locator('li.job[data-complete=true]', withPrompt);
  await job.waitFor({ timeout: 60_000 });
  await page.waitForFunction((id) => {
    const imgs = [...document.querySelectorAll(`li[data-job-id="${id}"] figure.card img`)];
    return imgs.length === 3 && imgs.every((img) => img.complete && img.naturalWidth > 0);
  }, await job.getAttribute('data-job-id'));
  return job;
}

const cards = (job) => job.locator('figure.card');

test('the stack serves the page at / and its files for GET and HEAD, next to the APIs', async () => {
  const index = await fetch(`${stack.url}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type'), /^text\/html/);
  assert.match(await index.text(), /<script type="module" src="\/app\/main.js">/);
  assert.equal((await fetch(`${stack.url}/`, { method: 'HEAD' })).status, 200);
  const module = await fetch(`${stack.url}/app/main.js`);
  assert.equal(module.status, 200);
  assert.match(module.headers.get('content-type'), /javascript/);
  const vendor = await fetch(`${stack.url}/vendor/supabase.js`);
  assert.equal(vendor.status, 200);
  assert.match(await vendor.text(), /createClient/);
  assert.equal((await fetch(`${stack.url}/`, { method: 'POST' })).status, 405);
  // The APIs beside it answer as before, /rest/v1/ with its trailing slash included.
  assert.equal((await fetch(`${stack.url}/rest/v1/`, { headers: { apikey: stack.anonKey } })).status, 200);
  assert.equal((await fetch(`${stack.url}/health`)).status, 200);
  const missing = await fetch(`${stack.url}/functions/v1/no-such-function`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).code, 404);
});

test('ourvidz up made the demo user once, and a link signs the page in as its user', async () => {
  const demo = await signInLink(stack);
  const { rows } = await stack.db.query("select id from auth.users where email = 'demo@example.com'");
  assert.equal(rows.length, 1, 'up made the demo user, link found it again');
  const token = new URLSearchParams(new URL(demo).hash.slice(1)).get('access_token');
  assert.equal(JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).sub, rows[0].id);

  const page = await open(await aliceLink());
  await assert.doesNotReject(page.locator('#who', { hasText: 'alice@example.com' }).waitFor());
  assert.equal(new URL(page.url()).hash, '#/workspace', 'the token left the address bar');
  await page.reload();
  await page.locator('#who', { hasText: 'alice@example.com' }).waitFor();
  await page.context().close();
});

test('an expired link says so, with how to get a new one, instead of a blank page', async () => {
  const user = await stack.createUser();
  const link = `${stack.url}/#access_token=${stack.token('authenticated', user.id, -60)}&apikey=${stack.anonKey}`;
  const page = await open(link, { live: false });
  await page.locator('#signed-out').waitFor();
  assert.equal(await page.locator('#signed-out-title').textContent(), 'Your sign-in link has expired');
  assert.match(await page.locator('#signed-out').textContent(), /ourvidz link/);
  assert.ok(await page.locator('#workspace').isHidden());
  await page.context().close();
});

test('a generated 1x3 set appears live, through Realtime, with the prompt as alt text', async () => {
  const page = await open(await aliceLink());
  const listingsBefore = page.listings;
  const job = await generate(page, 'a red fox in the snow at dawn');
  assert.equal(await cards(job).count(), 3);
  assert.equal(await job.locator('.status').textContent(), 'completed');
  for (const img of await job.locator('figure.card img').all()) {
    assert.equal(await img.getAttribute('alt'), 'a red fox in the snow at dawn');
  }
  assert.equal(page.listings, listingsBefore, 'no workspace listing was fetched: the set came by Realtime');
  // The job selector shows it too.
  await page.locator(`#job-selector li[data-job-id="${await job.getAttribute('data-job-id')}"] img`).waitFor();
  await page.screenshot({ path: join(SHOTS, 'workspace.png') });
});

test('a request the SQL API refuses is shown as its 400 message', async () => {
  const page = pages.at(-1);
  await page.fill('#prompt', 'x'.repeat(4001));
  await page.click('#generate');
  const toast = page.locator('.toast.error', { hasText: 'prompt' });
  await toast.waitFor();
  assert.match(await toast.textContent(), /^Not queued: .*prompt.*4000/);
  // The refusal is the one failed request this test makes, and the browser logs it.
  const expected = (e) => /status of 400|^400 POST .*\/functions\/v1\/queue-job$/.test(e);
  for (const deadline = Date.now() + 5000; page.errors.filter(expected).length < 2;) {
    assert.ok(Date.now() < deadline, `the browser's record of the refusal: ${page.errors.join('; ')}`);
    await page.waitForTimeout(50);
  }
  page.errors = page.errors.filter((e) => !expected(e));
  await page.fill('#prompt', '');
});

test('the prompt bar sends its controls, and the seed and reference an item gave it', async () => {
  const page = pages.at(-1);
  const fox = page.locator('li.job', { has: page.locator('.job-prompt', { hasText: 'a red fox in the snow at dawn' }) });
  const card = cards(fox).first();
  const id = await card.getAttribute('data-asset-id');
  const { rows: [asset] } = await stack.db.query('select generation_seed, temp_storage_path from workspace_assets where id = $1', [id]);

  // The lightbox shows the item; arrows walk, Escape closes.
  await card.locator('button.open').click();
  await page.locator('#lightbox[open]').waitFor();
  assert.equal(await page.locator('#lb-prompt').textContent(), 'a red fox in the snow at dawn');
  assert.equal(await page.locator('#lb-media img').getAttribute('alt'), 'a red fox in the snow at dawn');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Escape');
  await page.locator('#lightbox').waitFor({ state: 'hidden' });

  await card.hover();
  await card.locator('button.seed').click();
  assert.equal(await page.locator('#seed-value').textContent(), `Seed ${asset.generation_seed}`);
  await card.hover();
  await card.locator('button.reference').click();
  await page.locator('#ref.set').waitFor();
  await page.click('#aspect');
  await page.click('#shot');
  await page.click('#shot');
  await page.click('#angle');
  await page.getByRole('menuitemradio', { name: 'Overhead' }).click();
  await page.fill('#style', 'watercolor');
  await page.locator('.quality span', { hasText: 'High' }).click();
  const job = await generate(page, 'a fox at night');
  const { rows: [queued] } = await stack.db.query('select quality, generation_seed, generation_settings from jobs where id = $1', [await job.getAttribute('data-job-id')]);
  assert.equal(queued.quality, 'high');
  assert.equal(String(queued.generation_seed), String(asset.generation_seed));
  assert.deepEqual(queued.generation_settings, {
    aspect_ratio: '1:1',
    shot_type: 'close',
    camera_angle: 'overhead',
    style: 'watercolor',
    reference_image: `workspace-temp/${asset.temp_storage_path}`,
  });

  // Back to no seed and no reference for what follows.
  await page.click('#seed-clear');
  await page.click('#ref');
  await page.getByRole('button', { name: 'Remove the reference' }).click();
  await page.locator('#ref:not(.set)').waitFor();
  await page.fill('#style', '');

  // An item dragged onto the Ref box becomes the reference too.
  await card.dragTo(page.locator('#ref'));
  await page.locator('#ref.set').waitFor();
  assert.equal(await page.locator('#ref-preview').getAttribute('alt'), 'Reference: a red fox in the snow at dawn');
  await page.click('#ref');
  await page.getByRole('button', { name: 'Remove the reference' }).click();
  await page.locator('#ref:not(.set)').waitFor();
});

test('two items saved into a new collection are found in the library with the right count', async () => {
  const page = pages.at(-1);
  const job = page.locator('li.job', { has: page.locator('.job-prompt', { hasText: 'a red fox in the snow at dawn' }) });
  await cards(job).first().hover();
  await cards(job).first().locator('button.save').click();
  await page.getByRole('button', { name: '+ New collection…' }).click();
  await page.fill('#ask-input', 'Foxes');
  await page.click('#ask-ok');
  await page.locator('.toast', { hasText: 'Saved to the collection' }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('li.job figure.card').length > 0);
  assert.equal(await cards(job).count(), 2, 'the saved item left the workspace');

  await cards(job).first().hover();
  await cards(job).first().locator('button.save').click();
  await page.getByRole('button', { name: /^Foxes \(1\)$/ }).click();
  await page.locator('.toast', { hasText: 'Saved to the collection' }).nth(1).waitFor();

  await page.click('a[data-view=library]');
  const foxes = page.locator('#collections li', { hasText: 'Foxes' });
  await foxes.locator('.n', { hasText: '2' }).waitFor();
  await foxes.locator('button.scope').click();
  await page.locator('#library-count', { hasText: '2 shown' }).waitFor();
  const shown = page.locator('#grid .lcell:not([hidden]) img');
  await page.waitForFunction(() => [...document.querySelectorAll('#grid .lcell:not([hidden]) img')].every((i) => i.complete && i.naturalWidth > 0));
  assert.deepEqual(await shown.evaluateAll((imgs) => imgs.map((i) => i.alt)), ['a red fox in the snow at dawn', 'a red fox in the snow at dawn']);
  await page.screenshot({ path: join(SHOTS, 'library.png') });
});

test('the library search finds an item by a word of its prompt', async () => {
  const page = pages.at(-1);
  await page.click('a[data-view=workspace]');
  const job = await generate(page, 'a lighthouse on a cliff in a storm');
  await cards(job).first().hover();
  await cards(job).first().locator('button.save').click();
  await page.getByRole('button', { name: 'The library (no collection)' }).click();
  await page.locator('.toast', { hasText: 'Saved to the library' }).waitFor();

  await page.click('a[data-view=library]');
  await page.locator('#collections button.scope', { hasText: 'All items' }).click();
  await page.locator('#library-count', { hasText: '3 shown' }).waitFor();
  await page.fill('#search', 'lighthouse');
  await page.locator('#library-count', { hasText: /^1 shown/ }).waitFor();
  assert.equal(await page.locator('#grid .lcell:not([hidden]) img').getAttribute('alt'), 'a lighthouse on a cliff in a storm');
  await page.fill('#search', 'fox');
  await page.locator('#library-count', { hasText: /^2 shown/ }).waitFor();
  await page.fill('#search', '');
  await page.locator('#library-count', { hasText: '3 shown' }).waitFor();
});

test('dismissing an item hides it and Undo brings it back, on the server too', async () => {
  const page = pages.at(-1);
  await page.click('a[data-view=workspace]');
  const job = page.locator('li.job', { has: page.locator('.job-prompt', { hasText: 'a lighthouse on a cliff' }) });
  await cards(job).nth(1).waitFor();
  assert.equal(await cards(job).count(), 2);
  const id = await cards(job).first().getAttribute('data-asset-id');
  await cards(job).first().hover();
  await cards(job).first().locator('button.dismiss').click();
  await page.locator(`figure[data-asset-id="${id}"]`).waitFor({ state: 'detached' });
  assert.equal(await cards(job).count(), 1);
  const dismissed = await stack.db.query('select dismissed_at from workspace_assets where id = $1', [id]);
  assert.notEqual(dismissed.rows[0].dismissed_at, null);

  await page.locator('.toast', { hasText: 'dismissed' }).getByRole('button', { name: 'Undo' }).click();
  await page.locator(`figure[data-asset-id="${id}"]`).waitFor();
  const restored = await stack.db.query('select dismissed_at from workspace_assets where id = $1', [id]);
  assert.equal(restored.rows[0].dismissed_at, null);
  await page.reload();
  await page.locator(`figure[data-asset-id="${id}"]`).waitFor();
});

test('clearing the workspace hides everything and Undo restores it', async () => {
  const page = pages.at(-1);
  const before = await page.locator('li.job figure.card').count();
  assert.ok(before > 0);
  await page.click('#clear-workspace');
  await page.locator('#workspace-empty').waitFor();
  await page.locator('.toast', { hasText: 'Workspace cleared' }).getByRole('button', { name: 'Undo' }).click();
  await page.waitForFunction((n) => document.querySelectorAll('li.job figure.card').length === n, before);
});

test('deleting a job removes it and its items for good', async () => {
  const page = pages.at(-1);
  const job = page.locator('li.job', { has: page.locator('.job-prompt', { hasText: 'a lighthouse on a cliff' }) });
  const id = await job.getAttribute('data-job-id');
  await job.getByRole('button', { name: /^Delete job/ }).click();
  await page.locator('#ask-ok').click();
  await page.locator(`li.job[data-job-id="${id}"]`).waitFor({ state: 'detached' });
  assert.equal(await page.locator(`#job-selector li[data-job-id="${id}"]`).count(), 0);
  const left = await stack.db.query('select (select count(*) from jobs where id = $1) + (select count(*) from workspace_assets where job_id = $1) as n', [id]);
  assert.equal(Number(left.rows[0].n), 0);
  await page.reload();
  await page.locator('#live[data-state=live]').waitFor();
  await page.locator('li.job').first().waitFor();
  assert.equal(await page.locator(`li.job[data-job-id="${id}"]`).count(), 0);
});

test('a job that failed shows live with its error', async () => {
  const page = pages.at(-1);
  const { rows: [job] } = await stack.db.query(
    `insert into jobs (user_id, job_type, status, mode, prompt, model, quality, batch_size, generation_seed, error)
     select id, 'image_fast', 'failed', 'image', 'a render that fails', 'sdxl', 'fast', 3, 7, 'the GPU ran out of memory'
     from auth.users where email = 'alice@example.com' returning id`);
  const shown = page.locator(`li.job[data-job-id="${job.id}"]`);
  await shown.waitFor();
  assert.equal(await shown.locator('.status').textContent(), 'failed');
  assert.equal(await shown.locator('.job-error').textContent(), 'the GPU ran out of memory');
  assert.equal(await shown.locator('figure.card').count(), 0);
  await shown.getByRole('button', { name: /^Dismiss job/ }).click();
  await shown.waitFor({ state: 'detached' });
});

test("a second user's page, side by side, shows none of the first user's items", async () => {
  const bob = await open(await signInLink(stack, 'bob@example.com'));
  await bob.locator('#who', { hasText: 'bob@example.com' }).waitFor();
  await bob.locator('#workspace-empty').waitFor();
  assert.equal(await bob.locator('li.job').count(), 0);
  await bob.click('a[data-view=library]');
  await bob.locator('#library-empty').waitFor();
  assert.equal(await bob.locator('#collections li', { hasText: 'Foxes' }).count(), 0);
  assert.equal(await bob.locator('#collections li', { hasText: 'All items' }).locator('.n').textContent(), '0');
  // Alice's page, open all along, still shows hers.
  const alicePage = pages.find((p) => p !== bob && !p.isClosed());
  await alicePage.click('a[data-view=library]');
  await alicePage.locator('#collections li', { hasText: 'Foxes' }).waitFor();
});

test('library items get tags and a favorite, filter by them, move in a batch, and collections are renamed and deleted', async () => {
  const page = pages.find((p) => !p.isClosed() && p.url().includes('#/library'));
  await page.locator('#collections button.scope', { hasText: 'All items' }).click();
  await page.locator('#library-count', { hasText: '3 shown' }).waitFor();
  const lighthouse = page.locator('#grid .lcell:not([hidden])', { has: page.locator('img[alt^="a lighthouse"]') });
  await lighthouse.locator('button.open').click();
  await page.locator('#lightbox[open]').waitFor();
  await page.getByRole('textbox', { name: 'Add a tag' }).fill('storm');
  await page.getByRole('textbox', { name: 'Add a tag' }).press('Enter');
  await page.locator('#lb-edit .tag', { hasText: 'storm' }).waitFor();
  await page.getByRole('button', { name: '☆ Mark favorite' }).click();
  await page.getByRole('button', { name: '★ Favorite' }).waitFor();
  await page.keyboard.press('Escape');
  const { rows: [saved] } = await stack.db.query("select tags, is_favorite from user_library where original_prompt like 'a lighthouse%'");
  assert.deepEqual(saved, { tags: ['storm'], is_favorite: true });
  await lighthouse.locator('.tags', { hasText: '#storm' }).waitFor();

  await page.check('#filter-favorite');
  await page.locator('#library-count', { hasText: /^1 shown/ }).waitFor();
  await page.uncheck('#filter-favorite');
  await page.fill('#filter-tags', 'storm');
  await page.locator('#library-count', { hasText: /^1 shown/ }).waitFor();
  await page.fill('#filter-tags', '');
  await page.locator('#library-count', { hasText: '3 shown' }).waitFor();

  // Both foxes, picked together, leave their collection.
  for (const fox of await page.locator('#grid .lcell:not([hidden])', { has: page.locator('img[alt^="a red fox"]') }).all()) {
    await fox.hover();
    await fox.locator('.pick input').check();
  }
  await page.locator('#batch-count', { hasText: '2 selected' }).waitFor();
  await page.click('#batch-move');
  await page.getByRole('button', { name: 'No collection' }).click();
  const foxes = page.locator('#collections li', { hasText: 'Foxes' });
  await foxes.locator('.n', { hasText: '0' }).waitFor();
  await page.locator('#collections li', { hasText: 'Unfiled' }).locator('.n', { hasText: '3' }).waitFor();

  await foxes.hover();
  await foxes.getByRole('button', { name: 'Rename collection Foxes' }).click();
  await page.fill('#ask-input', 'Vulpes');
  await page.click('#ask-ok');
  const vulpes = page.locator('#collections li', { hasText: 'Vulpes' });
  await vulpes.waitFor();
  await vulpes.hover();
  await vulpes.getByRole('button', { name: 'Delete collection Vulpes' }).click();
  await page.getByRole('button', { name: 'Delete it, keep the items' }).click();
  await vulpes.waitFor({ state: 'detached' });
  const { rows: [left] } = await stack.db.query("select (select count(*) from user_collections c join auth.users u on u.id = c.user_id where u.email = 'alice@example.com') as collections, (select count(*) from user_library l join auth.users u on u.id = l.user_id where u.email = 'alice@example.com') as items");
  assert.deepEqual({ collections: Number(left.collections), items: Number(left.items) }, { collections: 0, items: 3 });

  // Everything picked, deleted in one batch.
  for (const cell of await page.locator('#grid .lcell:not([hidden])').all()) {
    await cell.hover();
    await cell.locator('.pick input').check();
  }
  await page.click('#batch-delete');
  await page.click('#ask-ok');
  await page.locator('#library-empty').waitFor();
  await page.locator('#collections li', { hasText: 'All items' }).locator('.n', { hasText: '0' }).waitFor();
});

test('the library keeps a few dozen cells in the DOM however many items it pages through', async () => {
  const user = await stack.createUser();
  const service = createClient(stack.url, stack.serviceRoleKey, { accessToken: async () => stack.serviceRoleKey });
  // A 1x1 PNG per item, uploaded for real, and the items' rows.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  const total = 260;
  for (let start = 0; start < total; start += 20) {
    await Promise.all(Array.from({ length: Math.min(20, total - start) }, (_, k) =>
      service.storage.from('user-library').upload(`${user.id}/bulk-${start + k}.png`, png, { contentType: 'image/png' })
        .then(({ error }) => assert.equal(error, null))));
  }
  await stack.db.query(
    `insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt, model_used, created_at)
     select $1::uuid, 'image', $1::text || '/bulk-' || n || '.png', $2, 'image/png', 'bulk item number ' || n, 'sdxl', now() - n * interval '1 second'
     from generate_series(0, $3 - 1) n`, [user.id, png.length, total]);
  const link = `${stack.url}/#access_token=${user.token}&apikey=${stack.anonKey}`;
  const page = await open(link);
  await page.click('a[data-view=library]');
  await page.locator('#library-count', { hasText: 'shown' }).waitFor();
  const deadline = Date.now() + 30_000;
  while (!(await page.locator('#library-count').textContent()).startsWith(`${total} shown`)) {
    assert.ok(Date.now() < deadline, 'the library paged through every item');
    await page.locator('#grid-scroll').evaluate((e) => e.scrollTo(0, e.scrollHeight));
    await page.waitForTimeout(100);
  }
  const cells = await page.locator('#grid .lcell').count();
  assert.ok(cells <= 60, `${cells} cells in the DOM for ${total} items`);
  // The last item is rendered at the bottom, its prompt as alt text.
  await page.locator(`#grid .lcell:not([hidden]) img[alt="bulk item number ${total - 1}"]`).waitFor();
  // The keyboard walks the grid: from the first cell, End reaches the last item, rendered on the way.
  await page.locator('#grid-scroll').evaluate((e) => e.scrollTo(0, 0));
  await page.locator('#grid .lcell[data-index="0"]:not([hidden]) button.open').focus();
  const focused = () => page.evaluate(() => document.activeElement.getAttribute('aria-label'));
  assert.equal(await focused(), 'View: bulk item number 0');
  await page.keyboard.press('End');
  assert.equal(await focused(), `View: bulk item number ${total - 1}`);
  await page.keyboard.press('ArrowLeft');
  assert.equal(await focused(), `View: bulk item number ${total - 2}`);
  assert.ok(await page.locator('#grid .lcell').count() <= 60);
  await page.context().close();
});
