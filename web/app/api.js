// Every call the page makes, through supabase-js as a hosted-Supabase app
// makes them: edge functions (`functions.invoke`) where the backend does more
// than one SQL call — queue a job, list the workspace with signed URLs, save
// (Storage copy + SQL), delete — and the SQL API through RPC (`rpc()`) where
// one call is the whole action; Storage batch signing for the files a page
// shows. Each call answers its data or throws an Error carrying the API's
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

  const query = (params) => {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== '') search.set(key, value);
    }
    const text = search.toString();
    return text ? `?${text}` : '';
  };

  return {
    sign,
    rpc,

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

    /** A page of the library (list_library's filters), each item with signed `url` and `thumbnail_url`. */
    async listLibrary(params) {
      const page = await rpc('list_library', params);
      const urls = await sign('user-library', page.items.flatMap((i) => [i.storage_path, i.thumbnail_path]));
      for (const item of page.items) {
        item.url = urls.get(item.storage_path) ?? null;
        item.thumbnail_url = item.thumbnail_path ? urls.get(item.thumbnail_path) ?? null : null;
      }
      return page;
    },
    listCollections: () => rpc('list_collections'),
    statistics: () => rpc('asset_statistics'),
    createCollection: (name) => rpc('create_collection', { name }),
    renameCollection: (id, name) => rpc('update_collection', { collection_id: id, name }),
    deleteCollection: (id, deleteItems) => rpc('delete_collection', { collection_id: id, delete_items: deleteItems }),
    updateItems: (ids, changes) => rpc('update_library_items', { item_ids: ids, changes }),
    deleteItems: (ids) => rpc('delete_library_items', { item_ids: ids }),
  };
}
