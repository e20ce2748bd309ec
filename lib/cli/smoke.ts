/**
 * `clickstream smoke`: after a deploy, one session end to end through the client routes: create it
 * (and again: a retry), push two events (and again: duplicates), read it back, mark it irrelevant
 * (so that batch pages leave it out by default). Releases nothing. Any answer that differs from what
 * the contract says is a failure with a message that names the step, what was expected and what came.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Api } from './api.js';

export class SmokeFailure extends Error {
  override name = 'SmokeFailure';
}

export interface SmokeResult {
  sessionId: string;
  requests: number;
  ms: number;
  steps: string[];
}

/** Smoke sessions have ids starting with this, so that a consumer can drop them. */
export const SMOKE_PREFIX = 'clickstream-smoke-';

export async function smoke(api: Api, log: (line: string) => void = () => {}): Promise<SmokeResult> {
  const started = Date.now();
  const requestsBefore = api.requests;
  const sessionId = `${SMOKE_PREFIX}${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 8)}`;
  const steps: string[] = [];
  const check = (step: string, what: string, actual: unknown, expected: unknown) => {
    if (!isDeepStrictEqual(actual, expected)) {
      throw new SmokeFailure(`${step}: ${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }
  };
  const done = (step: string) => {
    steps.push(step);
    log(`  ok  ${step}`);
  };
  const call = async (
    step: string,
    method: 'GET' | 'POST',
    path: string,
    o: { body?: unknown; query?: Record<string, string> },
  ) => {
    try {
      return (await api.request(method, path, o)).body;
    } catch (err) {
      throw new SmokeFailure(`${step}: ${(err as Error).message}`);
    }
  };

  const createdAt = Math.floor(Date.now() / 1000);
  const session = {
    session_id: sessionId,
    search_query: 'clickstream smoke test',
    search_results: [
      { object_id: 'smoke-object-1', rank: 1, meta: { title: 'first' } },
      { object_id: 'smoke-object-2', rank: 2 },
    ],
    search_meta: { smoke: true },
    created_at: createdAt,
  };
  const created = await call('create_session', 'POST', '/session', { body: session });
  check('create_session', 'answer', created, { session_id: sessionId, created: true });
  done('create_session');
  const retried = await call('create_session (retry)', 'POST', '/session', { body: session });
  check('create_session (retry)', 'answer', retried, { session_id: sessionId, created: false });
  done('create_session (retry)');

  const events = [
    { event_id: 'smoke-e1', object_id: 'smoke-object-2', created_at: createdAt },
    {
      event_id: 'smoke-e2',
      object_id: 'smoke-object-1',
      event_type: 'add_to_cart',
      created_at: createdAt + 1,
      meta: { n: 1 },
    },
  ];
  const pushed = await call('push_events', 'POST', '/session/events', { body: { session_id: sessionId, events } });
  check(
    'push_events',
    'accepted / duplicates / rejected',
    [pushed?.accepted, pushed?.duplicates, pushed?.rejected],
    [2, 0, 0],
  );
  done('push_events');
  const again = await call('push_events (again)', 'POST', '/session/events', {
    body: { session_id: sessionId, events },
  });
  check(
    'push_events (again)',
    'accepted / duplicates / rejected',
    [again?.accepted, again?.duplicates, again?.rejected],
    [0, 2, 0],
  );
  done('push_events (again)');

  const read = await call('get_session', 'GET', '/session', { query: { session_id: sessionId } });
  check('get_session', 'session_id', read?.session_id, sessionId);
  check('get_session', 'search_query', read?.search_query, session.search_query);
  check('get_session', 'search_results', read?.search_results, [
    { object_id: 'smoke-object-1', rank: 1, meta: { title: 'first' } },
    { object_id: 'smoke-object-2', rank: 2, meta: null },
  ]);
  check('get_session', 'search_meta', read?.search_meta, { smoke: true });
  check('get_session', 'created_at', read?.created_at, createdAt * 1000);
  check('get_session', 'is_irrelevant', read?.is_irrelevant, false);
  check(
    'get_session',
    'events (id, object, type, created_at, meta)',
    (read?.events ?? []).map((e: Record<string, unknown>) => [
      e.event_id,
      e.object_id,
      e.event_type,
      e.created_at,
      e.meta,
    ]),
    [
      ['smoke-e1', 'smoke-object-2', 'click', createdAt * 1000, null],
      ['smoke-e2', 'smoke-object-1', 'add_to_cart', (createdAt + 1) * 1000, { n: 1 }],
    ],
  );
  check('get_session', 'events_count / events_truncated', [read?.events_count, read?.events_truncated], [2, false]);
  check('get_session', 'batch_id is set', typeof read?.batch_id === 'string' && read.batch_id.length > 0, true);
  done('get_session');

  const marked = await call('mark_session_irrelevant', 'POST', '/session/irrelevant', {
    body: { session_id: sessionId },
  });
  check('mark_session_irrelevant', 'answer', marked, { session_id: sessionId, is_irrelevant: true });
  const reread = await call('get_session (after marking)', 'GET', '/session', { query: { session_id: sessionId } });
  check('get_session (after marking)', 'is_irrelevant', reread?.is_irrelevant, true);
  done('mark_session_irrelevant');

  return { sessionId, requests: api.requests - requestsBefore, ms: Date.now() - started, steps };
}
