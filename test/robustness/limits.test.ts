/**
 * Every limit of the contract at the limit and just past it: the answer at the limit is a success
 * that stores the record whole, the answer past it is the documented 4xx, and nothing of a refused
 * request is stored (checked in DynamoDB Local). docs/robustness.md lists the same limits.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { resetConfig } from '../../functions/shared/config.js';
import { MAX_ITEM_BYTES } from '../../functions/storage/items.js';
import { Harness } from './support/harness.js';
import { MIB } from './support/generators.js';
import { get, post, type Answer, type RawRequest } from './support/invoke.js';
import { checkAnswer, expectNoRecordWritten } from './support/model.js';
import { getRaw, queryRaw } from './support/storage.js';

let h: Harness;
let n = 0;
/** Ids of one length per prefix, so that records built from them have the same size. */
const uid = (prefix: string) => `${prefix}-${String(n++).padStart(6, '0')}`;

/** Sends a request (in-process unless `http`), checks the common rules and returns the answer. */
async function send(r: RawRequest, http = false): Promise<Answer> {
  const { answer, writes } = await h.send('limits', r, http);
  checkAnswer(answer, `${r.method} ${r.path} ${r.query ?? ''}`);
  if (answer.status >= 400) expectNoRecordWritten(writes, `${r.method} ${r.path}`);
  return answer;
}

const session = (id: string, extra: Record<string, unknown> = {}) => ({
  session_id: id,
  search_query: 'q',
  search_results: [],
  ...extra,
});
const create = (body: unknown, http = false) => send(post('/session', body), http);
const push = (body: unknown, http = false) => send(post('/session/events', body), http);
const getSession = (id: string, query: Record<string, string | number> = {}) =>
  send(get('/session', { session_id: id, ...query }));
const sessionItem = (id: string) => getRaw(h.table.endpoint, h.table.tableName, `SESSION#${id}`, 'SESSION');
const stored = async (id: string) => (await sessionItem(id)) !== undefined;
const storedEvents = async (id: string) =>
  (await queryRaw(h.table.endpoint, h.table.tableName, `SESSION#${id}`)).filter((i) => i.sk.startsWith('EVENT#'))
    .length;
const firstLoc = (a: Answer) => (a.json as { detail: { loc: unknown[] }[] }).detail[0]!.loc;

/** A JSON text of exactly `bytes` bytes (trailing whitespace is JSON too). */
const exactly = (value: unknown, bytes: number) => {
  const text = JSON.stringify(value);
  expect(Buffer.byteLength(text)).toBeLessThanOrEqual(bytes);
  return text + ' '.repeat(bytes - Buffer.byteLength(text));
};

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h.close());

describe('request body: 1 MiB', () => {
  it('takes a body of exactly 1,048,576 bytes and refuses 1,048,577 with 413, storing nothing', async () => {
    for (const http of [false, true]) {
      const at = uid('body-at');
      const past = uid('body-past');
      expect((await create(exactly(session(at), MIB), http)).status).toBe(200);
      const a = await create(exactly(session(past), MIB + 1), http);
      expect(a.status).toBe(413);
      expect((a.json as { detail: string }).detail).toMatch(/1048577 bytes; the limit is 1048576/);
      expect(await stored(at)).toBe(true);
      expect(await stored(past)).toBe(false);
    }
  });

  it('stores 1,000 events that fill 1 MiB whole', async () => {
    const id = uid('full-push');
    await create(session(id));
    const events = Array.from({ length: 1000 }, (_, i) => ({ event_id: `e${i}`, object_id: 'o', meta: { pad: '' } }));
    const base = Buffer.byteLength(JSON.stringify({ session_id: id, events }));
    const pad = Math.floor((MIB - base) / 1000);
    for (const e of events) e.meta.pad = 'p'.repeat(pad);
    const text = exactly({ session_id: id, events }, MIB);
    const a = await send(post('/session/events', text));
    expect(a.json).toMatchObject({ accepted: 1000, duplicates: 0, rejected: 0 });
    const got = (await getSession(id)).json as { events: { meta: { pad: string } }[] };
    expect(got.events).toHaveLength(1000);
    expect(got.events.every((e) => e.meta.pad.length === pad)).toBe(true);
  });

  it('measures bytes, not characters, and counts a base64-encoded body after decoding', async () => {
    const id = uid('bytes');
    const body = session(id, { search_meta: { pad: '' } }) as unknown as { search_meta: { pad: string } };
    body.search_meta.pad = 'é'.repeat((MIB - Buffer.byteLength(JSON.stringify(body))) / 2 + 1); // 2 bytes each: one byte over
    expect((await create(body)).status).toBe(413);
    // The local server (as API Gateway) sends bodies that are not UTF-8 text base64-encoded.
    const bin = Buffer.concat([Buffer.from(exactly(session(uid('b64')), MIB - 1)), Buffer.from([0xff])]);
    const a = await send({
      method: 'POST',
      path: '/session',
      headers: { 'content-type': 'application/json' },
      body: bin,
    });
    expect(a.status).toBe(422); // exactly 1 MiB after decoding: not 413, but not UTF-8
    const over = Buffer.concat([Buffer.from(exactly(session(uid('b64')), MIB)), Buffer.from([0xff])]);
    expect(
      (await send({ method: 'POST', path: '/session', headers: { 'content-type': 'application/json' }, body: over }))
        .status,
    ).toBe(413);
  });

  it("refuses hostile Content-Type headers of 1 MB (100 times API Gateway's header limit) with 415", async () => {
    // No clock here (timing goals live in the benchmarks): a parser that backtracks or is quadratic
    // on these shapes would not get through 1 MB within the test's timeout; a linear one takes ms.
    const n = 1_000_000;
    for (const header of [
      'application/json' + ' '.repeat(n) + 'x',
      ';'.repeat(n),
      'application/' + 'a+'.repeat(n / 2) + 'jsonx',
      ' ;'.repeat(n / 2),
      'application/' + '+'.repeat(n) + 'jsonx',
    ]) {
      const a = await send(post('/session', session(uid('ct')), { 'content-type': header }));
      expect(a.status).toBe(415);
    }
    expect(
      (await send(post('/session', session(uid('ct')), { 'content-type': 'application/json ; charset=utf-8' }))).status,
    ).toBe(200);
  });

  it('answers 413 at the API payload limit (6 MiB) before the function runs', async () => {
    const a = await create(exactly(session(uid('six')), 6 * MIB + 1), true);
    expect(a.status).toBe(413);
  });
});

describe('events per request: 1..1000', () => {
  it('refuses 0 and 1001 events with 422 and takes 1 and 1000', async () => {
    const id = uid('count');
    await create(session(id));
    const events = (k: number, prefix: string) =>
      Array.from({ length: k }, (_, i) => ({ event_id: `${prefix}${i}`, object_id: 'o' }));
    const none = await push({ session_id: id, events: [] });
    expect(none.status).toBe(422);
    expect(firstLoc(none)).toEqual(['body', 'events']);
    const over = await push({ session_id: id, events: events(1001, 'x') });
    expect(over.status).toBe(422);
    expect(firstLoc(over)).toEqual(['body', 'events']);
    expect(await storedEvents(id)).toBe(0);
    expect((await push({ session_id: id, events: events(1, 'one') })).json).toMatchObject({ accepted: 1 });
    expect((await push({ session_id: id, events: events(1000, 'k') })).json).toMatchObject({ accepted: 1000 });
    expect(await storedEvents(id)).toBe(1001);
  });
});

describe('ids: 1..128 characters (code points)', () => {
  const at = ['x'.repeat(128), 'é'.repeat(128), '😀'.repeat(128), '#'.repeat(128)];
  const past = ['x'.repeat(129), 'é'.repeat(129), '😀'.repeat(129), ''];

  it('session_id, user_id, search_results[].object_id on create_session', async () => {
    for (const [i, id] of at.entries()) {
      const body = session(id, { user_id: at[(i + 1) % 4], search_results: [{ object_id: at[(i + 2) % 4] }] });
      expect((await create(body)).status).toBe(200);
      const got = (await getSession(id)).json as Record<string, any>;
      expect(got.session_id).toBe(id);
      expect(got.user_id).toBe(at[(i + 1) % 4]);
      expect(got.search_results[0].object_id).toBe(at[(i + 2) % 4]);
    }
    for (const bad of past) {
      const id = uid('bad-id');
      for (const [body, loc] of [
        [session(bad), ['body', 'session_id']],
        [session(id, { user_id: bad }), ['body', 'user_id']],
        [session(id, { search_results: [{ object_id: bad }] }), ['body', 'search_results', 0, 'object_id']],
      ] as const) {
        const a = await create(body);
        expect(a.status).toBe(422);
        expect(firstLoc(a)).toEqual(loc);
      }
      expect(await stored(id)).toBe(false);
    }
  });

  it('session_id, event_id, object_id on push_events; event_type 1..128 too', async () => {
    const sid = uid('ids');
    await create(session(sid));
    const events = at.map((id, i) => ({ event_id: id, object_id: at[(i + 1) % 4], event_type: at[(i + 2) % 4] }));
    expect((await push({ session_id: sid, events })).json).toMatchObject({ accepted: 4 });
    const got = (await getSession(sid)).json as { events: Record<string, string>[] };
    expect(new Set(got.events.map((e) => e.event_id))).toEqual(new Set(at));
    expect(new Set(got.events.map((e) => e.event_type))).toEqual(new Set(at));
    for (const bad of past) {
      for (const [field, body] of [
        ['event_id', { event_id: bad, object_id: 'o' }],
        ['object_id', { event_id: 'fine', object_id: bad }],
        ['event_type', { event_id: 'fine', object_id: 'o', event_type: bad }],
      ] as const) {
        const a = await push({ session_id: sid, events: [{ event_id: 'ok', object_id: 'o' }, body] });
        expect(a.status).toBe(422);
        expect(firstLoc(a)).toEqual(['body', 'events', 1, field]);
      }
      expect(firstLoc(await push({ session_id: bad, events: [{ event_id: 'e', object_id: 'o' }] }))).toEqual([
        'body',
        'session_id',
      ]);
    }
    expect(await storedEvents(sid)).toBe(4);
  });

  it('session_id on mark_session_irrelevant and get_session, release_id, batch_id', async () => {
    for (const id of at) {
      expect((await send(post('/session/irrelevant', { session_id: id }))).status).toBe(200);
      expect((await getSession(id)).status).toBe(200);
      expect((await send(get('/internal/batch', { batch_id: id }))).status).toBe(404);
      expect((await send(get('/internal/batch/sessions', { batch_id: id }))).status).toBe(404);
    }
    const release = await send(post('/internal/batch/release', { release_id: at[2] }));
    expect(release.status).toBe(200);
    expect((release.json as { release_id: string }).release_id).toBe(at[2]);
    for (const bad of past) {
      expect(firstLoc(await send(post('/session/irrelevant', { session_id: bad })))).toEqual(['body', 'session_id']);
      expect(firstLoc(await getSession(bad))).toEqual(['query', 'session_id']);
      expect(firstLoc(await send(post('/internal/batch/release', { release_id: bad })))).toEqual([
        'body',
        'release_id',
      ]);
      expect(firstLoc(await send(get('/internal/batch', { batch_id: bad })))).toEqual(['query', 'batch_id']);
      expect(firstLoc(await send(get('/internal/batch/sessions', { batch_id: bad })))).toEqual(['query', 'batch_id']);
    }
  });

  it('sort_by.field: 1..1024 characters', async () => {
    const id = uid('sort');
    expect((await create(session(id, { sort_by: { field: '😀'.repeat(1024), order: 'desc' } }))).status).toBe(200);
    expect(((await getSession(id)).json as { sort_by: unknown }).sort_by).toEqual({
      field: '😀'.repeat(1024),
      order: 'desc',
      force_not_payload: false,
    });
    for (const field of ['x'.repeat(1025), '']) {
      const a = await create(session(uid('sort'), { sort_by: { field } }));
      expect(firstLoc(a)).toEqual(['body', 'sort_by', 'field']);
    }
  });
});

describe('search_results: at most 1000', () => {
  it('stores 1000 results whole and refuses 1001 with 422', async () => {
    const results = (k: number) =>
      Array.from({ length: k }, (_, i) => ({ object_id: `o${i}`, rank: i / 3, meta: { i } }));
    const id = uid('results');
    expect((await create(session(id, { search_results: results(1000) }))).status).toBe(200);
    expect(((await getSession(id)).json as { search_results: unknown[] }).search_results).toEqual(results(1000));
    const past = uid('results');
    const a = await create(session(past, { search_results: results(1001) }));
    expect(a.status).toBe(422);
    expect(firstLoc(a)).toEqual(['body', 'search_results']);
    expect(await stored(past)).toBe(false);
  });
});

describe('record size: one DynamoDB item (400 KB)', () => {
  /** The largest `n` for which `fits(n)` holds, between lo (fits) and hi (does not). */
  async function largest(lo: number, hi: number, fits: (n: number) => Promise<boolean>): Promise<number> {
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await fits(mid)) lo = mid;
      else hi = mid;
    }
    return lo;
  }

  it.each([
    ['ASCII', 'x', 1],
    ['3-byte UTF-8', '€', 3],
  ])(
    'stores the largest session that fits whole (%s), refuses one character more with 413',
    async (_name, ch, width) => {
      const body = (id: string, k: number) => session(id, { search_meta: { blob: ch.repeat(k) } });
      const max = await largest(1, Math.ceil(MAX_ITEM_BYTES / width), async (k) => {
        const a = await create(body(uid('largest'), k));
        expect([200, 413]).toContain(a.status);
        return a.status === 200;
      });
      const id = uid('largest');
      expect((await create(body(id, max))).status).toBe(200);
      const tooBig = uid('largest');
      const a = await create(body(tooBig, max + 1));
      expect(a.status).toBe(413);
      expect((a.json as { detail: string }).detail).toMatch(/bytes of storage; at most 408576 bytes fit one record/);
      expect(await stored(tooBig)).toBe(false);
      // Whole: read back, and still updatable (the irrelevant flag) and listable once released.
      const got = (await getSession(id)).json as { search_meta: { blob: string } };
      expect(got.search_meta.blob).toBe(ch.repeat(max));
      expect((await send(post('/session/irrelevant', { session_id: id }))).status).toBe(200);
      const item = (await sessionItem(id))!;
      expect(Buffer.byteLength(item.content as string)).toBeGreaterThan(400_000);
      expect(item.isIrrelevant).toBe(true);
      console.log(
        `largest session (${_name}): search_meta.blob of ${max} characters (${max * width} bytes) stored whole; ${max + 1} -> 413`,
      );
    },
  );

  it('stores the largest event that fits whole, and refuses a push with one over-size event entirely (413)', async () => {
    const sid = uid('big-events');
    await create(session(sid));
    const ev = (id: string, k: number) => ({ event_id: id, object_id: 'o', meta: { blob: 'x'.repeat(k) } });
    const max = await largest(1, MAX_ITEM_BYTES, async (k) => {
      const a = await push({ session_id: sid, events: [ev(uid('event'), k)] });
      expect([200, 413]).toContain(a.status);
      return a.status === 200;
    });
    const before = await storedEvents(sid);
    const a = await push({
      session_id: sid,
      events: [{ event_id: 'small', object_id: 'o' }, ev(uid('event'), max + 1)],
    });
    expect(a.status).toBe(413);
    expect(await storedEvents(sid)).toBe(before);
    const largestId = uid('event');
    const fresh = uid('big-events');
    await create(session(fresh));
    expect((await push({ session_id: fresh, events: [ev(largestId, max)] })).json).toMatchObject({ accepted: 1 });
    const got = (await getSession(fresh)).json as { events: { event_id: string; meta: { blob: string } }[] };
    expect(got.events).toHaveLength(1);
    expect(got.events[0]!.meta.blob).toBe('x'.repeat(max));
    console.log(`largest event: meta.blob of ${max} bytes stored whole; ${max + 1} -> 413`);
  });

  it('answers in pages when the events of a session exceed one response (6 MB), losing none', async () => {
    const sid = uid('heavy');
    await create(session(sid));
    const blob = 'h'.repeat(380_000);
    for (let i = 0; i < 14; i += 2) {
      const events = [i, i + 1].map((k) => ({
        event_id: `e${String(k).padStart(2, '0')}`,
        object_id: 'o',
        created_at: Date.now() - 60_000 + k,
        meta: { blob },
      }));
      expect((await push({ session_id: sid, events })).json).toMatchObject({ accepted: 2 });
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (; pages < 20; pages++) {
      const a = await getSession(sid, cursor ? { events_after: cursor } : {});
      expect(a.text.length).toBeLessThan(6_000_000);
      const got = a.json as {
        events: { event_id: string; meta: { blob: string } }[];
        events_truncated: boolean;
        events_next_cursor?: string;
        events_count: number;
      };
      expect(got.events_count).toBe(14);
      for (const e of got.events) {
        expect(e.meta.blob).toBe(blob);
        seen.push(e.event_id);
      }
      if (!got.events_truncated) break;
      cursor = got.events_next_cursor;
    }
    expect(pages).toBeGreaterThan(0);
    expect(seen).toEqual(Array.from({ length: 14 }, (_, k) => `e${String(k).padStart(2, '0')}`));
  });
});

describe('response size: one Lambda answer (6 MB)', () => {
  it('pages a released batch of near-400 KB sessions by size, visiting each exactly once', async () => {
    const blob = 'b'.repeat(390_000);
    const ids = new Set<string>();
    for (let i = 0; i < 14; i++) {
      const id = uid('heavy-session');
      ids.add(id);
      expect((await create(session(id, { search_meta: { blob } }))).status).toBe(200);
    }
    const release = (await send(post('/internal/batch/release', { release_id: uid('heavy-release') }))).json as {
      batch_id: string;
      session_count: number;
    };
    const seen: string[] = [];
    let after = 0;
    let pages = 0;
    for (; pages < 100; pages++) {
      const a = await send(
        get('/internal/batch/sessions', {
          batch_id: release.batch_id,
          after_number: after,
          limit: 1000,
          include_irrelevant: 'true',
        }),
      );
      expect(a.text.length).toBeLessThan(6_000_000);
      const got = a.json as {
        sessions: { session_id: string; search_meta: { blob?: string } }[];
        last_number: number | null;
      };
      if (got.last_number === null) break;
      for (const s of got.sessions) {
        seen.push(s.session_id);
        if (ids.has(s.session_id)) expect(s.search_meta.blob).toBe(blob);
      }
      after = got.last_number;
    }
    expect(pages).toBeGreaterThan(1);
    expect(seen).toHaveLength(release.session_count);
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of ids) expect(seen).toContain(id);
  });
});

describe('JSON: depth 64, exact numbers, whole code points', () => {
  const nest = (depth: number) => {
    let v: unknown = 'leaf';
    for (let i = 0; i < depth; i++) v = i % 2 ? { k: v } : [v];
    return v;
  };

  it('takes a body nested 64 levels deep (stored whole) and refuses 65 with 422', async () => {
    // Levels: the body object (1), search_meta (2), then 62 more.
    const id = uid('deep');
    expect((await create(session(id, { search_meta: { d: nest(62) } }))).status).toBe(200);
    expect(((await getSession(id)).json as { search_meta: unknown }).search_meta).toEqual({ d: nest(62) });
    const past = uid('deep');
    const a = await create(session(past, { search_meta: { d: nest(63) } }));
    expect(a.status).toBe(422);
    expect((a.json as { detail: { type: string }[] }).detail[0]!.type).toBe('json_depth');
    expect(await stored(past)).toBe(false);
  });

  it('takes integers up to 2^53 exactly and refuses those a double cannot hold', async () => {
    const id = uid('numbers');
    const text = JSON.stringify(session(id)).replace(
      '"search_results":[]',
      '"search_results":[],"search_meta":{"max":9007199254740991,"min":-9007199254740991,"big":1e300,"tiny":5e-324}',
    );
    expect((await send(post('/session', text))).status).toBe(200);
    expect(((await getSession(id)).json as { search_meta: unknown }).search_meta).toEqual({
      max: 9007199254740991,
      min: -9007199254740991,
      big: 1e300,
      tiny: 5e-324,
    });
    for (const n of ['9007199254740993', '-9007199254740993', '1e400', '1e-400']) {
      const past = uid('numbers');
      const a = await send(
        post(
          '/session',
          JSON.stringify(session(past)).replace('"search_results":[]', `"search_results":[],"search_meta":{"n":${n}}`),
        ),
      );
      expect(a.status).toBe(422);
      expect((a.json as { detail: { type: string; loc: unknown[] }[] }).detail[0]).toMatchObject({
        type: 'number_precision',
        loc: ['body', 'search_meta', 'n'],
      });
      expect(await stored(past)).toBe(false);
    }
    // Also where the schema wants a number and the altered value is none (1e400 is Infinity): the
    // issue says what JSON.parse did to it.
    for (const n of ['1e400', '-1e400']) {
      const past = uid('numbers');
      const a = await send(
        post(
          '/session',
          JSON.stringify(session(past)).replace(
            '"search_results":[]',
            `"search_results":[{"object_id":"o","rank":${n}}]`,
          ),
        ),
      );
      expect(a.status).toBe(422);
      expect((a.json as { detail: { type: string; loc: unknown[] }[] }).detail).toEqual([
        expect.objectContaining({ type: 'number_precision', loc: ['body', 'search_results', 0, 'rank'] }),
      ]);
      expect(await stored(past)).toBe(false);
    }
  });

  it('ignores what JSON.parse would alter where it is never stored: unknown fields, values a repeated key replaced', async () => {
    const cases = [
      ['"x":9007199254740993', {}],
      ['"x":{"deep":[1e400]}', {}],
      ['"x":"\\ud800"', {}],
      ['"\\udfff":1', {}],
      ['"search_meta":{"v":9007199254740993},"search_meta":{"v":1}', { search_meta: { v: 1 } }],
      ['"search_meta":{"\\ud800":1},"search_meta":null', { search_meta: null }],
    ] as const;
    for (const [member, expected] of cases) {
      const id = uid('ignored');
      const a = await send(
        post('/session', JSON.stringify(session(id)).replace('"search_results":[]', `"search_results":[],${member}`)),
      );
      expect(a.status, member).toBe(200);
      expect((await getSession(id)).json, member).toMatchObject({ search_meta: null, ...expected });
    }
    // Where it is used, the answer names the place: the meta of the second event.
    const target = uid('ignored');
    expect((await create(session(target))).status).toBe(200);
    const pushed = await send(
      post(
        '/session/events',
        `{"session_id":"${target}","events":[{"event_id":"a","object_id":"o"},{"event_id":"b","object_id":"o","meta":{"n":[1,12345678901234567890]}}],"note":1e400}`,
      ),
    );
    expect(pushed.json).toEqual({
      detail: [
        {
          loc: ['body', 'events', 1, 'meta', 'n', 1],
          msg: expect.stringMatching(/cannot be stored exactly/),
          type: 'number_precision',
        },
      ],
    });
    expect(await storedEvents(target)).toBe(0);
    // Releases and marks have no stored JSON: an unknown field never refuses them.
    expect(
      (await send(post('/session/irrelevant', `{"session_id":"${target}","extra":9007199254740993}`))).status,
    ).toBe(200);
  });

  it('refuses lone surrogates with 422 and stores paired ones whole', async () => {
    const id = uid('surrogates');
    expect(
      (await send(post('/session', JSON.stringify(session(id)).replace('"q"', '"\\ud83d\\ude00 ok"')))).status,
    ).toBe(200);
    expect(((await getSession(id)).json as { search_query: string }).search_query).toBe('😀 ok');
    const past = uid('surrogates');
    const a = await send(post('/session', JSON.stringify(session(past)).replace('"q"', '"\\ud83d ok"')));
    expect(a.status).toBe(422);
    expect((a.json as { detail: { type: string }[] }).detail[0]!.type).toBe('string_unicode');
  });
});

describe('timestamps: the window edges, inclusive', () => {
  const NOW = 1_750_000_000_000; // a whole second
  const withWindow = (minus: number, plus: number) => {
    process.env.CLICKSTREAM_TIME_MAX_DELTA_MINUS_SEC = String(minus);
    process.env.CLICKSTREAM_TIME_MAX_DELTA_PLUS_SEC = String(plus);
    resetConfig();
  };
  afterEach(() => {
    vi.restoreAllMocks();
    delete process.env.CLICKSTREAM_TIME_MAX_DELTA_MINUS_SEC;
    delete process.env.CLICKSTREAM_TIME_MAX_DELTA_PLUS_SEC;
    resetConfig();
  });

  /** created_at forms of the instant `ms` (ms, and where whole seconds: seconds and ISO). */
  const forms = (ms: number): unknown[] => [
    ms,
    ...(ms % 1000 === 0 ? [ms / 1000] : []),
    new Date(ms).toISOString(),
    new Date(ms).toISOString().replace('Z', ''),
  ];

  async function expectWindow(minus: number, plus: number) {
    withWindow(minus, plus);
    vi.spyOn(Date, 'now').mockReturnValue(NOW);
    const inside = [NOW - minus * 1000, NOW + plus * 1000, NOW];
    const outside = [
      NOW - minus * 1000 - 1,
      NOW + plus * 1000 + 1,
      NOW - minus * 1000 - 1000,
      NOW + plus * 1000 + 1000,
    ];
    const sid = uid('window');
    expect((await create(session(sid))).status).toBe(200);
    for (const ms of inside) {
      for (const t of forms(ms)) {
        const id = uid('in');
        const a = await create(session(id, { created_at: t }));
        expect(a.status, `created_at ${String(t)} with window -${minus}/+${plus}`).toBe(200);
        expect(((await getSession(id)).json as { created_at: number }).created_at).toBe(ms);
        const eid = uid('ev');
        expect(
          (await push({ session_id: sid, events: [{ event_id: eid, object_id: 'o', created_at: t }] })).json,
        ).toMatchObject({ accepted: 1 });
      }
    }
    for (const ms of outside) {
      for (const t of forms(ms)) {
        const id = uid('out');
        const a = await create(session(id, { created_at: t }));
        expect(a.status, `created_at ${String(t)} with window -${minus}/+${plus}`).toBe(400);
        expect(a.json).toEqual({ detail: `Invalid utc timestamp: ${String(t)}` });
        expect(await stored(id)).toBe(false);
        const eid = uid('ev-out');
        const p = (await push({ session_id: sid, events: [{ event_id: eid, object_id: 'o', created_at: t }] }))
          .json as { rejected: number; results: { status: string; detail: string }[] };
        expect(p.rejected).toBe(1);
        expect(p.results[0]!.status).toBe('rejected');
        expect(p.results[0]!.detail).toContain(`Invalid utc timestamp: ${String(t)}`);
      }
    }
    // Only accepted events are stored: one per inside form.
    expect(await storedEvents(sid)).toBe(inside.flatMap(forms).length);
  }

  it('small windows: 60 s back, 30 s ahead', () => expectWindow(60, 30));
  it('0 means zero tolerance, in both directions', () => expectWindow(0, 0));
  it('the defaults: 43200 s back, 300 s ahead', () => expectWindow(43_200, 300));

  it('reads integers below 100,000,000,000 as seconds and from there as milliseconds', async () => {
    withWindow(0, 0);
    // Seconds: 99,999,999,999 s is year 5138; at that moment it is inside a zero window.
    vi.spyOn(Date, 'now').mockReturnValue(99_999_999_999_000);
    const s = uid('secs');
    expect((await create(session(s, { created_at: 99_999_999_999 }))).status).toBe(200);
    expect(((await getSession(s)).json as { created_at: number }).created_at).toBe(99_999_999_999_000);
    // Milliseconds: 100,000,000,000 ms is 1973-03-03T09:46:40Z.
    vi.spyOn(Date, 'now').mockReturnValue(100_000_000_000);
    const m = uid('ms');
    expect((await create(session(m, { created_at: 100_000_000_000 }))).status).toBe(200);
    expect(((await getSession(m)).json as { created_at: number }).created_at).toBe(100_000_000_000);
    expect((await create(session(uid('secs'), { created_at: 100_000_000 }))).status).toBe(200); // seconds, same instant
    expect((await create(session(uid('x'), { created_at: 99_999_999_999 }))).status).toBe(400); // seconds: year 5138
  });

  it('refuses floats, booleans, numeric strings and negatives with 422', async () => {
    for (const t of [
      1.5,
      1_750_000_000.5,
      1e21,
      true,
      false,
      '1750000000',
      -1,
      -1_750_000_000_000,
      '2024-02-30T00:00:00Z',
      '',
      [],
      {},
    ]) {
      const id = uid('bad-ts');
      const a = await create(session(id, { created_at: t }));
      expect(a.status, `created_at ${JSON.stringify(t)}`).toBe(422);
      expect(firstLoc(a)).toEqual(['body', 'created_at']);
    }
  });

  it('refuses float literals with a whole value (as Python reads them) with 422, on sessions and events', async () => {
    withWindow(43_200, 300);
    const now = Math.floor(Date.now() / 1000);
    const raw = (r: RawRequest, text: string): RawRequest => ({ ...r, body: text });
    const target = uid('float-ts');
    expect((await create(session(target))).status).toBe(200);
    for (const literal of [
      `${now}.0`,
      `${now}e0`,
      `${now}E+0`,
      `${now}000.0`,
      `${now / 100}e2`,
      '-0.0',
      `-${now}`,
      '-9007199254740993',
    ]) {
      const id = uid('float-ts');
      const a = await send(
        raw(
          post('/session', {}),
          `{"session_id":"${id}","search_query":"q","search_results":[],"created_at":${literal}}`,
        ),
      );
      expect(a.status, literal).toBe(422);
      expect(a.json, literal).toMatchObject({ detail: [{ loc: ['body', 'created_at'], type: 'timestamp_type' }] });
      expect(await stored(id), literal).toBe(false);
      const e = await send(
        raw(
          post('/session/events', {}),
          `{"session_id":"${target}","events":[{"event_id":"ok","object_id":"o"},{"event_id":"e","object_id":"o","created_at":${literal}}]}`,
        ),
      );
      expect(e.status, literal).toBe(422);
      expect(e.json, literal).toMatchObject({
        detail: [{ loc: ['body', 'events', 1, 'created_at'], type: 'timestamp_type' }],
      });
    }
    expect(await storedEvents(target)).toBe(0);
    // The last of repeated keys counts, as in JSON.parse and Python: an integer after a float is taken.
    const id = uid('float-ts');
    expect(
      (
        await send(
          raw(
            post('/session', {}),
            `{"session_id":"${id}","search_query":"q","search_results":[],"created_at":${now}.0,"created_at":${now}}`,
          ),
        )
      ).status,
    ).toBe(200);
    const later = uid('float-ts');
    expect(
      (
        await send(
          raw(
            post('/session', {}),
            `{"session_id":"${later}","search_query":"q","search_results":[],"created_at":${now},"created_at":${now}.0}`,
          ),
        )
      ).status,
    ).toBe(422);
    // Floats elsewhere are plain numbers: a rank of 1.0 and meta values are taken.
    const ranked = uid('float-ts');
    expect(
      (
        await send(
          raw(
            post('/session', {}),
            `{"session_id":"${ranked}","search_query":"q","search_results":[{"object_id":"o","rank":1.0,"meta":{"created_at":1.0}}],"search_meta":{"created_at":2.5e0}}`,
          ),
        )
      ).status,
    ).toBe(200);
  });

  it('takes integers from 2^53 up as milliseconds outside the window: 400 as sent for a session, rejected for an event', async () => {
    withWindow(43_200, 300);
    const target = uid('huge-ts');
    expect((await create(session(target))).status).toBe(200);
    for (const literal of ['9007199254740992', '9007199254740993', '100000000000000000', '1' + '0'.repeat(400)]) {
      const id = uid('huge-ts');
      const a = await send({
        ...post('/session', {}),
        body: `{"session_id":"${id}","search_query":"q","search_results":[],"created_at":${literal}}`,
      });
      expect(a.status, literal).toBe(400);
      expect(a.json).toEqual({ detail: `Invalid utc timestamp: ${literal}` });
      expect(await stored(id), literal).toBe(false);
      const e = await send({
        ...post('/session/events', {}),
        body: `{"session_id":"${target}","events":[{"event_id":"e","object_id":"o","created_at":${literal}}]}`,
      });
      expect(e.status, literal).toBe(200);
      expect((e.json as { results: { status: string; detail: string }[] }).results[0]).toMatchObject({
        status: 'rejected',
        detail: expect.stringMatching(new RegExp(`^Invalid utc timestamp: ${literal} `)),
      });
    }
    expect(await storedEvents(target)).toBe(0);
    // Elsewhere such integers are still refused: they could not be stored as sent.
    const meta = await send({
      ...post('/session', {}),
      body: `{"session_id":"${uid('huge-ts')}","search_query":"q","search_results":[],"search_meta":{"created_at":9007199254740993}}`,
    });
    expect(meta.json).toMatchObject({ detail: [{ type: 'number_precision' }] });
  });
});

describe('paging bounds', () => {
  let batchId: string;
  const ids: string[] = [];
  beforeAll(async () => {
    // A released batch of 3 sessions with 3 events each.
    const release = uid('release');
    await send(post('/internal/batch/release', { release_id: uid('drain') })); // empty whatever collects
    for (let i = 0; i < 3; i++) {
      const id = uid('paged');
      ids.push(id);
      await create(session(id));
      await push({ session_id: id, events: [0, 1, 2].map((k) => ({ event_id: `e${k}`, object_id: 'o' })) });
    }
    const a = await send(post('/internal/batch/release', { release_id: release }));
    batchId = (a.json as { batch_id: string }).batch_id;
    expect((a.json as { session_count: number }).session_count).toBe(3);
    // Pages come in session_number order (numbers ascend shard by shard, not in creation order).
    const numbers = new Map<string, number>();
    for (const id of ids) numbers.set(id, ((await getSession(id)).json as { session_number: number }).session_number);
    ids.sort((x, y) => numbers.get(x)! - numbers.get(y)!);
  });

  const page = (query: Record<string, string | number>) =>
    send(get('/internal/batch/sessions', { batch_id: batchId, ...query }));
  const issue = (a: Answer) => (a.json as { detail: { loc: unknown[]; type: string }[] }).detail[0]!;

  it('limit: 1..1000', async () => {
    expect(((await page({ limit: 1 })).json as { sessions: unknown[] }).sessions).toHaveLength(1);
    expect(((await page({ limit: 1000 })).json as { sessions: unknown[] }).sessions).toHaveLength(3);
    for (const [limit, type] of [
      [0, 'greater_than_equal'],
      [1001, 'less_than_equal'],
      [-1, 'greater_than_equal'],
      ['-0', 'greater_than_equal'],
      ['1.5', 'int_parsing'],
      ['', 'int_parsing'],
      [' 5', 'int_parsing'],
      ['0x10', 'int_parsing'],
    ] as const) {
      const a = await page({ limit });
      expect(a.status).toBe(422);
      expect(issue(a)).toMatchObject({ loc: ['query', 'limit'], type });
    }
  });

  it('events_limit: 1..10000 (batch pages and get_session)', async () => {
    const one = (await page({ events_limit: 1, limit: 1 })).json as {
      sessions: { events: unknown[]; events_truncated: boolean }[];
    };
    expect(one.sessions[0]!.events).toHaveLength(1);
    expect(one.sessions[0]!.events_truncated).toBe(true);
    const all = (await page({ events_limit: 10_000 })).json as {
      sessions: { events: unknown[]; events_truncated: boolean }[];
    };
    expect(all.sessions.every((s) => s.events.length === 3 && !s.events_truncated)).toBe(true);
    for (const events_limit of [0, 10_001]) {
      expect(issue(await page({ events_limit }))).toMatchObject({ loc: ['query', 'events_limit'] });
      expect(issue(await getSession(ids[0]!, { events_limit }))).toMatchObject({ loc: ['query', 'events_limit'] });
    }
    expect(((await getSession(ids[0]!, { events_limit: 1 })).json as { events: unknown[] }).events).toHaveLength(1);
    expect(((await getSession(ids[0]!, { events_limit: 10_000 })).json as { events: unknown[] }).events).toHaveLength(
      3,
    );
  });

  it('after_number: 0..2^53-1', async () => {
    const first = (await page({ after_number: 0 })).json as { sessions: { session_id: string }[]; last_number: number };
    expect(first.sessions.map((s) => s.session_id)).toEqual(ids);
    const end = (await page({ after_number: Number.MAX_SAFE_INTEGER })).json as {
      sessions: unknown[];
      last_number: unknown;
    };
    expect(end).toMatchObject({ sessions: [], last_number: null });
    expect(
      (await page({ after_number: first.last_number })).json as { sessions: unknown[]; last_number: unknown },
    ).toMatchObject({ sessions: [], last_number: null });
    for (const after_number of [-1, '9007199254740992', '99999999999999999', '-99999999999999999', '1e3', 'x']) {
      expect(issue(await page({ after_number }))).toMatchObject({ loc: ['query', 'after_number'] });
    }
    // Leading zeros and a plus sign are the same number.
    const firstNumber = ((await page({ limit: 1 })).json as { last_number: number }).last_number;
    const rest = (await page({ after_number: firstNumber })).json as { sessions: unknown[] };
    expect(rest.sessions).toHaveLength(2);
    expect((await page({ after_number: '0'.repeat(30) + String(firstNumber) })).json).toEqual(rest);
    expect((await page({ after_number: `+${firstNumber}`, limit: '010' })).json).toEqual(rest);
    expect((await page({ after_number: Number.MAX_SAFE_INTEGER, limit: '0000000000000000000001' })).json).toMatchObject(
      { sessions: [], last_number: null },
    );
  });

  it('events_after: a cursor of at most 1024 characters', async () => {
    const a = await getSession(ids[0]!, { events_after: 'A'.repeat(1025) });
    expect(issue(a)).toMatchObject({ loc: ['query', 'events_after'] });
    const cursor = Buffer.from(JSON.stringify([0, 'x'.repeat(700)])).toString('base64url');
    expect(cursor.length).toBeLessThanOrEqual(1024);
    expect((await getSession(ids[0]!, { events_after: cursor })).status).toBe(200);
  });
});
