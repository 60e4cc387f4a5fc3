// The lightbox: one item full size in the page's <dialog>, its prompt and
// generation details beside it, the actions the view that opened it offers,
// and ← → to walk through that view's items (Escape closes, as any dialog).

import { el, media } from './ui.js';

const $ = (id) => document.getElementById(id);

let items = [];
let index = 0;
let options = {};

function render() {
  const item = items[index];
  if (!item) return close();
  $('lb-media').replaceChildren(media(item, { controls: true, full: true }));
  $('lb-prompt').textContent = item.prompt;
  $('lb-meta').replaceChildren(...(item.meta ?? []).flatMap(([label, value]) => [el('dt', {}, label), el('dd', {}, String(value))]));
  $('lb-edit').replaceChildren(...(options.edit ? [options.edit(item, render)].filter(Boolean) : []));
  $('lb-actions').replaceChildren(...(options.actions?.(item, close) ?? []));
  $('lb-prev').disabled = index === 0;
  $('lb-next').disabled = index >= items.length - 1;
}

function step(delta) {
  const target = index + delta;
  if (target < 0 || target >= items.length) return;
  index = target;
  render();
}

function close() {
  const dialog = $('lightbox');
  if (dialog.open) dialog.close();
}

/**
 * Show `list[at]`. `actions(item, close)` gives the buttons under it;
 * `edit(item, rerender)` an editing form (the library's tags and favorite).
 */
export function openLightbox(list, at, opts = {}) {
  items = list;
  index = at;
  options = opts;
  render();
  const dialog = $('lightbox');
  if (!dialog.open) dialog.showModal();
  $('lb-close').focus();
}

/** Re-render after the item changed (an edit, a new URL). */
export function refreshLightbox() {
  if ($('lightbox').open) render();
}

export function setupLightbox() {
  const dialog = $('lightbox');
  $('lb-close').addEventListener('click', close);
  $('lb-prev').addEventListener('click', () => step(-1));
  $('lb-next').addEventListener('click', () => step(1));
  dialog.addEventListener('keydown', (event) => {
    if (event.target.matches('input, textarea, select')) return;
    if (event.key === 'ArrowLeft') step(-1);
    if (event.key === 'ArrowRight') step(1);
  });
  // A click on the backdrop (the dialog itself, outside its content) closes it.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) close();
  });
  dialog.addEventListener('close', () => {
    $('lb-media').replaceChildren();
    options.onClose?.();
  });
}
