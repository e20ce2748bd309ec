/**
 * The HTTP interface of each operation: method and path below BASE_PATH. The functions read it (the
 * catch-all answers 405 with the methods a known path has); lib/routes.ts adds what the stack
 * deploys for each.
 */
export const BASE_PATH = '/api/v1/clickstream';

export const API_ROUTES = {
  create_session: { method: 'POST', path: '/session' },
  get_session: { method: 'GET', path: '/session' },
  push_events: { method: 'POST', path: '/session/events' },
  mark_session_irrelevant: { method: 'POST', path: '/session/irrelevant' },
  release_batch: { method: 'POST', path: '/internal/batch/release' },
  get_batch_sessions: { method: 'GET', path: '/internal/batch/sessions' },
  get_batch: { method: 'GET', path: '/internal/batch' },
  list_batches: { method: 'GET', path: '/internal/batches' },
  start_export: { method: 'POST', path: '/internal/batch/export' },
  get_export: { method: 'GET', path: '/internal/batch/export' },
  erase_user: { method: 'POST', path: '/internal/users/erase' },
  get_erasure: { method: 'GET', path: '/internal/users/erase' },
} as const satisfies Record<string, { method: 'GET' | 'POST'; path: string }>;

/** The operation names of the API: a map keyed by `Operation` must have an entry for each. */
export type Operation = keyof typeof API_ROUTES;

export const fullPath = (r: { path: string }) => `${BASE_PATH}${r.path}`;
