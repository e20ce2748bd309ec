/**
 * Property-based tests of the internal routes (release_batch, get_batch, get_batch_sessions):
 * hostile bodies and query strings through the real handlers and the local HTTP server, with sessions
 * created between cases so that releases have something to release. The ledger knows which sessions
 * each batch must hold, so every page is checked session for session; the audit at the end compares
 * the table with the ledger.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from './support/fault-proxy.js';
import { idEdge, Pool, postCase, queryCase, rawParams } from './support/generators.js';
import { Harness, HTTP_RUNS, RUNS, SEED, summary, TEST_TIMEOUT_MS } from './support/harness.js';
import { get, post, type Answer } from './support/invoke.js';
import { expectNoPollution, Ledger, prototypeSnapshot } from './support/model.js';

let h: Harness;
const ledger = new Ledger();
const releaseIds = new Pool(['r-0']);
const batchIds = new Pool();
const numbers = new Pool(['0']);
/** The collecting batch and the sessions it holds (no concurrency here: creates land in it). */
let collecting: { batchId: string | undefined; sessions: Set<string> } = { batchId: undefined, sessions: new Set() };
const sessionNumbers = new Map<string, number>();
let proto: string[];
let created = 0;

async function createSessions(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const id = `s-${created++}`;
    const body = { session_id: id, search_query: { q: id, __proto__: 1 }, search_results: [{ object_id: 'o1' }] };
    const { answer } = await h.send('setup', post('/session', body));
    expect(answer.status).toBe(200);
    ledger.onCreate(body, answer, 'setup');
    const events = Array.from({ length: created % 4 }, (_, k) => ({ event_id: `e${k}`, object_id: 'o1', meta: { k } }));
    if (events.length > 0)
      ledger.onPush(
        { session_id: id, events },
        (await h.send('setup', post('/session/events', { session_id: id, events }))).answer,
        'setup',
      );
    if (created % 5 === 0)
      ledger.onMark(
        { session_id: id },
        (await h.send('setup', post('/session/irrelevant', { session_id: id }))).answer,
        'setup',
      );
    const got = (await h.send('setup', get('/session', { session_id: id }))).answer.json as {
      batch_id: string;
      session_number: number;
    };
    collecting.batchId ??= got.batch_id;
    expect(got.batch_id).toBe(collecting.batchId);
    collecting.sessions.add(id);
    sessionNumbers.set(id, got.session_number);
    numbers.add(String(got.session_number));
    batchIds.add(got.batch_id);
  }
}

function onRelease(body: any, a: Answer, ctx: string): void {
  const id = typeof body?.release_id === 'string' ? body.release_id : undefined;
  if (a.status === 404)
    expect(collecting.sessions.size, `${ctx}: 404 although the collecting batch has sessions`).toBe(0);
  if (a.status !== 200 && a.status !== 404) return;
  // The ledger's checks: a repeated release_id gets the identical answer, a 404 only for a new one.
  const res = ledger.onRelease(id!, [a], ctx);
  if (!res) return;
  expect(res.batch_id, ctx).toBe(collecting.batchId);
  expect(res.session_count, ctx).toBe(collecting.sessions.size);
  expect(Number.isSafeInteger(res.released_at), ctx).toBe(true);
  ledger.released.set(res.batch_id, collecting.sessions);
  collecting = { batchId: undefined, sessions: new Set() };
  releaseIds.add(id!);
}

function onGetBatch(params: Record<string, string>, a: Answer, ctx: string): void {
  const id = params.batch_id;
  if (a.status === 422) return;
  const released = id !== undefined ? ledger.released.get(id) : undefined;
  const isCollecting = id === undefined || (id === collecting.batchId && collecting.batchId !== undefined);
  if (a.status === 404) {
    expect(released, ctx).toBeUndefined();
    if (id !== undefined) expect(a.json, ctx).toEqual({ detail: `Batch with id=${id} not found` });
    return;
  }
  expect(a.status, ctx).toBe(200);
  const got = a.json as Record<string, unknown>;
  if (released) {
    const release = [...ledger.releases.values()].find((r) => r.batch_id === id)!;
    expect(got, ctx).toEqual({
      batch_id: id,
      status: 'released',
      created_at: got.created_at,
      released_at: release.released_at,
      release_id: release.release_id,
      session_count: released.size,
      ranges: got.ranges,
    });
    // The ranges of parallel readers (issue 9): one per shard, their counts adding up to the batch's.
    const ranges = got.ranges as { session_count: number }[];
    expect(
      ranges.reduce((sum, r) => sum + r.session_count, 0),
      ctx,
    ).toBe(released.size);
  } else {
    expect(isCollecting || id !== undefined, ctx).toBe(true);
    expect(got.status, ctx).toBe('collecting');
    if (collecting.batchId !== undefined) {
      expect(got.batch_id, ctx).toBe(collecting.batchId);
      expect(got.session_count, ctx).toBe(collecting.sessions.size);
    }
  }
}

const truthy = (v: string | undefined) =>
  v !== undefined && ['true', '1', 'yes', 'on', 't', 'y'].includes(v.toLowerCase());

/** list_batches: 422 only for a bad cursor or limit; otherwise newest first, released ones exactly as answered. */
function onListBatches(params: Record<string, string>, a: Answer, ctx: string): void {
  if (a.status === 422) return;
  expect(a.status, ctx).toBe(200);
  const got = a.json as { batches: Record<string, unknown>[]; next_cursor: string | null };
  const limit = params.limit === undefined ? 20 : Number(params.limit);
  expect(got.batches.length, ctx).toBeLessThanOrEqual(limit);
  if (got.next_cursor !== null) expect(got.batches.length, ctx).toBe(limit);
  const times = got.batches.map((b) => b.created_at as number);
  expect(times, ctx).toEqual([...times].sort((x, y) => y - x));
  for (const b of got.batches) {
    const released = ledger.released.get(b.batch_id as string);
    if (released) expect(b.session_count, ctx).toBe(released.size);
    else if (b.status === 'released')
      expect.fail(`${ctx}: batch ${String(b.batch_id)} released, but no release answered it`);
  }
}

function onGetBatchSessions(params: Record<string, string>, a: Answer, ctx: string): void {
  if (a.status === 422) return;
  const id = params.batch_id!;
  const released = ledger.released.get(id);
  if (a.status === 404) {
    expect(released, ctx).toBeUndefined();
    expect(id === collecting.batchId, ctx).toBe(false);
    expect(a.json, ctx).toEqual({ detail: `Batch with id=${id} not found` });
    return;
  }
  if (a.status === 409) {
    expect(id, ctx).toBe(collecting.batchId);
    expect(a.json, ctx).toEqual({ detail: `Batch with id=${id} is still collecting` });
    return;
  }
  expect(a.status, ctx).toBe(200);
  expect(released, `${ctx}: 200 for a batch that is not released`).toBeDefined();
  const after = params.after_number === undefined ? 0 : Number(params.after_number);
  const limit = params.limit === undefined ? 10 : Number(params.limit);
  const eventsLimit = params.events_limit === undefined ? 1000 : Number(params.events_limit);
  const include = truthy(params.include_irrelevant);
  const expected = [...released!]
    .filter((s) => sessionNumbers.get(s)! > after && (include || !ledger.sessions.get(s)!.irrelevant))
    .sort((x, y) => sessionNumbers.get(x)! - sessionNumbers.get(y)!)
    .slice(0, limit);
  const got = a.json as { batch_id: string; last_number: number | null; sessions: Record<string, any>[] };
  expect(got.batch_id, ctx).toBe(id);
  expect(
    got.sessions.map((s) => s.session_id),
    ctx,
  ).toEqual(expected);
  expect(got.last_number, ctx).toBe(expected.length > 0 ? sessionNumbers.get(expected.at(-1)!) : null);
  for (const s of got.sessions) {
    ledger.expectSession(s.session_id, s, ctx, false);
    const count = ledger.sessions.get(s.session_id)!.events.size;
    expect(s.session_number, ctx).toBe(sessionNumbers.get(s.session_id));
    expect(s.batch_id, ctx).toBe(id);
    expect(s.events.length, ctx).toBe(Math.min(count, eventsLimit));
    expect(s.events_truncated, ctx).toBe(count > eventsLimit);
  }
}

const runs = (http: boolean) => ({
  numRuns: http ? HTTP_RUNS : RUNS,
  ...(SEED !== undefined ? { seed: SEED } : {}),
  endOnFailure: true,
});

beforeAll(async () => {
  // 8 shards rather than the default 64: every release switches every shard and every page may walk
  // them all; hostile input does not care how many there are, and thousands of cases run 5x faster.
  h = await Harness.start({ CLICKSTREAM_BATCH_SHARDS: '8' });
  proto = prototypeSnapshot();
  await createSessions(12);
  const { answer } = await h.send('setup', post('/internal/batch/release', { release_id: 'r-0' }));
  onRelease({ release_id: 'r-0' }, answer, 'setup');
  await createSessions(5);
});

afterAll(async () => {
  const audited = ledger.audit(await h.state(), 'final audit');
  const state = await h.state();
  for (const [batchId, members] of ledger.released) {
    const stored = (state.members.get(batchId) ?? []).map((m) => m.sessionId as string).sort();
    expect(stored, `members of released batch ${batchId}`).toEqual([...members].sort());
    expect(state.batches.get(batchId)?.status).toBe('released');
  }
  expectNoPollution(proto, 'after all cases');
  h.counts.delete('setup');
  console.log(
    `robustness (internal routes): ${RUNS} handler + ${HTTP_RUNS} HTTP cases per route\n${summary(h.counts)}\n  audit: ${audited.sessions} sessions, ${audited.events} events, ${ledger.released.size} released batches in the table, exactly as answered`,
  );
  await h.close();
});

describe.each([false, true])('internal routes (http=%s)', (http) => {
  it(
    'release_batch',
    async () => {
      const releaseBody = fc.record({
        release_id: fc.oneof(
          { weight: 3, arbitrary: fc.uuid() },
          { weight: 3, arbitrary: releaseIds.arb() },
          { weight: 1, arbitrary: idEdge },
        ),
      });
      await fc.assert(
        fc.asyncProperty(postCase(releaseBody), fc.nat(19), async (c, dice) => {
          if (dice >= 18) {
            await createSessions(dice - 17);
            h.forgetRecordCount();
          }
          await h.postOne('release_batch', '/internal/batch/release', c, http, onRelease);
        }),
        runs(http),
      );
      expectNoPollution(proto, 'release_batch');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'get_batch',
    async () => {
      const query = queryCase([], ['batch_id'], {
        batch_id: fc.oneof({ weight: 4, arbitrary: batchIds.arb() }, { weight: 1, arbitrary: fc.uuid() }),
      });
      await fc.assert(
        fc.asyncProperty(query, async (q) => h.getOne('get_batch', '/internal/batch', q, http, onGetBatch)),
        runs(http),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'get_batch_sessions',
    async () => {
      const query = queryCase(['batch_id'], ['after_number', 'limit', 'events_limit', 'include_irrelevant'], {
        batch_id: fc.oneof({ weight: 6, arbitrary: batchIds.arb() }, { weight: 1, arbitrary: fc.uuid() }),
        after_number: fc.oneof(numbers.arb(), fc.constantFrom('0', '1', '1099511627776', '9007199254740991')),
        limit: fc.oneof(
          { weight: 6, arbitrary: fc.integer({ min: 1, max: 20 }).map(String) },
          { weight: 1, arbitrary: fc.constantFrom('0', '1000', '1001') },
        ),
        events_limit: fc.oneof(
          { weight: 6, arbitrary: fc.integer({ min: 1, max: 4 }).map(String) },
          { weight: 1, arbitrary: fc.constantFrom('0', '10000', '10001') },
        ),
        include_irrelevant: fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom('true', 'false', '1', '0', 'yes', 'no', 'on', 'off', 'TRUE', 'F') },
          { weight: 1, arbitrary: fc.constantFrom('maybe', '', 'truee') },
        ),
      });
      await fc.assert(
        fc.asyncProperty(query, async (q) =>
          h.getOne('get_batch_sessions', '/internal/batch/sessions', q, http, onGetBatchSessions),
        ),
        runs(http),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'list_batches',
    async () => {
      const cursorOf = (createdAt: unknown, batchId: unknown) =>
        Buffer.from(JSON.stringify([createdAt, batchId])).toString('base64url');
      const query = queryCase([], ['cursor', 'limit'], {
        cursor: fc.oneof(
          {
            weight: 3,
            arbitrary: fc
              .tuple(fc.nat({ max: 2 ** 42 }), fc.oneof(batchIds.arb(), fc.uuid()))
              .map(([t, id]) => cursorOf(t, id)),
          },
          {
            weight: 1,
            arbitrary: fc
              .tuple(fc.oneof(fc.double(), fc.string(), fc.constant(-1)), fc.oneof(fc.string(), fc.nat()))
              .map(([t, id]) => cursorOf(t, id)),
          },
          { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
        ),
        limit: fc.oneof(
          { weight: 6, arbitrary: fc.integer({ min: 1, max: 20 }).map(String) },
          { weight: 1, arbitrary: fc.constantFrom('0', '100', '101', '-1', 'x') },
        ),
      });
      await fc.assert(
        fc.asyncProperty(query, async (q) => h.getOne('list_batches', '/internal/batches', q, http, onListBatches)),
        runs(http),
      );
    },
    TEST_TIMEOUT_MS,
  );
});

describe('query parameters as API Gateway decodes them (lone surrogates, any code units)', () => {
  it(
    'get_batch and get_batch_sessions',
    async () => {
      const batch = rawParams(['batch_id'], { batch_id: batchIds.arb() });
      const page = rawParams(['batch_id', 'after_number', 'limit', 'events_limit', 'include_irrelevant'], {
        batch_id: batchIds.arb(),
        limit: fc.integer({ min: 1, max: 20 }).map(String),
      });
      await fc.assert(
        fc.asyncProperty(batch, page, async (b, p) => {
          await h.getRawParams('get_batch', '/internal/batch', b, onGetBatch);
          await h.getRawParams('get_batch_sessions', '/internal/batch/sessions', p, onGetBatchSessions);
        }),
        { ...runs(false), numRuns: Math.ceil(RUNS / 4) },
      );
    },
    TEST_TIMEOUT_MS,
  );
});

describe('release_batch between concurrent creates, under the transaction conflict simulation (issue 11)', () => {
  // The functions' client goes through the fault proxy, whose transactions hold their items 20 ms as
  // in AWS (DynamoDB Local serializes them). Sessions are created 1 to 4 at once between releases:
  // every create must answer 200 (no 503), every release the batch the ledger expects.
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await FaultProxy.start(h.table.endpoint);
    proxy.simulateConflicts({ holdMs: 20 });
    h.useEndpoint(proxy.url);
  });
  afterAll(async () => {
    h.useEndpoint(h.table.endpoint);
    console.log(
      `robustness (internal routes, conflict simulation): ${proxy.conflicts.transactions} transactions and ${proxy.conflicts.singleWrites} single writes refused for conflicts, ${proxy.conflicts.held} transactions held`,
    );
    await proxy.close();
  });

  it(
    'release_batch',
    async () => {
      const releaseBody = fc.record({
        release_id: fc.oneof({ weight: 3, arbitrary: fc.uuid() }, { weight: 1, arbitrary: releaseIds.arb() }),
      });
      await fc.assert(
        fc.asyncProperty(postCase(releaseBody), fc.integer({ min: 1, max: 4 }), async (c, n) => {
          await Promise.all(Array.from({ length: n }, () => createSessions(1)));
          h.forgetRecordCount();
          await h.postOne('release_batch (conflicts)', '/internal/batch/release', c, false, onRelease);
        }),
        { ...runs(false), numRuns: Math.max(30, Math.ceil(RUNS / 20)) },
      );
    },
    TEST_TIMEOUT_MS,
  );
});
