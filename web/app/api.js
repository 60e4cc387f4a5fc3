// Every call the page makes, through supabase-js as a hosted-Supabase app
// makes them: edge functions (`functions.invoke`) where the backend does more
// than a SQL call — queue a job, list the workspace or the library with
// signed URLs, save (Storage copy + SQL), delete, organise the library — and
// the SQL API through RPC (`rpc()`) for dismiss, restore and clear, where one
// call is the whole action; Storage batch signing for the files Realtime
// announces. Each call answers its data or throws an Error carrying the API's
// own sentence (the SQL rules' 400s included), which the views show as a
// toast. A 401 means the token is no longer accepted: `onRefused` is told.

const SIGNED_URL_SECONDS = 3600;

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function createApi(supabase, { onRefused }) {
  const refused = (error) => {
    if (error.status === 401) onRefused(error);
    throw error;
  };

  /** The error of a functions.invoke answer, as the function (or the gateway) worded it. */
  async function functionError(error) {
    const response = error.context;
    if (response && typeof response.json === 'function') {
      const body = await response.json().catch(() => null);
      const message = body?.error?.message ?? body?.message ?? body?.msg ?? `HTTP ${response.status}`;
      return new ApiError(message, response.status, body?.error?.code ?? body?.code);
    }
    return new ApiError(error.message || 'The stack could not be reached', 0);
  }

  async function invoke(name, options) {
    const { data, error } = await supabase.functions.invoke(name, options);
    if (error) refused(await functionError(error));
    return data;
  }

  async function rpc(name, args = {}) {
    const { data, error, status } = await supabase.rpc(name, args);
    if (error) refused(new ApiError(error.message || `HTTP ${status}`, status, error.code));
    return data;
  }

  /** Signed URLs of `paths` in `bucket`, in one batch request: Map path → URL. */
  async function sign(bucket, paths) {
    const unique = [...new Set(paths.filter(Boolean))];
    if (unique.length === 0) return new Map();
    const { data, error } = await supabase.storage.from(bucket).createSignedUrls(unique, SIGNED_URL_SECONDS);
    if (error) refused(new ApiError(error.message, error.status ?? error.statusCode ?? 0));
    return new Map(data.filter((d) => d.signedUrl).map((d) => [d.path, d.signedUrl]));
  }

  /** `?a=1&tags_all=x&tags_all=y`: absent values left out, arrays repeated. */
  const query = (params) => {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      for (const one of [value].flat()) {
        if (one !== undefined && one !== null && one !== '') search.append(key, String(one));
      }
    }
    const text = search.toString();
    return text ? `?${text}` : '';
  };

  const library = (body) => invoke('library-actions', { body });

  return {
    sign,

    queueJob: (body, idempotencyKey) =>
      invoke('queue-job', { body, headers: { 'Idempotency-Key': idempotencyKey } }),

    /** A page of the workspace grouped by job, each asset with `url` and `thumbnail_url`. */
    listWorkspace: (before) =>
      invoke(`workspace-actions${query({ page_size: 20, before_created_at: before?.created_at, before_job_id: before?.job_id })}`, { method: 'GET' }),

    /** Save assets (or a job's) to the library, into a collection if given. */
    save: (target, collectionId) =>
      invoke('workspace-actions', { body: { action: 'save', ...target, ...(collectionId ? { collection_id: collectionId } : {}) } }),

    /** Delete an asset or a whole job for good (`{asset_id}` or `{job_id}`). */
    deleteWorkspace: (target) => invoke('delete-workspace-item', { body: target }),

    dismiss: (target) => rpc('dismiss_workspace_items', target),
    restore: (target) => rpc('restore_workspace_items', target),
    clearWorkspace: () => rpc('clear_workspace'),

    /** A page of the library (list_library's filters; `after` its `next`), each item with signed `url` and `thumbnail_url`. */
    listLibrary: (params, after) =>
      invoke(`library-actions${query({
        ...params,
        after_created_at: after?.created_at,
        after_id: after?.id,
        after_rank: after?.rank,
        after_match: after?.match,
      })}`, { method: 'GET' }),
    listCollections: () => invoke('library-actions?view=collections', { method: 'GET' }),
    statistics: () => invoke('library-actions?view=statistics', { method: 'GET' }),
    createCollection: (name) => library({ action: 'create_collection', name }),
    renameCollection: (id, name) => library({ action: 'update_collection', collection_id: id, name }),
    deleteCollection: (id, deleteItems) => library({ action: 'delete_collection', collection_id: id, delete_items: deleteItems }),
    updateItems: (ids, changes) => library({ action: 'update', item_ids: ids, changes }),
    deleteItems: (ids) => library({ action: 'delete', item_ids: ids }),
  };
}
