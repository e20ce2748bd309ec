/**
 * Storage faults, injected by a proxy between the functions and DynamoDB Local: throttling, 5xx,
 * transactions cancelled for throttling, timeouts and cut connections (before the write, after it,
 * in the middle of the answer), also in the middle of multi-item writes. For each: the answer is 503
 * with Retry-After, never a 200 that hides a loss; after the client's retry (the same request, the
 * proxy healthy) every session and event is stored exactly once, as checked in DynamoDB Local itself.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { resetAllocation } from '../../functions/domain/allocation.js';
import { setDocumentClient } from '../../functions/storage/client.js';
import { useFreshTable, type TestTable } from '../support/table.js';
import { FAILURE_KINDS, FaultProxy, type FaultKind, type FaultRule } from './support/fault-proxy.js';
import { get, invoke, post, viaHttp, type Answer, type RawRequest } from './support/invoke.js';
import { checkAnswer } from './support/model.js';
import { classify, queryRaw, scanAll, serviceClient } from './support/storage.js';
import { startLocalServer } from '../../lib/local/server.js';

let proxy: FaultProxy;
let table: TestTable;
const scenarios: Record<string, number> = {};

/**
 * A fresh table and the functions pointed at the proxy: with a client built as theirs but without the
 * SDK's sleeping between attempts (QuickRetryStrategy), or with their very own client (`real`).
 */
let real = false;
const quickClient = (requestTimeoutMs?: number) =>
  setDocumentClient(
    serviceClient({ endpoint: proxy.url, quickRetries: true, ...(requestTimeoutMs ? { requestTimeoutMs } : {}) }),
  );
async function fresh(options: { real?: boolean } = {}): Promise<void> {
  proxy.heal();
  table = await useFreshTable({ DYNAMODB_ENDPOINT: proxy.url });
  real = options.real === true;
  if (!real) quickClient();
}

/** Sends a request in-process; every answer but 503 (checked by expect503) passes the common checks. */
async function send(r: RawRequest): Promise<Answer> {
  const a = await invoke(r);
  if (a.status !== 503) checkAnswer(a, `${r.method} ${r.path}`);
  return a;
}

function expect503(a: Answer, context: string): void {
  expect(a.status, `${context}: ${a.text}`).toBe(503);
  expect(a.headers['retry-after'], context).toMatch(/^\d+$/);
  expect(typeof (a.json as { detail: unknown }).detail, context).toBe('string');
}

/**
 * Sends one request while the proxy applies `rule`, then heals the proxy. While a timeout is injected
 * the request timeout is 300 ms instead of 4 s (four attempts would take 16 s; the last test keeps the
 * real 4 s); the retry that follows uses the normal timeout again.
 */
async function faulty(rule: FaultRule, r: RawRequest): Promise<Answer> {
  const short = rule.kind.startsWith('timeout') && !real;
  if (short) quickClient(300);
  proxy.set(rule);
  try {
    return await send(r);
  } finally {
    proxy.heal();
    if (short) quickClient();
  }
}

/**
 * The client's retry after a 503: the same request again, as Retry-After asks (without waiting the
 * full seconds), at most 5 times. Storage may still refuse a retry: after a burst of throttling a
 * client's SDK has spent its retry quota, so one transient error on a healthy connection is not
 * retried inside the function. `before` runs ahead of each attempt (e.g. to read what is stored);
 * the answer comes back with what `before` saw ahead of the attempt that answered.
 */
async function retried<T = undefined>(
  r: RawRequest,
  before?: () => Promise<T>,
): Promise<{ answer: Answer; seen: T; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    const seen = (await before?.()) as T;
    const answer = await send(r);
    if (answer.status !== 503 || attempt === 5) return { answer, seen, attempts: attempt };
    expect503(answer, `retry ${attempt} of ${r.method} ${r.path}`);
    await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
  }
}

const session = (id: string) => ({
  session_id: id,
  search_query: { q: id },
  search_results: [{ object_id: 'o1', rank: 1 }],
});
const events = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    event_id: `e${String(i).padStart(3, '0')}`,
    object_id: `o${i % 7}`,
    meta: { i, tag: 'x'.repeat(i) },
  }));

async function storedEvents(sessionId: string): Promise<Map<string, Record<string, unknown>>> {
  const items = await queryRaw(table.endpoint, table.tableName, `SESSION#${sessionId}`);
  return new Map(
    items.filter((i) => i.sk.startsWith('EVENT#')).map((i) => [i.sk.slice(6), JSON.parse(i.content as string)]),
  );
}

/** Every session exactly once with exactly one membership, and every batch's count equal to its members. */
async function expectConsistent(sessionIds: string[], context: string): Promise<void> {
  const state = classify(await scanAll(table.endpoint, table.tableName));
  for (const id of sessionIds) expect(state.sessions.has(id), `${context}: session ${id}`).toBe(true);
  const memberships = new Map<string, number>();
  for (const members of state.members.values())
    for (const m of members) memberships.set(m.sessionId as string, (memberships.get(m.sessionId as string) ?? 0) + 1);
  expect([...memberships.keys()].sort(), `${context}: memberships`).toEqual([...state.sessions.keys()].sort());
  for (const [id, n] of memberships) expect(n, `${context}: memberships of ${id}`).toBe(1);
  for (const [batchId, members] of state.members) {
    const a = await send(get('/internal/batch', { batch_id: batchId }));
    expect(a.status, context).toBe(200);
    expect((a.json as { session_count: number }).session_count, `${context}: count of batch ${batchId}`).toBe(
      members.length,
    );
  }
}

beforeAll(async () => {
  proxy = await FaultProxy.start(inject('dynamoEndpoint'));
});
afterAll(async () => {
  const kinds = Object.entries(proxy.injected)
    .map(([k, n]) => `${k}:${n}`)
    .join(' ');
  console.log(
    `robustness (faults): ${proxy.totalInjected} faults injected (${kinds})\n  scenarios: ${Object.entries(scenarios)
      .map(([k, n]) => `${k}:${n}`)
      .join(' ')}`,
  );
  await proxy.close();
});

const count = (name: string) => (scenarios[name] = (scenarios[name] ?? 0) + 1);
const PUT_KINDS = FAILURE_KINDS.filter((k) => k !== 'transaction-throttled');

describe('push_events: a multi-item write cut in the middle', () => {
  it.each(PUT_KINDS)(
    '%s after 20 of 60 PutItems: 503, then the retry stores every event exactly once',
    async (kind) => {
      await fresh();
      expect((await send(post('/session', session('s')))).status).toBe(200);
      const body = { session_id: 's', events: events(60) };
      expect503(await faulty({ kind, operation: 'PutItem', after: 20 }, post('/session/events', body)), kind);
      const landed = await storedEvents('s');
      expect(landed.size, `${kind}: some events landed before the fault`).toBeGreaterThanOrEqual(20);
      expect(landed.size, `${kind}: the 503 answered a partial write`).toBeLessThan(60);

      const { answer: retry, seen: before } = await retried(post('/session/events', body), () => storedEvents('s'));
      expect(retry.status, retry.text).toBe(200);
      const res = retry.json as {
        accepted: number;
        duplicates: number;
        rejected: number;
        results: { event_id: string; status: string }[];
      };
      for (const r of res.results) expect(r.status, r.event_id).toBe(before.has(r.event_id) ? 'duplicate' : 'accepted');
      expect(res).toMatchObject({ accepted: 60 - before.size, duplicates: before.size, rejected: 0 });
      const after = await storedEvents('s');
      expect(after.size).toBe(60);
      for (const e of events(60))
        expect(after.get(e.event_id)).toEqual({ object_id: e.object_id, event_type: 'click', meta: e.meta });
      expect(((await send(get('/session', { session_id: 's' }))).json as { events_count: number }).events_count).toBe(
        60,
      );
      count('push-cut');
    },
  );

  it.each(PUT_KINDS)('%s twice (the SDK retries it away): 200, and every event is stored', async (kind) => {
    await fresh();
    expect((await send(post('/session', session('s')))).status).toBe(200);
    const body = { session_id: 's', events: events(40) };
    const a = await faulty({ kind, operation: 'PutItem', after: 10, times: 2 }, post('/session/events', body));
    expect(a.status, a.text).toBe(200);
    const res = a.json as { accepted: number; duplicates: number; rejected: number; results: { status: string }[] };
    // A write whose answer was lost is found on the SDK's retry carrying this request's write token:
    // stored once, and reported as accepted (this request stored it), not as a duplicate.
    expect(res).toMatchObject({ accepted: 40, duplicates: 0, rejected: 0 });
    expect(res.results.every((r) => r.status === 'accepted')).toBe(true);
    expect((await storedEvents('s')).size).toBe(40);
    count('push-transient');
  });
});

describe('with the functions’ own client (the SDK’s real backoff)', () => {
  it.each(['throttling'] as const)(
    '%s after 20 of 60 PutItems: 503, then the retry stores every event exactly once',
    async (kind) => {
      await fresh({ real: true });
      expect((await send(post('/session', session('s')))).status).toBe(200);
      const body = { session_id: 's', events: events(60) };
      expect503(await faulty({ kind, operation: 'PutItem', after: 20 }, post('/session/events', body)), kind);
      expect((await storedEvents('s')).size, `${kind}: the 503 answered a partial write`).toBeLessThan(60);
      // The first request spent most of this client's retry quota (32 writes throttled 3 times each),
      // so the retry may meet a 503 of its own; the client retries until it is answered.
      const { answer, seen: before } = await retried(post('/session/events', body), () => storedEvents('s'));
      expect(answer.status, answer.text).toBe(200);
      const res = answer.json as {
        accepted: number;
        duplicates: number;
        results: { event_id: string; status: string }[];
      };
      for (const r of res.results) expect(r.status, r.event_id).toBe(before.has(r.event_id) ? 'duplicate' : 'accepted');
      expect(res).toMatchObject({ accepted: 60 - before.size, duplicates: before.size });
      expect((await storedEvents('s')).size).toBe(60);
      count('push-cut-real-client');
    },
  );
});

describe('create_session: the session transaction', () => {
  it.each(FAILURE_KINDS)(
    '%s on every TransactWriteItems: 503, then the retry stores the session exactly once',
    async (kind) => {
      await fresh();
      expect((await send(post('/session', session('warm')))).status).toBe(200);
      expect503(await faulty({ kind, operation: 'TransactWriteItems' }, post('/session', session('c'))), kind);
      const retry = await send(post('/session', session('c')));
      expect(retry.status, retry.text).toBe(200);
      expect((retry.json as { session_id: string }).session_id).toBe('c');
      expect((await send(post('/session', session('c')))).json).toEqual({ session_id: 'c', created: false });
      await expectConsistent(['warm', 'c'], kind);
      count('create');
    },
  );

  it.each(['cut-after', 'timeout-after', 'cut-mid-response'] as const)(
    '%s once (the answer lost, the SDK retries): 200 created:true, stored once',
    async (kind) => {
      await fresh();
      expect((await send(post('/session', session('warm')))).status).toBe(200);
      const a = await faulty({ kind, operation: 'TransactWriteItems', times: 1 }, post('/session', session('lost')));
      // The SDK sends the retry with the same ClientRequestToken: DynamoDB answers it as the first call.
      expect(a.json, a.text).toEqual({ session_id: 'lost', created: true });
      expect((await send(post('/session', session('lost')))).json).toEqual({ session_id: 'lost', created: false });
      await expectConsistent(['warm', 'lost'], kind);
      count('create-lost-answer');
    },
  );

  it.each(['throttling', 'http-500', 'cut-after', 'timeout-after'] as const)(
    '%s on every call of a cold start (registry, shards, numbers): 503, then the retry creates it once',
    async (kind) => {
      await fresh();
      resetAllocation();
      expect503(await faulty({ kind, after: 0 }, post('/session', session('cold'))), kind);
      expect((await send(post('/session', session('cold')))).status).toBe(200);
      await expectConsistent(['cold'], kind);
      count('create-cold');
    },
  );

  it.each(['transaction-throttled', 'throttling', 'cut-after'] as const)(
    '%s on the first transaction of an empty table (bootstrap): 503, then the retry creates it once',
    async (kind) => {
      await fresh();
      resetAllocation();
      expect503(await faulty({ kind, operation: 'TransactWriteItems' }, post('/session', session('first'))), kind);
      expect((await send(post('/session', session('first')))).status).toBe(200);
      await expectConsistent(['first'], kind);
      count('create-bootstrap');
    },
  );
});

describe('mark_session_irrelevant', () => {
  it.each(['throttling', 'http-503', 'cut-before', 'cut-after', 'timeout-after'] as const)(
    '%s: 503, then the retry marks it',
    async (kind) => {
      await fresh();
      await send(post('/session', session('m')));
      expect503(
        await faulty({ kind, operation: 'UpdateItem' }, post('/session/irrelevant', { session_id: 'm' })),
        kind,
      );
      expect((await send(post('/session/irrelevant', { session_id: 'm' }))).json).toEqual({
        session_id: 'm',
        is_irrelevant: true,
      });
      expect((await queryRaw(table.endpoint, table.tableName, 'SESSION#m'))[0]!.isIrrelevant).toBe(true);
      count('mark');
    },
  );
});

describe('release_batch: a release stopped half-way', () => {
  async function releaseScenario(kind: FaultKind, rule: FaultRule) {
    await fresh();
    const ids = Array.from({ length: 12 }, (_, i) => `r-${i}`);
    for (const id of ids) expect((await send(post('/session', session(id)))).status).toBe(200);
    expect503(await faulty(rule, post('/internal/batch/release', { release_id: 'rel' })), kind);
    // A session created while the release is stuck lands in exactly one batch either way.
    expect((await send(post('/session', session('late')))).status).toBe(200);
    const retry = await send(post('/internal/batch/release', { release_id: 'rel' }));
    expect(retry.status, retry.text).toBe(200);
    const answer = retry.json as { batch_id: string; session_count: number };
    expect((await send(post('/internal/batch/release', { release_id: 'rel' }))).json).toEqual(answer);
    const late = (await send(get('/session', { session_id: 'late' }))).json as { batch_id: string };
    const expected = late.batch_id === answer.batch_id ? [...ids, 'late'] : ids;
    expect(answer.session_count).toBe(expected.length);
    const page = (await send(get('/internal/batch/sessions', { batch_id: answer.batch_id, limit: 1000 }))).json as {
      sessions: { session_id: string }[];
    };
    expect(page.sessions.map((s) => s.session_id).sort()).toEqual([...expected].sort());
    await expectConsistent([...ids, 'late'], kind);
    count('release');
  }

  it.each(['throttling', 'http-500', 'cut-before', 'cut-after', 'cut-mid-response', 'timeout-after'] as const)(
    '%s on the shard switches after 5 of them: 503, then the retry finishes the same release',
    (kind) => releaseScenario(kind, { kind, operation: 'UpdateItem', after: 5 }),
  );
  it.each(['transaction-throttled', 'throttling', 'cut-after', 'http-503'] as const)(
    '%s on the claim transaction',
    (kind) => releaseScenario(kind, { kind, operation: 'TransactWriteItems' }),
  );
  it.each(['transaction-throttled', 'cut-after', 'timeout-before'] as const)(
    '%s on the finalizing transaction',
    (kind) => releaseScenario(kind, { kind, operation: 'TransactWriteItems', after: 1 }),
  );
});

describe('races opened by a slow storage call', () => {
  it('a release_id sent twice at once gets one answer, even when one call reads the registry after the other finished', async () => {
    await fresh();
    for (const id of ['x1', 'x2', 'x3']) await send(post('/session', session(id)));
    // B reads the release record (none yet), then its registry read is held 1.5 s; meanwhile A
    // claims, switches and finalizes the same release. B's registry read then shows a clean, empty
    // collecting batch: B must see that its release_id was released, not answer 404.
    proxy.set({ kind: 'delay', operation: 'GetItem', bodyIncludes: '"BATCHES"', times: 1, delayMs: 1_500 });
    const b = send(post('/internal/batch/release', { release_id: 'same' }));
    await new Promise((r) => setTimeout(r, 200));
    const a = await send(post('/internal/batch/release', { release_id: 'same' }));
    const bAnswer = await b;
    proxy.heal();
    expect(a.status, a.text).toBe(200);
    expect(bAnswer.status, bAnswer.text).toBe(200);
    expect(bAnswer.json).toEqual(a.json);
    expect((a.json as { session_count: number }).session_count).toBe(3);
    count('race-release');
  });
});

describe('an invocation that runs out of time', () => {
  it('answers 503 with Retry-After when storage is slow but never times out a single call', async () => {
    await fresh();
    await send(post('/session', session('slow-all')));
    // Every call takes 400 ms (under the 4 s request timeout); the invocation has 0.6 s left (two calls in a row need 0.8 s).
    proxy.set({ kind: 'delay', delayMs: 400 });
    const a = await invoke(post('/session/events', { session_id: 'slow-all', events: events(3) }), undefined, 600);
    proxy.heal();
    expect503(a, 'out of time');
    await new Promise((r) => setTimeout(r, 1_500)); // writes still in flight land
    const retry = await send(post('/session/events', { session_id: 'slow-all', events: events(3) }));
    expect(retry.status).toBe(200);
    expect((await storedEvents('slow-all')).size).toBe(3);
    count('out-of-time');
  });
});

describe('reads', () => {
  it.each([
    'throttling',
    'provisioned-throughput',
    'http-500',
    'http-502-html',
    'cut-before',
    'cut-mid-response',
    'timeout-before',
  ] as const)('%s: get_session, get_batch and get_batch_sessions answer 503, then 200', async (kind) => {
    await fresh();
    for (const id of ['a', 'b']) await send(post('/session', session(id)));
    await send(post('/session/events', { session_id: 'a', events: events(5) }));
    const release = (await send(post('/internal/batch/release', { release_id: 'r' }))).json as { batch_id: string };
    const reads = [
      get('/session', { session_id: 'a' }),
      get('/internal/batch', { batch_id: release.batch_id }),
      get('/internal/batch'),
      get('/internal/batch/sessions', { batch_id: release.batch_id }),
    ];
    for (const r of reads) {
      expect503(await faulty({ kind }, r), `${kind} ${r.path}`);
      expect((await send(r)).status, r.path).toBe(200);
    }
    count('reads');
  });
});

describe('through the local server, with the functions’ own client (4 attempts, 4 s timeout)', () => {
  it('answers 503 with Retry-After within API Gateway’s 29 s when DynamoDB never answers', async () => {
    await fresh({ real: true });
    await send(post('/session', session('slow')));
    const server = await startLocalServer();
    try {
      proxy.set({ kind: 'timeout-before', operation: 'UpdateItem' });
      const started = Date.now();
      const a = await viaHttp(server.url, post('/session/irrelevant', { session_id: 'slow' }));
      const took = Date.now() - started;
      proxy.heal();
      expect503(a, 'production timeout');
      expect(took).toBeLessThan(29_000);
      console.log(`production client: 503 after ${took} ms of DynamoDB not answering`);
      expect((await viaHttp(server.url, post('/session/irrelevant', { session_id: 'slow' }))).status).toBe(200);
      count('production-timeout');
    } finally {
      proxy.heal();
      await server.close();
    }
  }, 60_000);
});
