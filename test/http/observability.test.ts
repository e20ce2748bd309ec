/**
 * What the functions write to CloudWatch, captured from the real handlers (local server, DynamoDB
 * Local) as Lambda's JSON log format writes them (lib/local/lambda-logs.ts): one JSON log line per
 * request with the API request id as correlation id and no bodies, queries or ids in any line; the
 * stack's metric filters (lib/monitoring.ts, FUNCTION_METRICS), applied to those lines, count every
 * metric the dashboard graphs in the dimension set it graphs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CUSTOM_METRICS, METRICS_DIMENSIONS } from '../../lib/clickstream-stack.js';
import { lambdaContext } from '../../lib/local/lambda-events.js';
import { inInvocation } from '../../lib/local/lambda-logs.js';
import { FUNCTION_METRICS, type FunctionMetric, metricsOf } from '../../lib/monitoring.js';
import { httpEvent } from '../support/events.js';
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
  // test/support/env.ts keeps the functions quiet for the other suites; this one needs their lines.
  process.env.AWS_LAMBDA_LOG_LEVEL = 'INFO';
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
    const perRequest = records().filter((r) => r.message?.msg === 'request');
    expect(perRequest.map((r) => [r.message.operation, r.message.status])).toEqual(
      requests.map((r) => [r.operation, r.status]),
    );
    const correlationIds = new Set<string>();
    for (const r of perRequest) {
      expect(new Date(r.timestamp).toISOString()).toBe(r.timestamp);
      expect(r.message.service).toBe('clickstream');
      expect(['GET', 'POST']).toContain(r.message.method);
      expect(typeof r.message.durationMs).toBe('number');
      expect(r.message.correlationId).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/); // the invocation's (Lambda's) request id
      expect(r.requestId).not.toBe(r.message.correlationId);
      correlationIds.add(r.message.correlationId);
      expect(r.level).toBe(r.message.status >= 500 ? 'WARN' : 'INFO');
    }
    expect(correlationIds.size).toBe(perRequest.length);
  });

  it('no line carries a body, a search query or an id of a user, session, event or object', () => {
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).not.toContain(SECRET);
  });
});

/**
 * CloudWatch Logs' filter patterns, as far as FUNCTION_METRICS uses them: `{ a && b ... }` with
 * `$.path = "text"`, `$.path <op> number` and `$.path IS TRUE`. Anything else throws, so a filter
 * written in more syntax than this reads must get its reading here first.
 */
function matches(pattern: string, event: Record<string, unknown>): boolean {
  const inner = /^\{ (.*) \}$/.exec(pattern)?.[1];
  if (!inner) throw new Error(`Not a JSON filter pattern: ${pattern}`);
  return inner.split(' && ').every((term) => {
    const m = /^(\$(?:\.\w+)+) (?:(=|!=|>=|<=|>|<) (".*"|-?\d+(?:\.\d+)?)|IS (TRUE|FALSE))$/.exec(term);
    if (!m) throw new Error(`Filter term not understood here: ${term}`);
    const [, path = '', op = '', literal = '', truth] = m;
    const value = read(path, event);
    if (truth) return value === (truth === 'TRUE');
    const want = literal.startsWith('"') ? (JSON.parse(literal) as string) : Number(literal);
    if (typeof value !== typeof want) return false;
    const [a, b] = [value as number, want as number];
    const compare: Record<string, boolean> = {
      '=': a === b,
      '!=': a !== b,
      '>=': a >= b,
      '<=': a <= b,
      '>': a > b,
      '<': a < b,
    };
    return compare[op] ?? false;
  });
}
const read = (path: string, event: Record<string, unknown>): unknown =>
  path
    .split('.')
    .slice(1)
    .reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], event);

/** The datapoints the stack's filters make of the captured lines (each line in its function's log group). */
function datapoints(metric: FunctionMetric) {
  return records()
    .filter((r) => metricsOf(String(r.message?.operation)).includes(metric) && matches(metric.pattern, r))
    .map((r) => ({
      value: metric.value === '1' ? 1 : read(metric.value, r),
      service: read('$.message.service', r),
    }));
}

describe("metrics (the stack's metric filters on these lines)", () => {
  it('read fields the request line has, with the type the filter expects', () => {
    for (const m of FUNCTION_METRICS) {
      const lines = records().filter(
        (r) => r.message?.msg === 'request' && (!m.operations || m.operations.includes(r.message.operation)),
      );
      expect(lines.length, m.metricName).toBeGreaterThan(0);
      // Every answered request of the function carries the field (a 4xx/5xx may stop before the count).
      for (const r of lines.filter((l) => l.message.status === 200 || !m.operations))
        expect(typeof r.message[m.field], `${m.metricName}: ${m.field}`).toBe(m.type);
    }
  });

  it('cover every metric the dashboard graphs, in the one dimension it graphs', () => {
    const seen = FUNCTION_METRICS.filter((m) => datapoints(m).length > 0).map((m) => m.metricName);
    expect([...seen].sort()).toEqual([...CUSTOM_METRICS].sort());
    for (const m of FUNCTION_METRICS)
      for (const d of datapoints(m)) expect({ service: d.service }, m.metricName).toEqual(METRICS_DIMENSIONS);
  });

  it('count what happened', () => {
    const totals: Record<string, number> = {};
    for (const m of FUNCTION_METRICS) {
      const points = datapoints(m);
      if (points.length > 0) totals[m.metricName] = points.reduce((a, d) => a + (d.value as number), 0);
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

describe('error lines', () => {
  /** The JSON lines written while `fn` runs. */
  const capture = async (fn: () => Promise<unknown>) => {
    const out: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    }) as typeof write;
    try {
      await fn();
    } finally {
      process.stdout.write = write;
    }
    return out
      .flatMap((c) => c.split('\n'))
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, any>);
  };
  const get = httpEvent({ method: 'GET', path: '/session', query: { session_id: `s-${SECRET}` } });

  it('an unhandled error: an ERROR line with its name, message and stack, then the 500 request line', async () => {
    const { handler } = await import('../../functions/handlers/get-session.js');
    const { setDocumentClient } = await import('../../functions/storage/client.js');
    setDocumentClient({ send: async () => Promise.reject(new RangeError('boom')) } as never);
    const context = lambdaContext('observability');
    let status = 0;
    const out = await capture(async () => {
      status = (await inInvocation(context.awsRequestId, () => handler(get, context))).statusCode!;
    }).finally(() => setDocumentClient(undefined));
    expect(status).toBe(500);
    const [error = {}, request] = out;
    expect(error).toMatchObject({ level: 'ERROR', requestId: context.awsRequestId });
    expect(error.message).toMatchObject({
      msg: 'Unhandled error',
      service: 'clickstream',
      operation: 'get_session',
      correlationId: get.requestContext.requestId,
      error: { name: 'RangeError', message: 'boom' },
    });
    expect(error.message.error.stack).toMatch(/^RangeError: boom\n\s+at /);
    expect(request).toMatchObject({ level: 'WARN', message: { msg: 'request', status: 500 } });
    expect(JSON.stringify(out)).not.toContain(SECRET);
  });

  it('an invocation that runs out of time: a WARN line, then the 503 request line', async () => {
    const { handler } = await import('../../functions/handlers/get-session.js');
    const { setDocumentClient } = await import('../../functions/storage/client.js');
    setDocumentClient({ send: () => new Promise(() => undefined) } as never);
    const context = lambdaContext('observability', { timeoutMs: 300 });
    let status = 0;
    const out = await capture(async () => {
      status = (await inInvocation(context.awsRequestId, () => handler(get, context))).statusCode!;
    }).finally(() => setDocumentClient(undefined));
    expect(status).toBe(503);
    expect(out.map((r) => [r.level, r.message.msg])).toEqual([
      ['WARN', 'Invocation ran out of time'],
      ['WARN', 'request'],
    ]);
    expect(out[0]?.message).toMatchObject({ operation: 'get_session', correlationId: get.requestContext.requestId });
  });
});
