// Who the page acts as. There is no auth server locally: `ourvidz up` (or
// `ourvidz link`) prints a link whose fragment carries an access token, as
// Supabase's implicit grant redirects to an app, and the project's anon key
// (`apikey`), which a hosted app has in its config. The page takes both
// out of the address bar, keeps them for this tab only (sessionStorage, so a
// second user's link works side by side in another tab), and hands it to
// supabase-js through the `accessToken` option. An expired or unusable token
// is said in words, with how to get a new link.

const KEY = 'ourvidz.access_token';
const APIKEY = 'ourvidz.apikey';

/** The claims of a JWT, or null when it is not one. */
function claimsOf(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, '=')));
  } catch {
    return null;
  }
}

/**
 * The tab's session: `{token, apikey, claims}` from the link just opened or
 * from this tab's storage, or `{problem}` saying why there is none.
 */
export function readSession() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromLink = fragment.get('access_token');
  if (fromLink) {
    sessionStorage.setItem(KEY, fromLink);
    sessionStorage.setItem(APIKEY, fragment.get('apikey') ?? '');
    // The token leaves the address bar (and so the history and any copy of the URL).
    history.replaceState(null, '', `${location.pathname}#/workspace`);
  }
  const token = fromLink ?? sessionStorage.getItem(KEY);
  const apikey = sessionStorage.getItem(APIKEY);
  if (!token || !apikey) return { problem: 'none' };
  const claims = claimsOf(token);
  if (!claims?.sub || claims.role !== 'authenticated') return { problem: 'invalid' };
  if (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) return { problem: 'expired', claims };
  return { token, apikey, claims };
}

/** Forget this tab's token (it expired or was refused). */
export function forgetSession() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(APIKEY);
}

/** The words for a session problem: a title and a sentence. */
export function describeProblem(problem, claims) {
  switch (problem) {
    case 'expired':
      return ['Your sign-in link has expired', `The token for ${claims?.email ?? claims?.sub ?? 'this user'} expired ${new Date(claims.exp * 1000).toLocaleString()}.`];
    case 'invalid':
      return ['This sign-in link does not work', 'Its token is not a user access token of this stack.'];
    case 'refused':
      return ['The stack refused this sign-in', 'The token is not valid here any more (expired, signed with another secret, or its user is gone).'];
    default:
      return ['Not signed in', 'This page needs a sign-in link.'];
  }
}
