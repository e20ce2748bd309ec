/**
 * The HTTP interface of each operation: method and path below BASE_PATH. The functions read it (the
 * catch-all answers 405 with the methods a known path has); lib/routes.ts adds what the stack
 * deploys for each.
 */
export const BASE_PATH = '/api/v1/clickstream';

/** Each operation's route key, as API Gateway writes it: method, a space, the path below BASE_PATH. */
const ROUTE_KEYS = {
  create_session: 'POST /session',
  get_session: 'GET /session',
  push_events: 'POST /session/events',
  mark_session_irrelevant: 'POST /session/irrelevant',
  release_batch: 'POST /internal/batch/release',
  get_batch_sessions: 'GET /internal/batch/sessions',
  get_batch: 'GET /internal/batch',
  list_batches: 'GET /internal/batches',
  start_export: 'POST /internal/batch/export',
  get_export: 'GET /internal/batch/export',
  erase_user: 'POST /internal/users/erase',
  get_erasure: 'GET /internal/users/erase',
} as const satisfies Record<string, `${'GET' | 'POST'} /${string}`>;

/** The operation names of the API: a map keyed by `Operation` must have an entry for each. */
export type Operation = keyof typeof ROUTE_KEYS;

export const API_ROUTES = Object.fromEntries(
  Object.entries(ROUTE_KEYS).map(([operation, key]) => {
    const [method, path] = key.split(' ') as ['GET' | 'POST', string];
    return [operation, { method, path }];
  }),
) as Record<Operation, { method: 'GET' | 'POST'; path: string }>;

export const fullPath = (r: { path: string }) => `${BASE_PATH}${r.path}`;
