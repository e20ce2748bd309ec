/**
 * What the functions write to CloudWatch, captured from the real handlers (local server, DynamoDB
 * Local) with Powertools switched on: one JSON log line per request with the API request id as
 * correlation id and no bodies, queries or ids in any line; EMF metrics in namespace Clickstream
 * with exactly the dimension set the stack's dashboard graphs, covering every metric it graphs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CUSTOM_METRICS, METRICS_DIMENSIONS, METRICS_NAMESPACE } from '../../lib/clickstream-stack.js';
import type { Api } from '../support/http.js';
import { useFreshTable } from '../support/table.js';

const SECRET = 'SECRET-7f3a';
const lines: string[] = [];
let api: Api;
const originals = { out: process.stdout.write, err: process.stderr.write };

/** Every JSON line written to stdout/stderr while the scenario ran. */
const records = () =>
  lines
    .flatMap((chunk) => chunk.split('\n'))
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);

const requests: { status: number; operation: string }[] = [];

beforeAll(async () => {
  // test/support/env.ts silences Powertools for the other suites; this one needs its output.
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  delete process.env.POWERTOOLS_DEV;
  await useFreshTable();
  const { Api: ApiClass, nowSeconds } = await import('../support/http.js');
  const { setDocumentClient } = await import('../../functions/storage/client.js');
  api = await ApiClass.start();

  const capture = (stream: NodeJS.WriteStream) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof stream.write;
  process.stdout.write = capture(process.stdout);
  process.stderr.write = capture(process.stderr);
  const call = async <R extends { status: number }>(operation: string, p: Promise<R>): Promise<R> => {
    const res = await p;
    requests.push({ operation, status: res.status });
    return res;
  };
  try {
    const sid = `sess-${SECRET}`;
    const session = {
      session_id: sid,
      search_query: `query-${SECRET}`,
      search_results: [{ object_id: `obj-${SECRET}`, rank: 1 }],
      user_id: `user-${SECRET}`,
    };
    const event = (id: string, extra: Record<string, unknown> = {}) => ({
      event_id: `${id}-${SECRET}`,
      object_id: `obj-${SECRET}`,
      ...extra,
    });
    expect((await call('create_session', api.post('/session', session))).status).toBe(200);
    expect((await call('create_session', api.post('/session', session))).status).toBe(200); // retry: not created
    expect(
      (await call('push_events', api.post('/session/events', { session_id: sid, events: [event('e1')] }))).status,
    ).toBe(200);
    expect(
      (await call('push_events', api.post('/session/events', { session_id: sid, events: [event('e1'), event('e2')] })))
        .status,
    ).toBe(200);
    const old = nowSeconds() - 2 * 86_400;
    const mixed = [event('e1', { object_id: `other-${SECRET}` }), event('e3', { created_at: old })];
    expect((await call('push_events', api.post('/session/events', { session_id: sid, events: mixed }))).status).toBe(
      200,
    );
    expect((await call('get_session', api.get('/session', { session_id: `unknown-${SECRET}` }))).status).toBe(404);
    expect(
      (await call('create_session', api.post('/session', 'not json', { 'content-type': 'text/plain' }))).status,
    ).toBe(415);
    expect(
      (await call('release_batch', api.post('/internal/batch/release', { release_id: `rel-${SECRET}` }))).status,
    ).toBe(200);
    expect((await call('not_found', api.get('/no-such-route'))).status).toBe(404);
    // DynamoDB throttling that outlasted the SDK's retries: 503 with Retry-After.
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    setDocumentClient({ send: async () => Promise.reject(throttled) } as never);
    const unavailable = await call('get_session', api.get('/session', { session_id: sid }));
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get('retry-after')).toMatch(/^\d+$/);
    setDocumentClient(undefined);
  } finally {
    process.stdout.write = originals.out;
    process.stderr.write = originals.err;
  }
});

afterAll(async () => {
  process.stdout.write = originals.out;
  process.stderr.write = originals.err;
  await api?.close();
});

describe('logs', () => {
  it('one structured line per request: operation, method, status, duration, correlation id', () => {
    const perRequest = records().filter((r) => r.message === 'request');
    expect(perRequest.map((r) => [r.operation, r.status])).toEqual(requests.map((r) => [r.operation, r.status]));
    const correlationIds = new Set<string>();
    for (const r of perRequest) {
      expect(r.service).toBe('clickstream');
      expect(['GET', 'POST']).toContain(r.method);
      expect(typeof r.durationMs).toBe('number');
      expect(r.correlation_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.function_request_id).toBeDefined();
      correlationIds.add(r.correlation_id);
      expect(r.level).toBe(r.status >= 500 ? 'WARN' : 'INFO');
    }
    expect(correlationIds.size).toBe(perRequest.length);
  });

  it('no line carries a body, a search query or an id of a user, session, event or object', () => {
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).not.toContain(SECRET);
  });
});

describe('metrics', () => {
  const emf = () => records().filter((r) => r._aws?.CloudWatchMetrics);

  it('are all in namespace Clickstream with exactly the dimension set the dashboard graphs', () => {
    const blobs = emf();
    expect(blobs.length).toBeGreaterThan(0);
    for (const blob of blobs) {
      for (const directive of blob._aws.CloudWatchMetrics) {
        expect(directive.Namespace).toBe(METRICS_NAMESPACE);
        expect(directive.Dimensions).toEqual([Object.keys(METRICS_DIMENSIONS)]);
      }
      for (const [k, v] of Object.entries(METRICS_DIMENSIONS)) expect(blob[k]).toBe(v);
    }
  });

  it('cover every metric the dashboard graphs, and no other', () => {
    const names = new Set(
      emf().flatMap((b) => b._aws.CloudWatchMetrics.flatMap((d: any) => d.Metrics.map((m: any) => m.Name))),
    );
    expect([...names].sort()).toEqual([...CUSTOM_METRICS].sort());
  });

  it('count what happened', () => {
    const totals: Record<string, number> = {};
    for (const blob of emf()) {
      for (const d of blob._aws.CloudWatchMetrics) {
        for (const m of d.Metrics) {
          const v = blob[m.Name];
          totals[m.Name] =
            (totals[m.Name] ?? 0) + (Array.isArray(v) ? v.reduce((a: number, b: number) => a + b, 0) : v);
        }
      }
    }
    expect(totals).toEqual({
      SessionsCreated: 1,
      EventsAccepted: 2, // e1, then e2
      EventsDuplicate: 1, // e1 again
      EventsConflict: 1, // e1 with other content
      EventsRejected: 1, // e3, two days old
      BatchReleases: 1,
      ClientErrors: 3, // 404 session, 415, 404 route
      ServerErrors: 1, // 503
    });
  });
});
