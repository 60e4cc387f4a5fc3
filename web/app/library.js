// The library of seeds 002 and 004: a grid of the user's saved items with a
// collections sidebar (counts; create, rename, delete), a search box and
// filters (type, model, favorites, tags), favorite and tag editing, moving to
// a collection, multi-select for batch move, favorite and delete, and endless
// scrolling by keyset pages (list_library's `next` cursor) in a virtual grid.
// Everything goes through the library-actions function, which answers a
// page with its files signed in one Storage batch request.

import { el, toast, fail, ask, debounce } from './ui.js';
import { openLightbox, refreshLightbox } from './lightbox.js';
import { createVirtualGrid } from './virtual-grid.js';
import { ITEM_DRAG_TYPE } from './promptbar.js';

const PAGE_SIZE = 50;
const MAX_IDS = 100;

const $ = (id) => document.getElementById(id);

const itemView = (item) => ({
  item,
  id: item.id,
  type: item.asset_type,
  url: item.url,
  thumbnailUrl: item.thumbnail_url,
  prompt: item.original_prompt,
});

export function createLibrary({ api, promptBar }) {
  let scope = { kind: 'all' };
  let items = [];
  let next = null;
  let loading = null;
  let generation = 0;
  let stale = true;
  let visible = false;
  let collections = [];
  const selected = new Set();
  const models = new Set();

  const chunks = (list) => Array.from({ length: Math.ceil(list.length / MAX_IDS) }, (_, i) => list.slice(i * MAX_IDS, (i + 1) * MAX_IDS));

  // ---- the query -------------------------------------------------------------

  function params() {
    const tags = $('filter-tags').value.split(',').map((t) => t.trim()).filter(Boolean);
    const search = $('search').value.trim();
    return {
      page_size: PAGE_SIZE,
      search: search || null,
      sort: search ? 'relevance' : null,
      asset_type: $('filter-type').value || null,
      model: $('filter-model').value.trim() || null,
      is_favorite: $('filter-favorite').checked ? true : null,
      tags_all: tags.length ? tags : null,
      collection_id: scope.kind === 'collection' ? scope.id : null,
      in_collection: scope.kind === 'unfiled' ? false : null,
    };
  }

  /** Load the first page again (filters or scope changed). */
  async function reload() {
    stale = false;
    const mine = ++generation;
    next = null;
    loading = api.listLibrary(params());
    try {
      const page = await loading;
      if (mine !== generation) return;
      items = page.items;
      next = page.next;
      grid.reset();
      showItems(page.match);
    } catch (error) {
      if (mine === generation) fail(error, 'The library did not load');
    } finally {
      if (mine === generation) loading = null;
    }
  }

  async function loadMore() {
    if (!next || loading) return;
    const mine = generation;
    loading = api.listLibrary(params(), next);
    try {
      const page = await loading;
      if (mine !== generation) return;
      items = items.concat(page.items);
      next = page.next;
      showItems(page.match);
    } catch (error) {
      if (mine === generation) fail(error, 'More of the library did not load');
    } finally {
      if (mine === generation) loading = null;
    }
  }

  function showItems(match) {
    for (const item of items) if (item.model_used) models.add(item.model_used);
    $('models').replaceChildren(...[...models].sort().map((m) => el('option', { value: m })));
    const filtered = $('search').value.trim() || $('filter-type').value || $('filter-model').value.trim() || $('filter-favorite').checked || $('filter-tags').value.trim();
    const empty = $('library-empty');
    empty.hidden = items.length > 0;
    empty.textContent = filtered ? 'Nothing matches these filters.' : 'Nothing saved here yet: save items from the workspace.';
    $('library-count').textContent = items.length ? `${items.length}${next ? '+' : ''} shown${match && match !== 'words' ? ` (${match} match)` : ''}` : '';
    grid.setItems(items);
    renderBatch();
  }

  // ---- counts and collections -----------------------------------------------

  async function refreshCounts() {
    try {
      const [list, stats] = await Promise.all([api.listCollections(), api.statistics()]);
      collections = list.collections;
      renderCollections(stats.library);
    } catch (error) {
      fail(error, 'The collections did not load');
    }
  }

  function renderCollections(library) {
    const entry = (key, label, count, target, tools) => el('li', { dataset: { scope: key } },
      el('button.scope', {
        type: 'button',
        'aria-current': isScope(target) ? 'true' : undefined,
        onclick: () => setScope(target),
      }, el('span.name', {}, label), el('span.n', { 'aria-label': `${count} items` }, String(count))),
      tools);
    const list = [
      entry('all', 'All items', library.total.count, { kind: 'all' }),
      entry('unfiled', 'Unfiled', library.unfiled.count, { kind: 'unfiled' }),
      ...collections.map((c) => entry(c.id, c.name, c.asset_count, { kind: 'collection', id: c.id, name: c.name },
        el('span.tools', {},
          el('button.ghost', { type: 'button', title: 'Rename', 'aria-label': `Rename collection ${c.name}`, onclick: () => renameCollection(c) }, '✎'),
          el('button.ghost.danger', { type: 'button', title: 'Delete', 'aria-label': `Delete collection ${c.name}`, onclick: () => deleteCollection(c) }, '×')))),
    ];
    $('collections').replaceChildren(...list);
  }

  const isScope = (target) => target.kind === scope.kind && target.id === scope.id;

  function setScope(target) {
    scope = target;
    selected.clear();
    refreshCounts();
    reload();
  }

  async function createCollection() {
    const name = await ask({ title: 'New collection', input: '', ok: 'Create' });
    if (!name) return null;
    try {
      const collection = await api.createCollection(name);
      await refreshCounts();
      toast(`Collection “${collection.name}” created`);
      return collection;
    } catch (error) {
      fail(error, 'No collection created');
      return null;
    }
  }

  async function renameCollection(collection) {
    const name = await ask({ title: 'Rename collection', input: collection.name, ok: 'Rename' });
    if (!name || name === collection.name) return;
    try {
      await api.renameCollection(collection.id, name);
      await refreshCounts();
    } catch (error) {
      fail(error, 'Not renamed');
    }
  }

  async function deleteCollection(collection) {
    const choice = await ask({
      title: `Delete the collection “${collection.name}”?`,
      text: `It holds ${collection.asset_count} item${collection.asset_count === 1 ? '' : 's'}.`,
      choices: [
        { value: 'keep', label: 'Delete it, keep the items' },
        { value: 'items', label: 'Delete it and its items' },
      ],
    });
    if (!choice) return;
    try {
      await api.deleteCollection(collection.id, choice === 'items');
      if (scope.id === collection.id) scope = { kind: 'all' };
      toast(`Collection “${collection.name}” deleted`);
      await refreshCounts();
      await reload();
    } catch (error) {
      fail(error, 'Not deleted');
    }
  }

  /**
   * Ask where to put items: '' for the library without a collection, a
   * collection id (a new one can be made on the spot), or null (cancelled).
   */
  async function chooseCollection(title, { none = 'The library (no collection)' } = {}) {
    try {
      collections = (await api.listCollections()).collections;
    } catch (error) {
      fail(error, 'The collections did not load');
      return null;
    }
    const choice = await ask({
      title,
      choices: [
        { value: '', label: none },
        ...collections.map((c) => ({ value: c.id, label: `${c.name} (${c.asset_count})` })),
        { value: '+new', label: '+ New collection…' },
      ],
    });
    if (choice !== '+new') return choice;
    const created = await createCollection();
    return created ? created.id : null;
  }

  // ---- editing ---------------------------------------------------------------

  /** Apply `changes` to `list` (update_library_items, by 100s); answers the ids changed. */
  async function update(list, changes, what) {
    const updated = new Set();
    try {
      for (const part of chunks(list.map((i) => i.id))) {
        const answer = await api.updateItems(part, changes);
        answer.updated.forEach((id) => updated.add(id));
        if (answer.failed.length) fail(new Error(`${answer.failed.length} item(s): ${answer.failed[0].error}`), what);
      }
    } catch (error) {
      fail(error, what);
    }
    for (const item of list) {
      if (!updated.has(item.id)) continue;
      if ('tags' in changes) item.tags = changes.tags;
      if ('is_favorite' in changes) item.is_favorite = changes.is_favorite;
      if ('custom_title' in changes) item.custom_title = changes.custom_title;
      if ('collection_id' in changes) item.collection_id = changes.collection_id;
    }
    return updated;
  }

  async function move(list) {
    const target = await chooseCollection(`Move ${list.length} item${list.length === 1 ? '' : 's'} to`, { none: 'No collection' });
    if (target === null) return;
    const moved = await update(list, { collection_id: target || null }, 'Not moved');
    if (moved.size) toast(`${moved.size} item${moved.size === 1 ? '' : 's'} moved`);
    // Items that left the collection in view leave the grid.
    if (scope.kind === 'collection' || scope.kind === 'unfiled') {
      items = items.filter((i) => !(moved.has(i.id) && (scope.kind === 'unfiled' ? i.collection_id : i.collection_id !== scope.id)));
    }
    selected.clear();
    showItems();
    refreshCounts();
  }

  async function remove(list) {
    const sure = await ask({
      title: `Delete ${list.length} item${list.length === 1 ? '' : 's'}?`,
      text: 'They are removed from the library for good, with their files.',
      ok: 'Delete',
      danger: true,
    });
    if (!sure) return false;
    const deleted = new Set();
    try {
      for (const part of chunks(list.map((i) => i.id))) {
        const answer = await api.deleteItems(part);
        answer.deleted.forEach((id) => deleted.add(id));
      }
    } catch (error) {
      fail(error, 'Not deleted');
    }
    items = items.filter((i) => !deleted.has(i.id));
    deleted.forEach((id) => selected.delete(id));
    if (deleted.size) toast(`${deleted.size} item${deleted.size === 1 ? '' : 's'} deleted`);
    showItems();
    refreshCounts();
    return deleted.size > 0;
  }

  async function toggleFavorite(item) {
    await update([item], { is_favorite: !item.is_favorite }, 'Not changed');
    grid.refresh();
    refreshLightbox();
  }

  /** The lightbox's editing form: title, tags (chips; Enter adds), favorite, collection. */
  function editor(view, rerender) {
    const item = view.item;
    const tagInput = el('input', {
      type: 'text',
      placeholder: 'Add a tag, Enter',
      'aria-label': 'Add a tag',
      onkeydown: async (event) => {
        if (event.key !== 'Enter') return;
        event.preventDefault();
        const tag = tagInput.value.trim();
        if (!tag || item.tags.includes(tag)) return;
        const done = await update([item], { tags: [...item.tags, tag] }, 'Tag not added');
        if (done.size) {
          rerender();
          grid.refresh();
          document.querySelector('#lb-edit input[aria-label="Add a tag"]')?.focus();
        }
      },
    });
    const collection = collections.find((c) => c.id === item.collection_id);
    return el('div.editor', {},
      el('label', {}, 'Title ',
        el('input', {
          type: 'text',
          value: item.custom_title ?? '',
          placeholder: 'No title',
          onchange: async (event) => {
            const title = event.target.value.trim();
            await update([item], { custom_title: title || null }, 'Title not changed');
            grid.refresh();
          },
        })),
      el('div.tags', { role: 'list', 'aria-label': 'Tags' },
        item.tags.map((tag) => el('span.tag', { role: 'listitem' }, tag,
          el('button.x', {
            type: 'button',
            'aria-label': `Remove tag ${tag}`,
            onclick: async () => {
              await update([item], { tags: item.tags.filter((t) => t !== tag) }, 'Tag not removed');
              rerender();
              grid.refresh();
            },
          }, '×'))),
        tagInput),
      el('button', { type: 'button', 'aria-pressed': String(item.is_favorite), onclick: async () => {
        await toggleFavorite(item);
        rerender();
      } }, item.is_favorite ? '★ Favorite' : '☆ Mark favorite'),
      el('button', { type: 'button', onclick: async () => {
        await move([item]);
        rerender();
      } }, collection ? `In “${collection.name}” — move…` : 'Move to a collection…'));
  }

  function lightboxActions(view, close) {
    const item = view.item;
    return [
      el('button', { type: 'button', onclick: () => el('a', { href: item.url, download: item.storage_path.split('/').pop() }).click() }, 'Download'),
      el('button', { type: 'button', onclick: () => {
        promptBar.useSeed(item.generation_seed);
        close();
        location.hash = '#/workspace';
        toast(`Seed ${item.generation_seed} will be used for the next generation`);
      } }, 'Use seed'),
      el('button', { type: 'button', onclick: () => {
        promptBar.useReference(itemView(item));
        close();
        location.hash = '#/workspace';
      } }, 'Use as reference'),
      el('button.danger', { type: 'button', onclick: async () => {
        close();
        await remove([item]);
      } }, 'Delete'),
    ];
  }

  function view(index) {
    const list = items.filter((i) => i.url).map((item) => ({
      ...itemView(item),
      meta: [
        ['Seed', item.generation_seed],
        ['Model', item.model_used],
        ['Saved', new Date(item.created_at).toLocaleString()],
        ['Size', item.width && item.height ? `${item.width}×${item.height}` : '—'],
      ],
    }));
    openLightbox(list, Math.max(0, list.findIndex((v) => v.id === items[index].id)), { edit: editor, actions: lightboxActions });
  }

  // ---- the grid ---------------------------------------------------------------

  function createCell() {
    const cell = el('div.lcell', { role: 'listitem', draggable: true });
    cell.refs = {
      open: el('button.open', { type: 'button' }),
      pick: el('input', { type: 'checkbox' }),
      fav: el('button.fav', { type: 'button' }),
      title: el('span.title'),
      tags: el('span.tags'),
    };
    const { open, pick, fav, title, tags } = cell.refs;
    open.addEventListener('click', () => view(Number(cell.dataset.index)));
    pick.addEventListener('change', () => {
      const item = items[Number(cell.dataset.index)];
      if (pick.checked) selected.add(item.id);
      else selected.delete(item.id);
      cell.classList.toggle('picked', pick.checked);
      renderBatch();
    });
    fav.addEventListener('click', () => toggleFavorite(items[Number(cell.dataset.index)]));
    cell.addEventListener('dragstart', (event) => {
      const item = items[Number(cell.dataset.index)];
      event.dataTransfer.setData(ITEM_DRAG_TYPE, JSON.stringify({ id: item.id, url: item.url, thumbnailUrl: item.thumbnail_url, prompt: item.original_prompt }));
    });
    cell.append(open, el('label.pick', {}, pick), fav, el('div.cap', {}, title, tags));
    return cell;
  }

  function renderCell(cell, item) {
    const { open, pick, fav, title, tags } = cell.refs;
    if (cell.dataset.id !== item.id || cell.dataset.url !== item.url) {
      cell.dataset.id = item.id;
      cell.dataset.url = item.url;
      const picture = item.asset_type === 'video' && !item.thumbnail_url
        ? el('span.video-badge', {}, '▶ Video')
        : el('img', { src: item.thumbnail_url ?? item.url, alt: item.original_prompt, loading: 'lazy', draggable: false });
      open.replaceChildren(picture, item.asset_type === 'video' ? el('span.play', { 'aria-hidden': 'true' }, '▶') : '');
    }
    open.setAttribute('aria-label', `View: ${item.custom_title ?? item.original_prompt}`);
    pick.checked = selected.has(item.id);
    pick.setAttribute('aria-label', `Select: ${item.custom_title ?? item.original_prompt}`);
    cell.classList.toggle('picked', pick.checked);
    fav.textContent = item.is_favorite ? '★' : '☆';
    fav.setAttribute('aria-pressed', String(item.is_favorite));
    fav.setAttribute('aria-label', `Favorite: ${item.custom_title ?? item.original_prompt}`);
    title.textContent = item.custom_title ?? item.original_prompt;
    title.title = item.original_prompt;
    tags.textContent = item.tags.map((t) => `#${t}`).join(' ');
  }

  const grid = createVirtualGrid({
    scroller: $('grid-scroll'),
    container: $('grid'),
    createCell,
    renderCell,
    onNeedMore: loadMore,
  });

  function renderBatch() {
    const picked = items.filter((i) => selected.has(i.id));
    $('batch').hidden = picked.length === 0;
    $('batch-count').textContent = `${picked.length} selected`;
  }

  const pickedItems = () => items.filter((i) => selected.has(i.id));
  $('batch-move').addEventListener('click', () => move(pickedItems()));
  $('batch-delete').addEventListener('click', () => remove(pickedItems()));
  $('batch-favorite').addEventListener('click', async () => {
    await update(pickedItems(), { is_favorite: true }, 'Not changed');
    grid.refresh();
  });
  $('batch-clear').addEventListener('click', () => {
    selected.clear();
    grid.refresh();
    renderBatch();
  });
  $('new-collection').addEventListener('click', createCollection);

  const refilter = debounce(reload, 250);
  for (const id of ['search', 'filter-model', 'filter-tags']) $(id).addEventListener('input', refilter);
  for (const id of ['filter-type', 'filter-favorite']) $(id).addEventListener('change', reload);

  return {
    chooseCollection,
    /** The library view became visible: load what changed while it was away. */
    show() {
      visible = true;
      refreshCounts();
      if (stale) reload();
      else grid.refresh();
    },
    hide() {
      visible = false;
    },
    /** Something changed the library (a save, or a change Realtime reported). */
    changed: debounce(() => {
      stale = true;
      if (visible) {
        refreshCounts();
        if ($('grid-scroll').scrollTop === 0) reload();
      }
    }, 100),
  };
}
