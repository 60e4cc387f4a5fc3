// The page's live latency: from the reference worker's job-callback to the
// 1x3 set being visible in the page (not a test; not run by CI).
//
//   bench/page.sh [runs]        (runs this with a cluster of its own)
//
// One stack with the reference worker (tests/js/support.mjs), one headless
// Chromium page signed in as a fresh user. Each run types a prompt and
// presses Generate, as a person does; the worker renders the set and calls
// job-callback. "Callback" is the job's `completed_at`, stamped by
// record_job_result at the start of the callback's transaction; "in the DOM"
// is when the job's three cards exist (Realtime delivered the asset rows, the
// page signed their files in one Storage request and rendered them);
// "visible" is when all three images have loaded and decoded. Both page
// times are taken in the page (an observer the bench injects, not app code)
// on the same clock as Postgres (one machine). Prints a Markdown table and
// writes a screenshot of the workspace to target/browser/bench-workspace.png.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, launchChromium, repoRoot } from '../tests/js/support.mjs';

const runs = Number(process.argv[2] ?? 10);

// Injected into the page: for each job element, when its set is in the DOM
// and when every image of it has loaded (epoch milliseconds).
function observeSets() {
  window.__sets = {};
  const now = () => performance.timeOrigin + performance.now();
  const check = (job) => {
    const id = job.dataset.jobId;
    const images = [...job.querySelectorAll('figure.card img')];
    if (images.length < 3) return;
    const seen = (window.__sets[id] ??= { dom: now() });
    if (seen.visible) return;
    const pending = images.filter((img) => !(img.complete && img.naturalWidth > 0));
    if (pending.length === 0) {
      Promise.all(images.map((img) => img.decode().catch(() => {}))).then(() => (seen.visible ??= now()));
    } else {
      pending.forEach((img) => img.addEventListener('load', () => check(job), { once: true }));
    }
  };
  new MutationObserver(() => document.querySelectorAll('li.job').forEach(check))
    .observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-shown'] });
}

const stack = await startStack({ worker: true });
const browser = await launchChromium();
try {
  const user = await stack.createUser();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.addInitScript(observeSets);
  await page.goto(`${stack.url}/#access_token=${user.token}&apikey=${stack.anonKey}`);
  await page.locator('#live[data-state=live]').waitFor();

  const rows = [];
  for (let i = 0; i < runs; i++) {
    const prompt = `bench run ${i + 1}: a lighthouse in a storm`;
    await page.fill('#prompt', prompt);
    await page.click('#generate');
    const job = page.locator('li.job', { has: page.locator('.job-prompt', { hasText: prompt }) });
    await job.waitFor();
    const id = await job.getAttribute('data-job-id');
    await page.waitForFunction((jobId) => window.__sets[jobId]?.visible, id, { timeout: 60_000 });
    const seen = await page.evaluate((jobId) => window.__sets[jobId], id);
    const { rows: [row] } = await stack.db.query('select extract(epoch from completed_at) * 1000 as at from jobs where id = $1', [id]);
    rows.push({ dom: seen.dom - Number(row.at), visible: seen.visible - Number(row.at) });
  }

  const quantile = (values, q) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  };
  const line = (label, values) =>
    `| ${label} | ${quantile(values, 0.5).toFixed(0)} | ${quantile(values, 0.9).toFixed(0)} | ${Math.max(...values).toFixed(0)} | ${Math.min(...values).toFixed(0)} |`;
  console.log(`\n${runs} runs, one page, the reference worker; milliseconds after the callback's transaction began\n`);
  console.log('| callback → | p50 | p90 | max | min |');
  console.log('|---|---|---|---|---|');
  console.log(line('set in the DOM', rows.map((r) => r.dom)));
  console.log(line('set visible (3 images loaded)', rows.map((r) => r.visible)));

  mkdirSync(join(repoRoot, 'target/browser'), { recursive: true });
  await page.screenshot({ path: join(repoRoot, 'target/browser/bench-workspace.png') });
} finally {
  await browser.close();
  await stack.stop();
}
