/**
 * The pure modules on their own: ISO timestamps and their normalization, DynamoDB's item size rules,
 * the event selection of a session read, `mapLimited`, and the item kinds of keys.ts. (The JSON guard has its own file.)
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareEvents, selectEvents } from '../../functions/domain/sessions.js';
import type { EventRecord } from '../../functions/domain/types.js';
import { mapLimited } from '../../functions/shared/concurrency.js';
import {
  inWindow,
  parseIsoTimestamp,
  SECONDS_MS_BOUNDARY,
  toMillis,
  WrittenNumber,
} from '../../functions/shared/timestamps.js';
import { itemSize } from '../../functions/storage/items.js';
import { itemOf, keys } from '../../functions/storage/keys.js';

describe('parseIsoTimestamp', () => {
  it.each([
    ['2024-02-29', Date.UTC(2024, 1, 29)],
    ['2024-02-29T12:34', Date.UTC(2024, 1, 29, 12, 34)],
    ['2024-02-29T12:34:56', Date.UTC(2024, 1, 29, 12, 34, 56)],
    ['2024-02-29 12:34:56.789Z', Date.UTC(2024, 1, 29, 12, 34, 56, 789)],
    ['2024-02-29T12:34:56,5z', Date.UTC(2024, 1, 29, 12, 34, 56, 500)],
    ['2024-02-29T12:34:56.123456Z', Date.UTC(2024, 1, 29, 12, 34, 56, 123)],
    ['2024-02-29T12:34:56+02:00', Date.UTC(2024, 1, 29, 10, 34, 56)],
    ['2024-02-29T12:34:56-0130', Date.UTC(2024, 1, 29, 14, 4, 56)],
    ['2024-02-29T00:00:00+05', Date.UTC(2024, 1, 28, 19)],
    ['0099-01-01', new Date('0099-01-01T00:00:00Z').getTime()],
  ])('%s', (text, ms) => {
    expect(parseIsoTimestamp(text)).toBe(ms);
  });

  it.each([
    '2023-02-29',
    '2024-13-01',
    '2024-00-10',
    '2024-01-00',
    '2024-04-31',
    '2024-01-01T24:00',
    '2024-01-01T23:60',
    '2024-01-01T23:59:60',
    '2024-01-01T00:00+24:00',
    '2024-01-01T00:00+01:60',
    '2024-1-01',
    '20240101',
    'yesterday',
    '',
    '2024-01-01T',
    '2024-01-01T10',
  ])('refuses %j', (text) => {
    expect(parseIsoTimestamp(text)).toBeUndefined();
  });
});

describe('toMillis', () => {
  it('reads integers below 1e11 as seconds and from 1e11 as milliseconds', () => {
    expect(toMillis(0)).toBe(0);
    expect(toMillis(1_700_000_000)).toBe(1_700_000_000_000);
    expect(toMillis(SECONDS_MS_BOUNDARY - 1)).toBe((SECONDS_MS_BOUNDARY - 1) * 1000);
    expect(toMillis(SECONDS_MS_BOUNDARY)).toBe(SECONDS_MS_BOUNDARY);
    expect(toMillis(1_700_000_000_123)).toBe(1_700_000_000_123);
  });

  it('refuses floats, negatives, unsafe integers, booleans, numeric strings and other values', () => {
    for (const v of [
      1.5,
      -1,
      Number.MAX_SAFE_INTEGER + 1,
      Number.NaN,
      Infinity,
      true,
      false,
      null,
      undefined,
      '1700000000',
      {},
      [],
    ]) {
      expect(toMillis(v), String(v)).toBeUndefined();
    }
  });

  it('reads ISO strings', () => {
    expect(toMillis('2024-02-29T12:00:00Z')).toBe(Date.UTC(2024, 1, 29, 12));
  });

  it('numbers as written: a float literal is refused even with a whole value; a huge integer stays an integer of ms', () => {
    expect(toMillis(new WrittenNumber('1700000000.0'))).toBeUndefined();
    expect(toMillis(new WrittenNumber('17e8'))).toBeUndefined();
    expect(toMillis(new WrittenNumber('-9007199254740993'))).toBeUndefined();
    expect(toMillis(new WrittenNumber('9007199254740993'))).toBe(9007199254740992);
    expect(toMillis(new WrittenNumber('9'.repeat(400)))).toBe(Number.MAX_VALUE);
  });
});

describe('inWindow', () => {
  const window = { maxDeltaMinusSec: 60, maxDeltaPlusSec: 5 };
  const now = 1_700_000_000_000;
  it('includes both ends and nothing beyond them', () => {
    expect(inWindow(now - 60_000, now, window)).toBe(true);
    expect(inWindow(now - 60_001, now, window)).toBe(false);
    expect(inWindow(now + 5_000, now, window)).toBe(true);
    expect(inWindow(now + 5_001, now, window)).toBe(false);
    expect(inWindow(now, now, { maxDeltaMinusSec: 0, maxDeltaPlusSec: 0 })).toBe(true);
  });
});

describe('itemSize (DynamoDB item size rules)', () => {
  it('counts names and UTF-8 bytes of strings, 21 per number, 1 per boolean or null', () => {
    expect(itemSize({ pk: 'ab' })).toBe(2 + 2);
    expect(itemSize({ s: 'é€😀' })).toBe(1 + 2 + 3 + 4);
    expect(itemSize({ n: 1, b: true, z: null })).toBe(1 + 21 + 1 + 1 + 1 + 1);
    expect(itemSize({ gone: undefined })).toBe(0);
  });

  it('lists and maps: 3 bytes plus 1 per element, and their contents', () => {
    expect(itemSize({ l: ['ab', 1] })).toBe(1 + 3 + (1 + 2) + (1 + 21));
    expect(itemSize({ m: { k: 'v' } })).toBe(1 + 3 + (1 + 1) + 1);
    expect(itemSize({ e: [], o: {} })).toBe(1 + 3 + 1 + 3);
  });
});

describe('event selection', () => {
  const event = (createdAt: number, eventId: string, bytes = 10): EventRecord & { bytes: number } => ({
    sessionId: 's',
    eventId,
    content: { object_id: 'o', event_type: 'click', meta: null },
    createdAt,
    createdAtAuto: false,
    receivedAt: createdAt,
    bytes,
  });
  const ids = (r: { events: EventRecord[] }) => r.events.map((e) => e.eventId);

  it('orders by created_at, then event_id by code point, and says where the rest starts', () => {
    const all = [event(2, 'b'), event(1, 'z'), event(2, 'a'), event(2, '\u{1F600}'), event(2, '\uFFFF')];
    const r = selectEvents(all, { limit: 3 });
    expect(ids(r)).toEqual(['z', 'a', 'b']);
    expect(r.eventCount).toBe(5);
    expect(r.next).toEqual({ createdAt: 2, eventId: 'b' });
    const rest = selectEvents(all, { limit: 3, after: r.next! });
    expect(ids(rest)).toEqual(['\uFFFF', '\u{1F600}']);
    expect(rest.next).toBeUndefined();
  });

  it('stops at the byte budget, but always returns at least one event', () => {
    const all = [event(1, 'a', 40), event(2, 'b', 40), event(3, 'c', 40)];
    const measure = (e: EventRecord) => (e as EventRecord & { bytes: number }).bytes;
    expect(ids(selectEvents(all, { limit: 10, maxBytes: 80, measure }))).toEqual(['a', 'b']);
    expect(ids(selectEvents(all, { limit: 10, maxBytes: 1, measure }))).toEqual(['a']);
  });

  it('seen in any order and in any number, picks what sorting all of them would pick', () => {
    const arbEvent = fc.record({
      createdAt: fc.integer({ min: 0, max: 20 }),
      eventId: fc.string({ maxLength: 3 }),
      bytes: fc.integer({ min: 1, max: 50 }),
    });
    fc.assert(
      fc.property(
        // Large enough for the selector to trim (past twice the byte budget, or past the count bound).
        fc.uniqueArray(arbEvent, { selector: (e) => e.eventId, maxLength: 3000, size: 'large' }),
        fc.integer({ min: 1, max: 40 }),
        fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
        fc.option(fc.record({ createdAt: fc.integer({ min: 0, max: 20 }), eventId: fc.string({ maxLength: 3 }) }), {
          nil: undefined,
        }),
        (raw, limit, maxBytes, after) => {
          const all = raw.map((e) => event(e.createdAt, e.eventId, e.bytes));
          const measure = (e: EventRecord) => (e as EventRecord & { bytes: number }).bytes;
          const sorted = [...all].sort(compareEvents).filter((e) => !after || compareEvents(e, after) > 0);
          const want: string[] = [];
          let bytes = 0;
          for (const e of sorted) {
            if (want.length >= limit || (want.length > 0 && maxBytes !== undefined && bytes + e.bytes > maxBytes))
              break;
            want.push(e.eventId);
            bytes += e.bytes;
          }
          const got = selectEvents(all, {
            limit,
            ...(maxBytes !== undefined ? { maxBytes, measure } : {}),
            ...(after ? { after } : {}),
          });
          expect(ids(got)).toEqual(want);
          expect(got.eventCount).toBe(all.length);
          expect(got.next !== undefined).toBe(want.length < sorted.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('mapLimited', () => {
  const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

  it('keeps the input order and never has more than `limit` calls in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapLimited([5, 1, 4, 2, 3, 0, 6], 3, async (n, i) => {
      inFlight++;
      most = Math.max(most, inFlight);
      for (let k = 0; k < n; k++) await tick();
      inFlight--;
      return `${i}:${n}`;
    });
    expect(out).toEqual(['0:5', '1:1', '2:4', '3:2', '4:3', '5:0', '6:6']);
    expect(most).toBe(3);
    expect(await mapLimited([], 3, async () => 1)).toEqual([]);
  });

  it('on a failure starts no new call and rejects only after the calls in flight have finished', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const failure = new Error('boom');
    const run = mapLimited([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      if (n === 1) throw failure;
      for (let k = 0; k < 5; k++) await tick();
      finished.push(n);
      return n;
    });
    await expect(run).rejects.toBe(failure);
    expect(started).toEqual([0, 1]);
    expect(finished).toEqual([0]);
  });
});

describe('itemOf (item kinds from keys.ts)', () => {
  it('names the kind of every key keys.ts builds, and the id its partition carries', () => {
    expect(itemOf(keys.session('s#1'))).toEqual({ kind: 'session', id: 's#1' });
    expect(itemOf(keys.event('s#1', 'e1'))).toEqual({ kind: 'event', id: 's#1' });
    expect(itemOf(keys.batch('b1'))).toEqual({ kind: 'batch', id: 'b1' });
    expect(itemOf(keys.member('b1', 7, 42))).toEqual({ kind: 'member', id: 'b1' });
    expect(itemOf(keys.shard(7))).toEqual({ kind: 'shard', id: '7' });
    expect(itemOf(keys.registry())).toEqual({ kind: 'registry', id: '' });
    expect(itemOf(keys.batchLog(1_700_000_000_000, 'b1'))).toEqual({ kind: 'batchLog', id: '' });
    expect(itemOf(keys.release('r1'))).toEqual({ kind: 'release', id: 'r1' });
    expect(itemOf(keys.export('x1'))).toEqual({ kind: 'export', id: 'x1' });
    expect(itemOf(keys.exportFile('x1', 'part-0.jsonl.gz'))).toEqual({ kind: 'exportFile', id: 'x1' });
  });

  it('knows no other key', () => {
    for (const key of [
      { pk: 'SESSION#s', sk: 'OTHER' },
      { pk: 'BATCH#b', sk: 'N#1' },
      { pk: 'BATCHES', sk: 'X' },
      { pk: 'NOPE', sk: 'NOPE' },
    ]) {
      expect(itemOf(key), JSON.stringify(key)).toBeUndefined();
    }
  });
});
