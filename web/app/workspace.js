// The workspace of seed 002: the user's jobs newest first, each with its
// prompt, its status (queued, processing, failed with the error) and its
// assets as a 1x3 set; a right-hand selector of job thumbnails (hover or
// focus shows delete); per item view, save (optionally into a collection),
// dismiss, delete, download, use seed, use as reference; per job dismiss and
// delete; clear with undo. Two-level deletion as the SQL API has it: dismiss
// hides (restore brings back), delete removes for good.
//
// The first page comes from workspace-actions (assets with signed URLs);
// after that the page is kept current by Realtime: the `jobs` and
// `workspace_assets` changes of this user arrive with their rows, new assets
// are signed in one Storage batch request, and each job's DOM is updated in
// place (cards are kept per asset, so an image never reloads because its
// neighbour changed). A full reload happens only when the subscription
// (re)joins, to catch up on what happened while it was away.

import { el, toast, fail, ask, ago, media } from './ui.js';
import { openLightbox } from './lightbox.js';
import { ITEM_DRAG_TYPE } from './promptbar.js';

const BUCKET = 'workspace-temp';
const LIVE_STATUSES = new Set(['queued', 'processing', 'failed']);
const MAX_IDS = 100;
const SIGN_BATCH_MS = 8;

const $ = (id) => document.getElementById(id);

/** An asset as the page keeps it, from a listing or a Realtime row. */
function toAsset(row, job) {
  return {
    id: row.id,
    jobId: row.job_id ?? job?.id,
    index: row.asset_index,
    type: row.asset_type,
    path: row.temp_storage_path,
    thumbPath: row.thumbnail_path,
    url: row.url ?? null,
    thumbnailUrl: row.thumbnail_url ?? null,
    prompt: row.original_prompt ?? job?.prompt ?? '',
    seed: row.generation_seed,
    model: row.model_used,
    settings: row.generation_settings ?? {},
    width: row.width,
    height: row.height,
    createdAt: row.created_at,
    dismissedAt: row.dismissed_at ?? null,
  };
}

export function createWorkspace({ api, promptBar, library }) {
  /** job id → {id, status, prompt, error, createdAt, dismissedAt, mode, batchSize, assets: Map} */
  const jobs = new Map();
  const jobNodes = new Map();
  const cardNodes = new Map();
  let next = null;
  let loadingMore = false;
  let toSign = [];
  let signTimer = null;

  const visibleAssets = (job) => [...job.assets.values()].filter((a) => !a.dismissedAt).sort((a, b) => a.index - b.index);
  const isVisible = (job) => visibleAssets(job).length > 0 || (LIVE_STATUSES.has(job.status) && !job.dismissedAt);
  const ordered = () => [...jobs.values()].filter(isVisible).sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));

  function upsertJob(fields) {
    const job = jobs.get(fields.id) ?? { assets: new Map(), batchSize: null, mode: null, error: null, dismissedAt: null };
    Object.assign(job, Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)));
    jobs.set(job.id, job);
    return job;
  }

  function jobFromListing(row) {
    const job = upsertJob({
      id: row.job_id,
      status: row.status,
      prompt: row.prompt,
      error: row.error ?? null,
      createdAt: row.created_at,
      dismissedAt: row.dismissed_at ?? null,
      mode: row.assets[0]?.asset_type ?? (row.job_type?.includes('video') ? 'video' : 'image'),
    });
    job.assets = new Map(row.assets.map((a) => [a.id, toAsset(a, job)]));
    return job;
  }

  /** Replace what the page knows with a fresh first page (and what is older than it, kept). */
  async function reload() {
    try {
      const page = await api.listWorkspace(null);
      const listed = new Set(page.jobs.map((j) => j.job_id));
      const oldest = page.next ? page.jobs.at(-1)?.created_at : null;
      for (const job of [...jobs.values()]) {
        if (!listed.has(job.id) && (oldest === null || job.createdAt >= oldest)) jobs.delete(job.id);
      }
      page.jobs.forEach(jobFromListing);
      next = page.next;
      render();
    } catch (error) {
      fail(error, 'The workspace did not load');
    }
  }

  async function loadMore() {
    if (!next || loadingMore) return;
    loadingMore = true;
    try {
      const page = await api.listWorkspace(next);
      page.jobs.forEach(jobFromListing);
      next = page.next;
      render();
    } catch (error) {
      fail(error, 'More of the workspace did not load');
    } finally {
      loadingMore = false;
    }
  }

  /**
   * Sign new assets' files in one batch: a job's rows arrive as separate
   * Realtime messages a few milliseconds apart, so wait that long for the rest.
   */
  function sign(asset) {
    toSign.push(asset);
    if (signTimer) return;
    signTimer = setTimeout(async () => {
      const batch = toSign;
      toSign = [];
      signTimer = null;
      try {
        const urls = await api.sign(BUCKET, batch.flatMap((a) => [a.path, a.thumbPath]));
        for (const asset of batch) {
          asset.url = urls.get(asset.path) ?? null;
          asset.thumbnailUrl = asset.thumbPath ? urls.get(asset.thumbPath) ?? null : null;
        }
        render();
      } catch (error) {
        fail(error, 'New items could not be shown');
      }
    }, SIGN_BATCH_MS);
  }

  /** A Realtime change of `jobs` or `workspace_assets` (this user's, as RLS lets through). */
  function onChange({ table, eventType, new: row, old }) {
    if (table === 'jobs') {
      if (eventType === 'DELETE') {
        jobs.delete(old.id);
      } else {
        upsertJob({
          id: row.id,
          status: row.status,
          prompt: row.prompt,
          error: row.error ?? null,
          createdAt: row.created_at,
          dismissedAt: row.dismissed_at ?? null,
          mode: row.mode ?? (row.job_type?.includes('video') ? 'video' : 'image'),
          batchSize: row.batch_size,
        });
      }
    } else if (table === 'workspace_assets') {
      if (eventType === 'DELETE') {
        for (const job of jobs.values()) job.assets.delete(old.id);
      } else {
        const job = jobs.get(row.job_id) ?? upsertJob({ id: row.job_id, status: 'completed', prompt: row.original_prompt, createdAt: row.created_at });
        const known = job.assets.get(row.id);
        const asset = toAsset(row, job);
        if (known?.url && known.path === asset.path) {
          asset.url = known.url;
          asset.thumbnailUrl = known.thumbnailUrl;
        }
        job.assets.set(asset.id, asset);
        if (!asset.url && !asset.dismissedAt) sign(asset);
      }
    }
    render();
  }

  /** Job `id` as the page just learnt it from an answer (the queued job, before Realtime says so). */
  function addQueued(job) {
    if (!jobs.has(job.id)) {
      upsertJob({
        id: job.id,
        status: job.status,
        prompt: job.prompt,
        createdAt: job.created_at,
        mode: job.mode,
        batchSize: job.batch_size,
      });
      render();
    }
    jobNodes.get(job.id)?.scrollIntoView({ block: 'nearest' });
  }

  // ---- actions --------------------------------------------------------------

  const ids = (list) => list.map((a) => a.id);

  async function dismissAssets(assets, what) {
    try {
      await api.dismiss({ asset_ids: ids(assets) });
      const at = new Date().toISOString();
      assets.forEach((a) => (a.dismissedAt = at));
      render();
      toast(`${what} dismissed (still in the workspace until it expires)`, { action: { label: 'Undo', run: () => restoreAssets(assets) } });
    } catch (error) {
      fail(error, 'Not dismissed');
    }
  }

  async function restoreAssets(assets) {
    try {
      for (let i = 0; i < assets.length; i += MAX_IDS) await api.restore({ asset_ids: ids(assets.slice(i, i + MAX_IDS)) });
      assets.forEach((a) => {
        a.dismissedAt = null;
        if (!a.url) sign(a);
      });
      render();
    } catch (error) {
      fail(error, 'Not restored');
    }
  }

  async function dismissJob(job) {
    try {
      await api.dismiss({ job_id: job.id });
      const at = new Date().toISOString();
      job.dismissedAt = at;
      job.assets.forEach((a) => (a.dismissedAt = at));
      render();
      toast('Job dismissed', { action: { label: 'Undo', run: () => restoreJob(job) } });
    } catch (error) {
      fail(error, 'Not dismissed');
    }
  }

  async function restoreJob(job) {
    try {
      await api.restore({ job_id: job.id });
      job.dismissedAt = null;
      job.assets.forEach((a) => (a.dismissedAt = null));
      render();
    } catch (error) {
      fail(error, 'Not restored');
    }
  }

  async function clearWorkspace() {
    try {
      const answer = await api.clearWorkspace();
      const dismissed = new Set(answer.dismissed);
      const dismissedJobs = new Set(answer.jobs);
      const assets = [];
      const at = new Date().toISOString();
      for (const job of jobs.values()) {
        if (dismissedJobs.has(job.id)) job.dismissedAt = at;
        for (const asset of job.assets.values()) {
          if (dismissed.has(asset.id)) {
            asset.dismissedAt = at;
            assets.push(asset);
          }
        }
      }
      render();
      const undo = async () => {
        await restoreAssets(assets);
        for (const id of dismissedJobs) {
          const job = jobs.get(id);
          if (job) await restoreJob(job);
        }
      };
      toast(`Workspace cleared (${assets.length} item${assets.length === 1 ? '' : 's'})`, { action: { label: 'Undo', run: undo } });
    } catch (error) {
      fail(error, 'Not cleared');
    }
  }

  async function deleteAsset(asset) {
    const sure = await ask({ title: 'Delete this item?', text: 'It is removed for good, with its file.', ok: 'Delete', danger: true });
    if (!sure) return;
    try {
      await api.deleteWorkspace({ asset_id: asset.id });
      jobs.get(asset.jobId)?.assets.delete(asset.id);
      render();
      toast('Item deleted');
    } catch (error) {
      fail(error, 'Not deleted');
    }
  }

  async function deleteJob(job) {
    const sure = await ask({ title: 'Delete this job?', text: `“${job.prompt}” and all its items are removed for good.`, ok: 'Delete', danger: true });
    if (!sure) return;
    try {
      await api.deleteWorkspace({ job_id: job.id });
      jobs.delete(job.id);
      render();
      toast('Job deleted');
    } catch (error) {
      fail(error, 'Not deleted');
    }
  }

  async function save(asset) {
    const collectionId = await library.chooseCollection('Save to the library');
    if (collectionId === null) return;
    try {
      const answer = await api.save({ asset_ids: [asset.id] }, collectionId || undefined);
      for (const saved of answer.saved) jobs.get(asset.jobId)?.assets.delete(saved.asset_id);
      render();
      library.changed();
      if (answer.failed.length) fail(new Error(answer.failed.map((f) => f.error).join(', ')), 'Not saved');
      else toast(collectionId ? 'Saved to the collection' : 'Saved to the library');
    } catch (error) {
      fail(error, 'Not saved');
    }
  }

  function download(asset) {
    const extension = asset.path.split('.').pop();
    const name = `${asset.prompt.slice(0, 40).replace(/[^\w]+/g, '-').replace(/^-|-$/g, '') || 'ourvidz'}-${asset.index + 1}.${extension}`;
    el('a', { href: asset.url, download: name }).click();
  }

  const view = (asset) => {
    const all = ordered().flatMap(visibleAssets).filter((a) => a.url);
    openLightbox(all.map(lightboxItem), Math.max(0, all.indexOf(asset)), { actions: (item, close) => itemActions(item.asset, close) });
  };

  const lightboxItem = (asset) => ({
    asset,
    type: asset.type,
    url: asset.url,
    thumbnailUrl: asset.thumbnailUrl,
    prompt: asset.prompt,
    meta: [
      ['Seed', asset.seed],
      ['Model', asset.model],
      ['Size', asset.width && asset.height ? `${asset.width}×${asset.height}` : '—'],
      ...Object.entries(asset.settings).map(([k, v]) => [k.replace(/_/g, ' '), typeof v === 'object' ? JSON.stringify(v) : v]),
    ],
  });

  /** The buttons of an item: in its card, and in the lightbox (`close` given). */
  function itemActions(asset, close) {
    const act = (label, text, run) => el(`button.act.${label}`, {
      type: 'button',
      title: text,
      'aria-label': `${text}: ${asset.prompt}`,
      onclick: (event) => {
        event.stopPropagation();
        if (close && label !== 'download') close();
        run();
      },
    }, text);
    return [
      !close && act('view', 'View', () => view(asset)),
      act('save', 'Save', () => save(asset)),
      act('dismiss', 'Dismiss', () => dismissAssets([asset], 'Item')),
      act('delete', 'Delete', () => deleteAsset(asset)),
      act('download', 'Download', () => download(asset)),
      act('seed', 'Use seed', () => {
        promptBar.useSeed(asset.seed);
        toast(`Seed ${asset.seed} will be used for the next generation`);
      }),
      act('reference', 'Use as reference', () => promptBar.useReference(asset)),
    ].filter(Boolean);
  }

  // ---- rendering -----------------------------------------------------------

  function card(asset) {
    let node = cardNodes.get(asset.id);
    const key = `${asset.url}|${asset.thumbnailUrl}`;
    if (node?.dataset.key === key) return node;
    node = el('figure.card', {
      dataset: { assetId: asset.id, key },
      draggable: true,
      ondragstart: (event) => {
        event.dataTransfer.setData(ITEM_DRAG_TYPE, JSON.stringify({ id: asset.id, url: asset.url, thumbnailUrl: asset.thumbnailUrl, prompt: asset.prompt }));
        event.dataTransfer.effectAllowed = 'copy';
      },
    },
    el('button.open', { type: 'button', 'aria-label': `View: ${asset.prompt}`, onclick: () => view(asset) }, media(asset)),
    el('figcaption.actions', {}, itemActions(asset)));
    cardNodes.set(asset.id, node);
    return node;
  }

  function placeholder(job, i) {
    const failed = job.status === 'failed';
    return el(`div.card.placeholder${failed ? '.failed' : ''}`, { 'aria-hidden': 'true', dataset: { slot: String(i) } },
      failed ? el('span', {}, '✕') : el('span.spinner'));
  }

  function jobNode(job) {
    let node = jobNodes.get(job.id);
    if (!node) {
      node = el('li.job', { id: `job-${job.id}`, tabIndex: -1, dataset: { jobId: job.id } });
      jobNodes.set(job.id, node);
    }
    const assets = visibleAssets(job);
    const expected = job.batchSize ?? (job.mode === 'video' ? 1 : 3);
    const pending = job.status === 'queued' || job.status === 'processing';
    const slots = pending ? Math.max(expected, assets.length) : assets.length;
    const shownKey = [job.status, job.error, job.prompt, assets.map((a) => `${a.id}:${a.url}`).join(',')].join('|');
    node.dataset.status = job.status;
    node.dataset.complete = String(assets.length > 0 && assets.every((a) => a.url) && !pending);
    if (node.dataset.shown === shownKey) return node;
    node.dataset.shown = shownKey;
    node.replaceChildren(...[
      el('header.job-head', {},
        el('p.job-prompt', { title: job.prompt }, job.prompt),
        el(`span.status.s-${job.status}`, {}, job.status),
        el('time', { dateTime: job.createdAt, title: new Date(job.createdAt).toLocaleString() }, ago(job.createdAt)),
        el('span.job-actions', {},
          el('button.ghost', { type: 'button', 'aria-label': `Dismiss job: ${job.prompt}`, onclick: () => dismissJob(job) }, 'Dismiss job'),
          el('button.ghost.danger', { type: 'button', 'aria-label': `Delete job: ${job.prompt}`, onclick: () => deleteJob(job) }, 'Delete job'))),
      job.status === 'failed' && job.error ? el('p.job-error', { role: 'note' }, job.error) : null,
      el(`div.set.n${Math.min(Math.max(slots, 1), 3)}`, {},
        Array.from({ length: slots }, (_, i) => (assets[i]?.url ? card(assets[i]) : placeholder(job, i)))),
    ].filter(Boolean));
    return node;
  }

  function selectorNode(job) {
    const first = visibleAssets(job).find((a) => a.url);
    const focusJob = () => {
      const target = jobNodes.get(job.id);
      target?.scrollIntoView({ behavior: 'smooth', block: 'start' });
      target?.focus({ preventScroll: true });
    };
    const thumb = first
      ? el('img', { src: first.thumbnailUrl ?? (first.type === 'image' ? first.url : ''), alt: job.prompt, loading: 'lazy' })
      : el(`span.thumb-status.s-${job.status}`, { 'aria-hidden': 'true' }, job.status === 'failed' ? '✕' : '…');
    return el('li', { dataset: { jobId: job.id } },
      el('button.thumb', { type: 'button', title: job.prompt, 'aria-label': `Go to job: ${job.prompt}`, onclick: focusJob }, thumb),
      el('button.thumb-delete', { type: 'button', title: 'Delete job', 'aria-label': `Delete job: ${job.prompt}`, onclick: () => deleteJob(job) }, '×'));
  }

  function render() {
    const list = ordered();
    const container = $('jobs');
    const nodes = list.map(jobNode);
    // Move nodes only when the order changed, so focus and hover survive updates.
    if (nodes.some((n, i) => container.children[i] !== n) || container.children.length !== nodes.length) {
      container.replaceChildren(...nodes);
    }
    for (const [id, node] of jobNodes) {
      if (!jobs.has(id)) jobNodes.delete(id);
      else if (!node.isConnected) jobNodes.delete(id);
    }
    const live = new Set(list.flatMap((j) => visibleAssets(j).map((a) => a.id)));
    for (const id of cardNodes.keys()) if (!live.has(id)) cardNodes.delete(id);
    $('job-selector').replaceChildren(...list.map(selectorNode));
    const items = list.reduce((n, j) => n + visibleAssets(j).length, 0);
    $('workspace-count').textContent = list.length ? `${list.length} job${list.length === 1 ? '' : 's'}, ${items} item${items === 1 ? '' : 's'}` : '';
    $('workspace-empty').hidden = list.length > 0;
    $('clear-workspace').disabled = items === 0;
  }

  $('clear-workspace').addEventListener('click', clearWorkspace);
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  }).observe($('jobs-more'));

  return { reload, onChange, addQueued };
}
