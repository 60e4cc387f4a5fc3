// The page's entry: who is signed in (session.js), one supabase-js client
// acting with that user's token, the two views (#/workspace, #/library), and
// one Realtime channel carrying this user's changes of jobs, workspace
// assets and library items to them. While the channel is down
// (the stack restarting, say) the workspace is refreshed every few seconds;
// when it joins again it reloads once and the refreshing stops — no polling
// while Realtime is up.

import { readSession, forgetSession, describeProblem } from './session.js';
import { createApi } from './api.js';
import { createPromptBar } from './promptbar.js';
import { createWorkspace } from './workspace.js';
import { createLibrary } from './library.js';
import { setupLightbox } from './lightbox.js';
import { el } from './ui.js';

const FALLBACK_POLL_MS = 5000;
const $ = (id) => document.getElementById(id);

function signedOut(problem, claims) {
  const [title, text] = describeProblem(problem, claims);
  document.querySelectorAll('main').forEach((m) => (m.hidden = true));
  $('signed-out').hidden = false;
  $('signed-out-title').textContent = title;
  $('signed-out-text').textContent = text;
  $('live').hidden = true;
  document.title = `${title} · OurVidz`;
}

function showWho(claims) {
  $('who').replaceChildren(
    el('span.avatar', { 'aria-hidden': 'true' }, (claims.email ?? '?')[0].toUpperCase()),
    el('span', { title: `user ${claims.sub}` }, claims.email ?? claims.sub));
  $('who').setAttribute('aria-label', `Signed in as ${claims.email ?? claims.sub}`);
}

async function main() {
  const session = readSession();
  if (session.problem) {
    if (session.problem !== 'none') forgetSession();
    return signedOut(session.problem, session.claims);
  }
  const { token, apikey, claims } = session;
  showWho(claims);

  let ended = false;
  const end = (problem) => {
    if (ended) return;
    ended = true;
    forgetSession();
    supabase.removeAllChannels();
    signedOut(problem, claims);
  };
  // The token's own end: say so then, not at the next failing request.
  if (claims.exp) setTimeout(() => end('expired'), Math.min(claims.exp * 1000 - Date.now(), 2 ** 31 - 1));

  const supabase = window.supabase.createClient(location.origin, apikey, { accessToken: async () => token });
  const api = createApi(supabase, { onRefused: () => end(Date.now() >= claims.exp * 1000 ? 'expired' : 'refused') });

  setupLightbox();
  let workspace = null;
  const promptBar = createPromptBar({ api, onQueued: (job) => workspace.addQueued(job) });
  const library = createLibrary({ api, promptBar });
  workspace = createWorkspace({ api, promptBar, library });

  // Views by the address's fragment.
  const route = () => {
    const name = location.hash === '#/library' ? 'library' : 'workspace';
    $('workspace').hidden = name !== 'workspace';
    $('library').hidden = name !== 'library';
    document.querySelectorAll('.tabs a').forEach((a) => a.toggleAttribute('aria-current', a.dataset.view === name));
    document.title = `${name === 'library' ? 'Library' : 'Workspace'} · OurVidz`;
    if (name === 'library') library.show();
    else library.hide();
  };
  addEventListener('hashchange', route);
  route();

  // Realtime: the token must be set before the channel joins (see README).
  let poll = null;
  let everJoined = false;
  const live = (state, text) => {
    $('live').dataset.state = state;
    $('live').textContent = text;
  };
  await supabase.realtime.setAuth();
  const routeChange = (payload) => {
    if (payload.table === 'jobs' || payload.table === 'workspace_assets') workspace.onChange(payload);
    else library.changed();
  };
  const channel = supabase.channel(`page:${claims.sub}`);
  // Collection counts follow their items, so user_library's changes cover
  // them (user_collections is not in the supabase_realtime publication).
  for (const table of ['jobs', 'workspace_assets', 'user_library']) {
    channel.on('postgres_changes', { event: '*', schema: 'public', table, filter: `user_id=eq.${claims.sub}` }, routeChange);
  }
  channel.subscribe((status, error) => {
    if (ended) return;
    if (status === 'SUBSCRIBED') {
      live('live', 'Live');
      clearInterval(poll);
      poll = null;
      // Catch up on whatever changed before (or while not) subscribed.
      workspace.reload();
      if (everJoined) library.changed();
      everJoined = true;
      return;
    }
    if (/expired/i.test(error?.message ?? '')) return end('expired');
    live('down', 'Reconnecting…');
    poll ??= setInterval(() => workspace.reload(), FALLBACK_POLL_MS);
  });
  workspace.reload();
}

main().catch((error) => {
  // The last resort: the page says what broke instead of staying blank.
  signedOut('none');
  $('signed-out-title').textContent = 'The page could not start';
  $('signed-out-text').textContent = error.message;
});
