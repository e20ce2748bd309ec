/**
 * Property-based tests of the client routes (create_session, get_session, push_events,
 * mark_session_irrelevant) and of unknown routes: hostile bodies and query strings through the real
 * handlers (most cases) and through the local HTTP server (a tenth). Every answer is a non-5xx JSON
 * answer with the contract's error body; a refused request writes no record (checked on the wire
 * and, for the HTTP share, by scanning the table); what was accepted is in the table exactly, stored
 * and returned verbatim (`__proto__` keys included), as the audit at the end checks.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_PATH, fullPath, routes } from '../../lib/routes.js';
import { adversarialBodies } from './support/adversarial.js';
import {
  anyString,
  idEdge,
  metaObject,
  Pool,
  postCase,
  queryCase,
  rawParams,
  timestampValue,
} from './support/generators.js';
import { FaultProxy } from './support/fault-proxy.js';
import { Harness, HTTP_RUNS, RUNS, SEED, summary, TEST_TIMEOUT_MS } from './support/harness.js';
import { get, post, type Answer, type RawRequest } from './support/invoke.js';
import { checkAnswer, expectNoPollution, expectNoRecordWritten, Ledger, prototypeSnapshot } from './support/model.js';

let h: Harness;
const ledger = new Ledger();
const sessions = new Pool();
const eventIds = new Pool(['e1', 'e2', 'e3', 'e4', 'e5', 'e6', '__proto__', 'constructor']);
const objectIds = new Pool(['o1', 'o2', 'o3', 'toString']);
const createReplays = new Pool();
const pushReplays = new Pool();
const cursors = new Pool(['!!', '', 'W10', 'bnVsbA', 'WzEsMl0', 'WyJhIiwiYiJd', 'e30']);
let proto: string[];
const pushStatuses: Record<string, number> = {};

const freshId = fc.uuid().map((u) => `s-${u}`);
// Edge ids are rare inside otherwise valid bodies (one bad id refuses the whole request); the
// mutations put them, and values of every other type, into every field.
const sessionId = fc.oneof(
  { weight: 6, arbitrary: sessions.arb() },
  { weight: 4, arbitrary: freshId },
  { weight: 1, arbitrary: idEdge },
);
const objectId = fc.oneof({ weight: 20, arbitrary: objectIds.arb() }, { weight: 1, arbitrary: idEdge });

const searchResult = fc.record(
  {
    object_id: objectId,
    rank: fc.option(fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))),
    meta: fc.option(metaObject),
  },
  { requiredKeys: ['object_id'] },
);

const createBody: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        session_id: sessionId,
        search_query: fc.oneof(anyString(60), metaObject),
        search_results: fc.array(searchResult, { maxLength: 5 }),
        search_meta: fc.option(metaObject),
        payload_filter: fc.option(metaObject),
        sort_by: fc.option(
          fc.record(
            {
              field: fc.oneof(fc.constantFrom('price', 'rank'), anyString(20)),
              order: fc.constantFrom('asc', 'desc'),
              force_not_payload: fc.option(fc.boolean()),
            },
            { requiredKeys: ['field'] },
          ),
        ),
        user_id: fc.option(fc.oneof(fc.constantFrom('u1', 'u2'), idEdge)),
        created_at: timestampValue,
        unknown_field: fc.jsonValue({ maxDepth: 2 }),
      },
      { requiredKeys: ['session_id', 'search_query', 'search_results'] },
    ),
  },
  { weight: 1, arbitrary: createReplays.arb().map((t) => (t === 'empty-pool' ? {} : JSON.parse(t))) },
);

const eventBody = fc.record(
  {
    event_id: fc.oneof(
      { weight: 12, arbitrary: eventIds.arb() },
      { weight: 8, arbitrary: fc.uuid() },
      { weight: 1, arbitrary: idEdge },
    ),
    object_id: objectId,
    event_type: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('click', 'view', 'add_to_cart') },
      { weight: 1, arbitrary: anyString(20) },
    ),
    created_at: timestampValue,
    meta: fc.option(metaObject),
  },
  { requiredKeys: ['event_id', 'object_id'] },
);

const pushBody: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      session_id: fc.oneof(
        { weight: 6, arbitrary: sessions.arb() },
        { weight: 1, arbitrary: freshId },
        { weight: 1, arbitrary: idEdge },
      ),
      events: fc.array(eventBody, { minLength: 1, maxLength: 8 }),
    }),
  },
  { weight: 1, arbitrary: pushReplays.arb().map((t) => (t === 'empty-pool' ? {} : JSON.parse(t))) },
);

const markBody = fc.record({
  session_id: fc.oneof(
    { weight: 4, arbitrary: sessions.arb() },
    { weight: 1, arbitrary: freshId },
    { weight: 1, arbitrary: idEdge },
  ),
});

const runs = (http: boolean) => ({
  numRuns: http ? HTTP_RUNS : RUNS,
  ...(SEED !== undefined ? { seed: SEED } : {}),
  endOnFailure: true,
});

beforeAll(async () => {
  h = await Harness.start();
  proto = prototypeSnapshot();
  // A few sessions with events, so that most generated ids hit something.
  for (let i = 0; i < 6; i++) {
    const body = {
      session_id: `seed-${i}`,
      search_query: { q: `query ${i}`, __proto__: null },
      search_results: [{ object_id: 'o1', rank: 1 }],
    };
    const text = JSON.stringify(body).replace('"__proto__":null', '"__proto__":{"polluted":"yes"}');
    const { answer } = await h.send('seed', post('/session', text));
    ledger.onCreate(JSON.parse(text), answer, 'seed');
    sessions.add(body.session_id);
    const push = {
      session_id: body.session_id,
      events: [
        { event_id: 'e1', object_id: 'o1' },
        { event_id: 'e2', object_id: 'o2', meta: { constructor: { prototype: { polluted: 1 } } } },
      ],
    };
    ledger.onPush(push, (await h.send('seed', post('/session/events', push))).answer, 'seed');
  }
  h.counts.delete('seed');
});

afterAll(async () => {
  const audited = ledger.audit(await h.state(), 'final audit');
  expectNoPollution(proto, 'after all cases');
  const results = Object.entries(pushStatuses)
    .map(([k, n]) => `${k}:${n}`)
    .join(' ');
  console.log(
    `robustness (client routes): ${RUNS} handler + ${HTTP_RUNS} HTTP cases per route\n${summary(h.counts)}\n  push_events results: ${results}\n  audit: ${audited.sessions} sessions, ${audited.events} events in the table, exactly as accepted`,
  );
  await h.close();
});

/** create_session's oracle: the ledger's, and the pools grow with what was accepted. */
const onCreateCase = (text: string) => (body: any, a: Answer, ctx: string) => {
  ledger.onCreate(body, a, ctx);
  if (a.status === 200) {
    sessions.add(body.session_id);
    createReplays.add(text);
  }
};

describe.each([false, true])('client routes (http=%s)', (http) => {
  it(
    'create_session',
    async () => {
      await fc.assert(
        fc.asyncProperty(postCase(createBody), async (c) =>
          h.postOne('create_session', '/session', c, http, onCreateCase(c.body.toString('utf8'))),
        ),
        runs(http),
      );
      expectNoPollution(proto, 'create_session');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'push_events',
    async () => {
      await fc.assert(
        fc.asyncProperty(postCase(pushBody), async (c) =>
          h.postOne('push_events', '/session/events', c, http, (body, a, ctx) => {
            ledger.onPush(body, a, ctx);
            if (a.status === 200) {
              pushReplays.add(c.body.toString('utf8'));
              for (const r of (a.json as { results: { status: string }[] }).results)
                pushStatuses[r.status] = (pushStatuses[r.status] ?? 0) + 1;
            }
          }),
        ),
        runs(http),
      );
      expectNoPollution(proto, 'push_events');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'mark_session_irrelevant',
    async () => {
      await fc.assert(
        fc.asyncProperty(postCase(markBody), async (c) =>
          h.postOne('mark_session_irrelevant', '/session/irrelevant', c, http, (body, a, ctx) =>
            ledger.onMark(body, a, ctx),
          ),
        ),
        runs(http),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'get_session',
    async () => {
      const query = queryCase(['session_id'], ['events_limit', 'events_after'], {
        session_id: fc.oneof({ weight: 5, arbitrary: sessions.arb() }, { weight: 1, arbitrary: freshId }),
        events_limit: fc.integer({ min: 0, max: 10_001 }).map(String),
        events_after: fc.oneof(
          {
            weight: 3,
            arbitrary: fc
              .tuple(fc.integer({ min: 0, max: 2 * Date.now() }), eventIds.arb())
              .map((p) => Buffer.from(JSON.stringify(p)).toString('base64url')),
          },
          { weight: 1, arbitrary: cursors.arb() },
        ),
      });
      await fc.assert(
        fc.asyncProperty(query, async (q) =>
          h.getOne('get_session', '/session', q, http, (params, a, ctx) => {
            ledger.onGetSession(params.session_id, a, ctx, false);
            if (a.status === 200) {
              const got = a.json as {
                events_truncated: boolean;
                events: unknown[];
                events_count: number;
                events_next_cursor?: string;
              };
              if (got.events_next_cursor) cursors.add(got.events_next_cursor);
              if (params.events_after === undefined && !got.events_truncated)
                expect(got.events.length, ctx).toBe(got.events_count);
            }
          }),
        ),
        runs(http),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'unknown routes',
    async () => {
      const methods = http
        ? ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']
        : ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'FOO'];
      const known = routes.map((r) => r.path);
      const path = fc.oneof(
        fc
          .tuple(
            fc.constantFrom(...known, '', '/internal', '/internal/batch/'),
            fc.constantFrom('', '/', '//', '/x', '/..', '/%2e%2e', '/../session', '%00', '/SESSION', '.json', '?'),
          )
          .map(([p, s]) => `${BASE_PATH}${p}${s}`),
        fc.constantFrom(
          '/',
          '/api',
          '/api/v1',
          '/api/v2/clickstream/session',
          '/api/v1/clickstream',
          '//api/v1/clickstream/session',
          '/API/V1/CLICKSTREAM/SESSION',
        ),
        fc
          .array(
            fc.oneof(
              fc.constantFrom('session', 'internal', 'batch', '..', '.', '__proto__', 'constructor'),
              fc.string({ unit: 'grapheme-ascii', maxLength: 8 }),
            ),
            { maxLength: 6 },
          )
          .map((segs) => `${BASE_PATH}/${segs.map(encodeURIComponent).join('/')}`),
      );
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...methods), path, fc.option(anyString(50)), async (method, p, body) => {
          const url = new URL(p, 'http://localhost');
          const route = routes.find((r) => fullPath(r) === url.pathname && r.method === method);
          if (route) return; // a real route after URL normalization: covered by the route's own property
          const req: RawRequest = {
            method,
            path: p,
            absolute: true,
            headers: { 'content-type': 'application/json' },
            ...(body !== null && method !== 'GET' && method !== 'HEAD' ? { body } : {}),
          };
          const ctx = `unknown ${method} ${p}`;
          const { answer, writes } = await h.send('unknown routes', req, http);
          expectNoRecordWritten(writes, ctx);
          const allowed = routes.filter((r) => fullPath(r) === url.pathname).map((r) => r.method);
          expect(answer.status, ctx).toBe(allowed.length > 0 ? 405 : 404);
          if (http && method === 'HEAD') return;
          checkAnswer(answer, ctx);
          if (allowed.length > 0) expect(answer.headers.allow, ctx).toBe(allowed.join(', '));
          else expect(answer.json, ctx).toEqual({ detail: 'Not Found' });
        }),
        runs(http),
      );
    },
    TEST_TIMEOUT_MS,
  );
});

describe('query parameters as API Gateway decodes them (lone surrogates, any code units)', () => {
  it(
    'get_session',
    async () => {
      const params = rawParams(['session_id', 'events_limit', 'events_after'], {
        session_id: sessions.arb(),
        events_limit: fc.integer({ min: 0, max: 10_001 }).map(String),
      });
      await fc.assert(
        fc.asyncProperty(params, async (p) =>
          h.getRawParams('get_session', '/session', p, (q, a, ctx) => ledger.onGetSession(q.session_id, a, ctx, false)),
        ),
        { ...runs(false), numRuns: Math.ceil(RUNS / 4) },
      );
    },
    TEST_TIMEOUT_MS,
  );
});

describe('adversarial bodies of about 1 MiB (issue 15): each gets its answer, nothing refused is stored', () => {
  // Shapes aimed at every part of the request checks; their time is the bench's (guard_worst_ratio).
  it.each([false, true])(
    'push_events (http=%s)',
    async (http) => {
      const sessionId = `adversarial-${http}`;
      const create = { session_id: sessionId, search_query: 'q', search_results: [] };
      ledger.onCreate(create, (await h.send('seed', post('/session', create))).answer, 'adversarial seed');
      h.counts.delete('seed');
      sessions.add(sessionId);
      for (const b of adversarialBodies(sessionId, `adv-${http}`, Math.floor(Date.now() / 1000))) {
        const ctx = `adversarial ${b.name} (http=${http})`;
        const { answer, writes } = await h.send('push_events (adversarial)', post('/session/events', b.text), http);
        checkAnswer(answer, ctx);
        expect(answer.status, `${ctx} -> ${answer.text.slice(0, 300)}`).toBe(b.status);
        if (b.status === 200) {
          ledger.onPush(JSON.parse(b.text), answer, ctx);
          h.forgetRecordCount();
        } else {
          expectNoRecordWritten(writes, ctx);
          const issue = (answer.json as { detail: { type: string; loc: unknown[] }[] }).detail[0]!;
          expect(issue.type, ctx).toBe(b.type);
          expect(issue.loc, ctx).toEqual(b.loc ?? ['body']);
        }
      }
      expectNoPollution(proto, 'adversarial bodies');
    },
    TEST_TIMEOUT_MS,
  );
});

describe('create_session under the transaction conflict simulation (issue 11)', () => {
  // The functions' client goes through the fault proxy, whose transactions hold their items 20 ms as
  // in AWS (DynamoDB Local serializes them). Each case runs alongside a create of another session so
  // that transactions overlap; the companion must be created (no 503), the case gets its usual checks.
  let proxy: FaultProxy;
  let companions = 0;
  beforeAll(async () => {
    proxy = await FaultProxy.start(h.table.endpoint);
    proxy.simulateConflicts({ holdMs: 20 });
    h.useEndpoint(proxy.url);
    h.ignoreWrites = (w) => w.keys.some((k) => k.pk.startsWith('SESSION#companion-'));
  });
  afterAll(async () => {
    h.ignoreWrites = () => false;
    h.useEndpoint(h.table.endpoint);
    console.log(
      `robustness (client routes, conflict simulation): ${companions} cases with a concurrent create; ${proxy.conflicts.transactions} transactions and ${proxy.conflicts.singleWrites} single writes refused for conflicts, ${proxy.conflicts.held} transactions held`,
    );
    await proxy.close();
  });

  it(
    'create_session',
    async () => {
      await fc.assert(
        fc.asyncProperty(postCase(createBody), async (c) => {
          const companion = {
            session_id: `companion-${companions++}`,
            search_query: 'q',
            search_results: [{ object_id: 'o1' }],
          };
          const [, { answer }] = await Promise.all([
            h.postOne('create_session (conflicts)', '/session', c, false, onCreateCase(c.body.toString('utf8'))),
            h.send('companion create (conflicts)', post('/session', companion)),
          ]);
          expect(answer.status, `companion ${companion.session_id}: ${answer.text}`).toBe(200);
          ledger.onCreate(companion, answer, `companion ${companion.session_id}`);
        }),
        { ...runs(false), numRuns: Math.max(50, Math.ceil(RUNS / 10)) },
      );
    },
    TEST_TIMEOUT_MS,
  );
});
