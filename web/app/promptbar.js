// The prompt bar of seed 002: image or video, the prompt and Generate; the
// controls (aspect ratio 16:9 → 1:1 → 9:16, shot type wide → medium → close,
// the six camera angles in a popup, style text, quality fast/high), a
// reference image (one of the user's items dragged onto the Ref box, or an
// https URL dropped or typed there) and "use seed" filled from an item. The
// rules (lengths, ranges, whose references) are the SQL API's: whatever it
// refuses comes back as its sentence in a toast.

import { el, toast, fail, ask } from './ui.js';

const ASPECTS = ['16:9', '1:1', '9:16'];
const SHOTS = [['wide', 'Wide'], ['medium', 'Medium'], ['close', 'Close']];
// Seed 002's six angles; its emoji icons become plain symbols every font has.
const ANGLES = [
  ['none', '◢', 'None'],
  ['eye_level', '◉', 'Eye level'],
  ['low_angle', '▲', 'Low angle'],
  ['over_shoulder', '◐', 'Over the shoulder'],
  ['overhead', '▼', 'Overhead'],
  ['bird_eye', '✦', "Bird's eye view"],
];

/** The drag type of the page's own items: `{id, url, prompt}`. */
export const ITEM_DRAG_TYPE = 'application/x-ourvidz-item';

const $ = (id) => document.getElementById(id);

export function createPromptBar({ api, onQueued }) {
  const state = { aspect: 0, shot: 0, angle: 0, seed: null, reference: null };
  const form = $('prompt-bar');
  const prompt = $('prompt');

  const mode = () => form.elements.mode.value;
  const quality = () => form.elements.quality.value;

  $('aspect').addEventListener('click', () => {
    state.aspect = (state.aspect + 1) % ASPECTS.length;
    $('aspect').textContent = ASPECTS[state.aspect];
  });
  $('shot').addEventListener('click', () => {
    state.shot = (state.shot + 1) % SHOTS.length;
    $('shot').textContent = SHOTS[state.shot][1];
  });

  // The camera angle popup: a 2x3 menu, arrow keys move within it, Escape closes it.
  const angles = $('angles');
  const angleButton = $('angle');
  const showAngles = (open) => {
    angles.hidden = !open;
    angleButton.setAttribute('aria-expanded', String(open));
    if (open) angles.querySelectorAll('button')[state.angle].focus();
  };
  ANGLES.forEach(([value, icon, label], i) => {
    angles.append(el('button', {
      type: 'button',
      role: 'menuitemradio',
      'aria-checked': String(i === state.angle),
      dataset: { value },
      onclick: () => {
        state.angle = i;
        angles.querySelectorAll('button').forEach((b, j) => b.setAttribute('aria-checked', String(j === i)));
        angleButton.textContent = i === 0 ? '◢ Angle' : `${icon} ${label}`;
        showAngles(false);
        angleButton.focus();
      },
    }, el('span.icon', { 'aria-hidden': 'true' }, icon), label));
  });
  angleButton.addEventListener('click', () => showAngles(angles.hidden));
  angles.addEventListener('keydown', (event) => {
    const buttons = [...angles.querySelectorAll('button')];
    const at = buttons.indexOf(document.activeElement);
    const move = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 2, ArrowUp: -2 }[event.key];
    if (move) {
      event.preventDefault();
      buttons[(at + move + buttons.length) % buttons.length].focus();
    } else if (event.key === 'Escape') {
      event.stopPropagation();
      showAngles(false);
      angleButton.focus();
    }
  });
  document.addEventListener('click', (event) => {
    if (!angles.hidden && !event.target.closest('.angle-wrap')) showAngles(false);
  });

  // The reference: an item of the user's (by id) or an https URL.
  const refBox = $('ref');
  const refPreview = $('ref-preview');
  function setReference(reference) {
    state.reference = reference;
    refBox.classList.toggle('set', Boolean(reference));
    refPreview.hidden = !reference?.preview;
    if (reference?.preview) {
      refPreview.src = reference.preview;
      refPreview.alt = `Reference: ${reference.label}`;
    } else {
      refPreview.removeAttribute('src');
    }
    refBox.title = reference ? `Reference: ${reference.label} (press to change or remove)` : 'Reference image: drop an item or an https URL, or press to enter a URL';
  }
  setReference(null);
  refBox.addEventListener('click', async () => {
    if (state.reference) {
      const choice = await ask({
        title: 'Reference image',
        text: state.reference.label,
        choices: [{ value: 'url', label: 'Use a URL instead…' }, { value: 'remove', label: 'Remove the reference' }],
      });
      if (choice === 'remove') setReference(null);
      if (choice !== 'url') return;
    }
    const url = await ask({
      title: 'Reference image',
      text: 'The https:// URL of an image — or drag one of your items onto the Ref box.',
      input: 'https://',
      ok: 'Use',
    });
    if (url && url !== 'https://') setReference({ value: url, label: url, preview: null });
  });
  refBox.addEventListener('dragover', (event) => {
    event.preventDefault();
    refBox.classList.add('drop');
  });
  refBox.addEventListener('dragleave', () => refBox.classList.remove('drop'));
  refBox.addEventListener('drop', (event) => {
    event.preventDefault();
    refBox.classList.remove('drop');
    const own = event.dataTransfer.getData(ITEM_DRAG_TYPE);
    if (own) {
      const item = JSON.parse(own);
      return useReference(item);
    }
    const url = (event.dataTransfer.getData('text/uri-list') || event.dataTransfer.getData('text/plain')).split('\n')[0].trim();
    if (url.startsWith('https://')) return setReference({ value: url, label: url, preview: null });
    toast('Drop one of your items or an https:// image URL as the reference', { kind: 'error' });
  });

  function useReference(item) {
    setReference({ value: item.id, label: item.prompt, preview: item.thumbnailUrl ?? item.url });
    toast('Reference set for the next generation');
  }

  function useSeed(seed) {
    state.seed = seed;
    $('seed').hidden = seed === null;
    $('seed-value').textContent = seed === null ? '' : `Seed ${seed}`;
  }
  $('seed-clear').addEventListener('click', () => useSeed(null));

  prompt.addEventListener('keydown', (event) => {
    // Enter generates, Shift+Enter is a new line.
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = prompt.value.trim();
    if (!text) {
      toast('Write a prompt first', { kind: 'error' });
      return prompt.focus();
    }
    const settings = {
      aspect_ratio: ASPECTS[state.aspect],
      shot_type: SHOTS[state.shot][0],
      camera_angle: ANGLES[state.angle][0],
    };
    const style = $('style').value.trim();
    if (style) settings.style = style;
    if (state.reference) settings.reference_image = state.reference.value;
    const body = { mode: mode(), prompt: text, quality: quality(), settings };
    if (state.seed !== null) body.seed = state.seed;
    const button = $('generate');
    button.disabled = true;
    try {
      const { job } = await api.queueJob(body, crypto.randomUUID());
      onQueued(job);
      prompt.value = '';
    } catch (error) {
      fail(error, 'Not queued');
    } finally {
      button.disabled = false;
    }
  });

  return { useSeed, useReference };
}
