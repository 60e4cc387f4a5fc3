// The page's small UI kit: building elements, toasts (every failure ends in
// one, never in silence or in the console), and the ask dialog that replaces
// window.prompt/confirm (one <dialog>, keyboard-operable, styled like the
// page). Nothing here knows about the API.

/** `el('button.primary', {type: 'button', onclick}, 'Save')`: an element with classes, properties and children. */
export function el(spec, props = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const node = document.createElement(tag || 'div');
  if (classes.length) node.className = classes.join(' ');
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key in node && !key.includes('-')) node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

const toasts = () => document.getElementById('toasts');

/**
 * Show `message` for a few seconds. `kind` is 'info' or 'error'; `action`
 * ({label, run}) adds a button (Undo) that runs once and closes the toast.
 */
export function toast(message, { kind = 'info', action, timeout } = {}) {
  const close = () => node.remove();
  const node = el(`div.toast.${kind}`, { role: kind === 'error' ? 'alert' : undefined },
    el('span', {}, message),
    action && el('button', {
      type: 'button',
      onclick: async () => {
        close();
        await action.run();
      },
    }, action.label),
    el('button.x', { type: 'button', 'aria-label': 'Dismiss message', onclick: close }, '×'));
  toasts().append(node);
  setTimeout(close, timeout ?? (action ? 10_000 : kind === 'error' ? 8000 : 4000));
  return node;
}

/** A toast for a failure: its message as the API said it. */
export function fail(error, what) {
  const text = error instanceof Error || typeof error?.message === 'string' ? error.message : String(error);
  toast(what ? `${what}: ${text}` : text, { kind: 'error' });
}

/**
 * Ask the user in the page's dialog. `input` (a string, the initial value)
 * asks for text; `choices` ([{value, label}]) offers buttons. Resolves to the
 * text, the chosen value, true for a plain confirmation, or null when cancelled.
 */
export function ask({ title, text = '', input, choices, ok = 'OK', danger = false }) {
  const dialog = document.getElementById('ask');
  const field = document.getElementById('ask-input');
  const okButton = document.getElementById('ask-ok');
  document.getElementById('ask-title').textContent = title;
  document.getElementById('ask-text').textContent = text;
  field.hidden = input === undefined;
  field.value = input ?? '';
  okButton.textContent = ok;
  okButton.hidden = Boolean(choices);
  okButton.classList.toggle('danger', danger);
  const choiceBox = document.getElementById('ask-choices');
  choiceBox.replaceChildren();
  return new Promise((resolve) => {
    let answer = null;
    const finish = () => {
      dialog.removeEventListener('close', finish);
      resolve(answer);
    };
    for (const choice of choices ?? []) {
      choiceBox.append(el('button', {
        type: 'button',
        onclick: () => {
          answer = choice.value;
          dialog.close();
        },
      }, choice.label));
    }
    document.getElementById('ask-cancel').onclick = () => dialog.close();
    document.getElementById('ask-form').onsubmit = (event) => {
      event.preventDefault();
      if (input !== undefined && !field.value.trim()) return field.focus();
      answer = input !== undefined ? field.value.trim() : true;
      dialog.close();
    };
    dialog.addEventListener('close', finish);
    dialog.showModal();
    (input !== undefined ? field : choiceBox.querySelector('button') ?? okButton).focus();
  });
}

/** `fn` at most once per `ms`, with the last call's arguments. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** "3 min ago", for a timestamp. */
export function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

/** The media element of an item: an image with its prompt as alt text, or a video with its thumbnail as poster. */
export function media(item, { controls = false, full = false } = {}) {
  const prompt = item.prompt ?? '';
  if (item.type === 'video') {
    return el('video', {
      src: item.url,
      poster: item.thumbnailUrl ?? undefined,
      controls,
      muted: true,
      loop: !controls,
      playsInline: true,
      preload: full ? 'auto' : 'metadata',
      'aria-label': prompt,
      title: prompt,
    });
  }
  return el('img', {
    src: full ? item.url : item.thumbnailUrl ?? item.url,
    alt: prompt,
    loading: full ? 'eager' : 'lazy',
    decoding: 'async',
    draggable: false,
  });
}
