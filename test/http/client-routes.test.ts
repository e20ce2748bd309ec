/**
 * The contract's client routes, through the local HTTP server (API Gateway's event shape, the real
 * handlers) against DynamoDB Local.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, nowSeconds, sessionBody } from '../support/http.js';
import { useFreshTable } from '../support/table.js';

let api: Api;

beforeAll(async () => {
  await useFreshTable();
  api = await Api.start();
});
afterAll(() => api.close());

describe('create_session', () => {
  it('accepts Unix seconds and stores milliseconds', async () => {
    const t = nowSeconds();
    const res = await api.post('/session', sessionBody('sec', { created_at: t }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ session_id: 'sec', created: true });
    const got = await api.get('/session', { session_id: 'sec' });
    expect(got.body.created_at).toBe(t * 1000);
  });

  it('accepts Unix milliseconds', async () => {
    const t = Date.now() - 1234;
    expect((await api.post('/session', sessionBody('ms', { created_at: t }))).status).toBe(200);
    expect((await api.get('/session', { session_id: 'ms' })).body.created_at).toBe(t);
  });

  it('accepts ISO-8601 strings, UTC when no offset is given', async () => {
    const d = new Date(Date.now() - 60_000);
    d.setUTCMilliseconds(250);
    const naive = d.toISOString().replace('Z', '');
    expect((await api.post('/session', sessionBody('iso', { created_at: naive }))).status).toBe(200);
    expect((await api.get('/session', { session_id: 'iso' })).body.created_at).toBe(d.getTime());

    const withOffset = `${d
      .toISOString()
      .slice(0, 19)
      .replace(/T(\d\d)/, (_, h) => `T${String((Number(h) + 2) % 24).padStart(2, '0')}`)}+02:00`;
    const sameDay = d.getUTCHours() < 22;
    if (sameDay) {
      expect((await api.post('/session', sessionBody('iso-offset', { created_at: withOffset }))).status).toBe(200);
      expect((await api.get('/session', { session_id: 'iso-offset' })).body.created_at).toBe(d.getTime() - 250);
    }
  });

  it('fills created_at in when missing and treats an identical retry as not created', async () => {
    const before = Date.now();
    expect((await api.post('/session', sessionBody('auto'))).body).toEqual({ session_id: 'auto', created: true });
    const again = await api.post('/session', sessionBody('auto'));
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ session_id: 'auto', created: false });
    const got = await api.get('/session', { session_id: 'auto' });
    expect(got.body.created_at).toBeGreaterThanOrEqual(before);
    expect(got.body.received_at).toBeGreaterThanOrEqual(got.body.created_at);
  });

  it('answers 409 for the same id with different content and keeps the first', async () => {
    const t = nowSeconds();
    await api.post('/session', sessionBody('dup', { created_at: t }));
    const res = await api.post('/session', sessionBody('dup', { created_at: t, search_query: 'blue shoes' }));
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ detail: 'Session with id=dup already exists' });
    expect((await api.get('/session', { session_id: 'dup' })).body.search_query).toBe('red shoes');
  });

  it('refuses timestamps outside the window with 400 and the value as sent', async () => {
    const old = nowSeconds() - 13 * 3600;
    const res = await api.post('/session', sessionBody('old', { created_at: old }));
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ detail: `Invalid utc timestamp: ${old}` });
    const future = '2999-01-01T00:00:00Z';
    expect((await api.post('/session', sessionBody('future', { created_at: future }))).body).toEqual({
      detail: `Invalid utc timestamp: ${future}`,
    });
    expect((await api.get('/session', { session_id: 'old' })).status).toBe(404);
  });

  it.each([
    ['a float', 1700000000.5],
    ['a boolean', true],
    ['a numeric string', '1700000000'],
    ['a negative number', -5],
    ['a malformed date', '2024-13-01T00:00:00Z'],
  ])('refuses %s as created_at with 422', async (_name, value) => {
    const res = await api.post('/session', sessionBody(`bad-ts-${String(value)}`, { created_at: value }));
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(['body', 'created_at']);
  });

  it('stores structured queries and meta objects verbatim', async () => {
    const query = { text: 'shoes', filters: { color: ['red', 'blue'], size: 42.5 }, nested: { a: { b: { c: null } } } };
    const body = sessionBody('structured', {
      search_query: query,
      search_meta: { engine: 'v2', weights: [0.1, 0.9] },
      payload_filter: { in_stock: true },
      sort_by: { field: 'price' },
      user_id: 'u-1',
      ignored_field: 'dropped',
    });
    expect((await api.post('/session', body)).status).toBe(200);
    const got = (await api.get('/session', { session_id: 'structured' })).body;
    expect(got.search_query).toEqual(query);
    expect(got.search_meta).toEqual({ engine: 'v2', weights: [0.1, 0.9] });
    expect(got.payload_filter).toEqual({ in_stock: true });
    expect(got.sort_by).toEqual({ field: 'price', order: 'asc', force_not_payload: false });
    expect(got.user_id).toBe('u-1');
    expect(got.search_results).toEqual([
      { object_id: 'o1', rank: 1, meta: { title: 'Red shoe' } },
      { object_id: 'o2', rank: 2, meta: null },
    ]);
    expect(got).not.toHaveProperty('ignored_field');
    expect(got.is_irrelevant).toBe(false);
    expect(typeof got.batch_id).toBe('string');
    expect(Number.isSafeInteger(got.session_number)).toBe(true);
  });

  it('accepts an empty result list', async () => {
    expect((await api.post('/session', sessionBody('empty', { search_results: [] }))).status).toBe(200);
  });
});

describe('push_events', () => {
  const events = () => [
    { event_id: 'e1', object_id: 'o1', created_at: nowSeconds() },
    { event_id: 'e2', object_id: 'o2', event_type: 'add_to_cart', meta: { qty: 2 } },
  ];

  it('accepts new events, reports a repeat as duplicate and a changed event as conflict', async () => {
    await api.post('/session', sessionBody('ev'));
    const first = events();
    const res = await api.post('/session/events', { session_id: 'ev', events: first });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      session_id: 'ev',
      accepted: 2,
      duplicates: 0,
      rejected: 0,
      results: [
        { event_id: 'e1', status: 'accepted' },
        { event_id: 'e2', status: 'accepted' },
      ],
    });
    const again = await api.post('/session/events', { session_id: 'ev', events: first });
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 2, rejected: 0 });
    expect(again.body.results.map((r: { status: string }) => r.status)).toEqual(['duplicate', 'duplicate']);

    const changed = await api.post('/session/events', {
      session_id: 'ev',
      events: [{ ...first[0], object_id: 'o9' }],
    });
    expect(changed.body).toMatchObject({ accepted: 0, duplicates: 0, rejected: 1 });
    expect(changed.body.results[0]).toMatchObject({ event_id: 'e1', status: 'conflict' });
    expect(changed.body.results[0].detail).toMatch(/different content/);

    const got = (await api.get('/session', { session_id: 'ev' })).body;
    expect(got.events.map((e: { event_id: string; object_id: string }) => [e.event_id, e.object_id])).toEqual([
      ['e1', 'o1'],
      ['e2', 'o2'],
    ]);
    expect(got.events[1]).toMatchObject({ event_type: 'add_to_cart', meta: { qty: 2 } });
    expect(got.events[0]).toMatchObject({ event_type: 'click', meta: null });
  });

  it('takes null for a defaulted field as not given: event_type "click", sort_by.order "asc"', async () => {
    const created = await api.post('/session', sessionBody('nulls', { sort_by: { field: 'price', order: null } }));
    expect(created.status).toBe(200);
    const retry = await api.post('/session', sessionBody('nulls', { sort_by: { field: 'price', order: 'asc' } }));
    expect(retry.body).toEqual({ session_id: 'nulls', created: false });
    const pushed = await api.post('/session/events', {
      session_id: 'nulls',
      events: [{ event_id: 'n', object_id: 'o', event_type: null }],
    });
    expect(pushed.body).toMatchObject({ accepted: 1 });
    const again = await api.post('/session/events', {
      session_id: 'nulls',
      events: [{ event_id: 'n', object_id: 'o' }],
    });
    expect(again.body).toMatchObject({ duplicates: 1 });
    const got = (await api.get('/session', { session_id: 'nulls' })).body;
    expect(got.sort_by).toEqual({ field: 'price', order: 'asc', force_not_payload: false });
    expect(got.events[0]).toMatchObject({ event_id: 'n', event_type: 'click' });
    const bad = await api.post('/session/events', {
      session_id: 'nulls',
      events: [{ event_id: 'm', object_id: 'o', event_type: 5 }],
    });
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0].loc).toEqual(['body', 'events', 0, 'event_type']);
  });

  it('rejects events outside the window and stores the rest', async () => {
    await api.post('/session', sessionBody('ev-window'));
    const res = await api.post('/session/events', {
      session_id: 'ev-window',
      events: [
        { event_id: 'old', object_id: 'o1', created_at: nowSeconds() - 50_000 },
        { event_id: 'ok', object_id: 'o1' },
      ],
    });
    expect(res.body).toMatchObject({ accepted: 1, duplicates: 0, rejected: 1 });
    expect(res.body.results[0].status).toBe('rejected');
    expect(res.body.results[0].detail).toMatch(/Invalid utc timestamp/);
    const got = (await api.get('/session', { session_id: 'ev-window' })).body;
    expect(got.events.map((e: { event_id: string }) => e.event_id)).toEqual(['ok']);
  });

  it('treats repeats of one event_id inside a request like retries', async () => {
    await api.post('/session', sessionBody('ev-repeat'));
    const e = { event_id: 'x', object_id: 'o1' };
    const res = await api.post('/session/events', {
      session_id: 'ev-repeat',
      events: [e, e, { ...e, object_id: 'o2' }],
    });
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual(['accepted', 'duplicate', 'conflict']);
    expect(res.body).toMatchObject({ accepted: 1, duplicates: 1, rejected: 1 });
  });

  it('orders events by created_at, then event_id', async () => {
    await api.post('/session', sessionBody('ev-order'));
    const t = Date.now() - 10_000;
    await api.post('/session/events', {
      session_id: 'ev-order',
      events: [
        { event_id: 'b', object_id: 'o', created_at: t },
        { event_id: 'c', object_id: 'o', created_at: t - 1 },
        { event_id: 'a', object_id: 'o', created_at: t },
      ],
    });
    const got = (await api.get('/session', { session_id: 'ev-order' })).body;
    expect(got.events.map((e: { event_id: string }) => e.event_id)).toEqual(['c', 'a', 'b']);
  });

  it('answers 404 for an unknown session and stores nothing', async () => {
    const res = await api.post('/session/events', { session_id: 'ghost', events: [{ event_id: 'e', object_id: 'o' }] });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: 'Session with id=ghost not found' });
  });

  it('answers 422 for an empty list, too many events or one bad event, storing none', async () => {
    await api.post('/session', sessionBody('ev-bad'));
    expect((await api.post('/session/events', { session_id: 'ev-bad', events: [] })).status).toBe(422);
    const many = Array.from({ length: 1001 }, (_, i) => ({ event_id: `m${i}`, object_id: 'o' }));
    expect((await api.post('/session/events', { session_id: 'ev-bad', events: many })).status).toBe(422);
    const mixed = await api.post('/session/events', {
      session_id: 'ev-bad',
      events: [
        { event_id: 'fine', object_id: 'o' },
        { event_id: '', object_id: 'o' },
      ],
    });
    expect(mixed.status).toBe(422);
    expect(mixed.body.detail[0].loc).toEqual(['body', 'events', 1, 'event_id']);
    expect((await api.get('/session', { session_id: 'ev-bad' })).body.events).toEqual([]);
  });

  it('accepts 1000 events in one request', async () => {
    await api.post('/session', sessionBody('ev-1000'));
    const many = Array.from({ length: 1000 }, (_, i) => ({ event_id: `m${i}`, object_id: 'o' }));
    const res = await api.post('/session/events', { session_id: 'ev-1000', events: many });
    expect(res.body).toMatchObject({ accepted: 1000, duplicates: 0, rejected: 0 });
    const got = (await api.get('/session', { session_id: 'ev-1000' })).body;
    expect(got.events).toHaveLength(1000);
    expect(got.events_truncated).toBe(false);
  });
});

describe('get_session', () => {
  it('answers 404 for an unknown id and 422 without session_id', async () => {
    expect(await api.get('/session', { session_id: 'nope' })).toMatchObject({
      status: 404,
      body: { detail: 'Session with id=nope not found' },
    });
    const missing = await api.get('/session');
    expect(missing.status).toBe(422);
    expect(missing.body.detail[0]).toMatchObject({ loc: ['query', 'session_id'], type: 'missing' });
  });

  it('says plainly when events are cut and how to read the rest', async () => {
    await api.post('/session', sessionBody('paged-events'));
    const t = Date.now() - 5_000;
    const evs = Array.from({ length: 25 }, (_, i) => ({
      event_id: `e${String(i).padStart(2, '0')}`,
      object_id: 'o',
      created_at: t + i,
    }));
    await api.post('/session/events', { session_id: 'paged-events', events: evs });
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const res = await api.get('/session', {
        session_id: 'paged-events',
        events_limit: 10,
        ...(cursor ? { events_after: cursor } : {}),
      });
      expect(res.status).toBe(200);
      expect(res.body.events_count).toBe(25);
      seen.push(...res.body.events.map((e: { event_id: string }) => e.event_id));
      if (!res.body.events_truncated) break;
      cursor = res.body.events_next_cursor;
    }
    expect(seen).toEqual(evs.map((e) => e.event_id));
    expect((await api.get('/session', { session_id: 'paged-events', events_after: '!!' })).status).toBe(422);
  });
});

describe('mark_session_irrelevant', () => {
  it('marks, is idempotent, and answers 404 for unknown sessions', async () => {
    await api.post('/session', sessionBody('irr'));
    const expected = { status: 200, body: { session_id: 'irr', is_irrelevant: true } };
    expect(await api.post('/session/irrelevant', { session_id: 'irr' })).toMatchObject(expected);
    expect(await api.post('/session/irrelevant', { session_id: 'irr' })).toMatchObject(expected);
    expect((await api.get('/session', { session_id: 'irr' })).body.is_irrelevant).toBe(true);
    expect(await api.post('/session/irrelevant', { session_id: 'ghost' })).toMatchObject({
      status: 404,
      body: { detail: 'Session with id=ghost not found' },
    });
  });
});

describe('common rules', () => {
  it('answers 415 without a JSON content type', async () => {
    const res = await api.post('/session', JSON.stringify(sessionBody('ct')), { 'content-type': 'text/plain' });
    expect(res).toMatchObject({ status: 415 });
    expect(typeof res.body.detail).toBe('string');
    const none = await fetch(api.url('/session'), { method: 'POST', body: JSON.stringify(sessionBody('ct2')) });
    expect(none.status).toBe(415);
  });

  it('answers 422 for malformed JSON and for a body that is not an object', async () => {
    const res = await api.post('/session', '{"session_id": ');
    expect(res.status).toBe(422);
    expect(res.body.detail[0]).toMatchObject({ loc: ['body'], type: 'json_invalid' });
    expect((await api.post('/session', '[1,2]')).status).toBe(422);
    expect((await api.post('/session', '')).status).toBe(422);
  });

  it('answers 413 for a body over 1 MiB', async () => {
    const big = sessionBody('big', { search_meta: { blob: 'x'.repeat(1024 * 1024) } });
    const res = await api.post('/session', big);
    expect(res.status).toBe(413);
    expect((await api.get('/session', { session_id: 'big' })).status).toBe(404);
  });

  it('answers 413 for a session that could not be stored whole', async () => {
    const big = sessionBody('too-big', { search_meta: { blob: 'x'.repeat(500 * 1024) } });
    const res = await api.post('/session', big);
    expect(res.status).toBe(413);
    expect((await api.get('/session', { session_id: 'too-big' })).status).toBe(404);
  });

  it('refuses ids of 0 or more than 128 characters, and counts characters, not bytes', async () => {
    expect((await api.post('/session', sessionBody(''))).status).toBe(422);
    expect((await api.post('/session', sessionBody('x'.repeat(129)))).status).toBe(422);
    expect((await api.post('/session', sessionBody('é'.repeat(128)))).status).toBe(200);
    expect((await api.post('/session', sessionBody('😀'.repeat(128)))).status).toBe(200);
  });

  it('answers unknown routes with 404 and wrong methods with 405, as JSON', async () => {
    expect(await api.get('/nowhere')).toMatchObject({ status: 404, body: { detail: 'Not Found' } });
    expect((await api.request('DELETE', '/session')).status).toBe(405);
  });
});

describe('requests that are not valid HTTP (the local server)', () => {
  /** Sends raw bytes on a new connection and returns everything the server wrote before closing it. */
  const raw = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const url = new URL(api.url('/session'));
      // Written without closing our side: the server closes the connection (`connection: close` or an error).
      const socket = connect(Number(url.port), url.hostname, () => socket.write(text));
      let out = '';
      socket.on('data', (d) => (out += d.toString('utf8')));
      socket.on('close', () => resolve(out));
      socket.on('error', reject);
    });

  it.each([
    ['a lowercase method', 'get /api/v1/clickstream/session?session_id=x HTTP/1.1\r\nhost: x\r\n\r\n', 400],
    [
      'headers over 16 KB',
      `GET /api/v1/clickstream/session?session_id=x HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
    ],
    ['a broken request line', 'NOT HTTP\r\n\r\n', 400],
    [
      'an Expect header other than 100-continue',
      'POST /api/v1/clickstream/session HTTP/1.1\r\nhost: x\r\nexpect: weird\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}',
      417,
    ],
    ['CONNECT', 'CONNECT a:80 HTTP/1.1\r\nhost: a\r\n\r\n', 405],
  ])('answers %s with a JSON detail', async (_name, text, status) => {
    const answer = await raw(text);
    const [head = '', body = ''] = answer.split('\r\n\r\n');
    expect(head).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
    expect(head.toLowerCase()).toContain('content-type: application/json');
    expect(typeof JSON.parse(body).detail).toBe('string');
  });

  /** The answers on one connection, in order: status and parsed body of each. */
  const answers = (text: string) =>
    [...text.matchAll(/HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n/g)].map((m) => {
      const length = Number(/content-length: (\d+)/i.exec(m[2]!)?.[1] ?? 0);
      const start = m.index! + m[0].length;
      return { status: Number(m[1]), body: JSON.parse(text.slice(start, start + length)) as Record<string, unknown> };
    });

  it('answers a request without Host like any other', async () => {
    const [a] = answers(
      await raw('GET /api/v1/clickstream/session?session_id=nohost HTTP/1.1\r\nconnection: close\r\n\r\n'),
    );
    expect(a).toEqual({ status: 404, body: { detail: 'Session with id=nohost not found' } });
  });

  it('runs pipelined requests one after the other: a read sent after a write sees it', async () => {
    const body = JSON.stringify(sessionBody('piped'));
    const text = await raw(
      `POST /api/v1/clickstream/session HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}` +
        'GET /api/v1/clickstream/session?session_id=piped HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    const [created, read] = answers(text);
    expect(created).toEqual({ status: 200, body: { session_id: 'piped', created: true } });
    expect(read!.status).toBe(200);
    expect(read!.body.session_id).toBe('piped');
  });

  it('answers a valid request, then the bytes after it that are no request', async () => {
    const body = JSON.stringify(sessionBody('trailing'));
    const text = await raw(
      `POST /api/v1/clickstream/session HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}garbage\r\n\r\n`,
    );
    expect(answers(text).map((a) => a.status)).toEqual([200, 400]);
  });

  it('closes the connection after a 413 for a body past 6 MiB, and the next connection works', async () => {
    const res = await fetch(api.url('/session'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(6 * 1024 * 1024 + 1),
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    expect(await res.json()).toEqual({ detail: 'Request Entity Too Large' });
    expect((await api.get('/session', { session_id: 'after-413' })).status).toBe(404);
  });
});
