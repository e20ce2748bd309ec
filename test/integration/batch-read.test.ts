/**
 * Reading a released batch against DynamoDB Local: the per-shard ranges of get_batch split a batch
 * between N independent readers that together visit every session exactly once (several batch
 * sizes, N = 1, 3, 8), a page reads storage only for the sessions it returns, and readRange returns
 * whole sessions past any events limit.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  getBatch,
  getBatchSessions,
  readRange,
  releaseBatch,
  type ShardRange,
} from '../../functions/domain/batches.js';
import { createSession, markIrrelevant, pushEvents } from '../../functions/domain/sessions.js';
import { documentClient } from '../../functions/storage/client.js';
import { SHARD_STRIDE } from '../../functions/storage/keys.js';
import { content } from '../support/sessions.js';
import { useFreshTable } from '../support/table.js';

const SHARDS = 8;

/** Creates `size` sessions (every third one with events, every fifth irrelevant) and releases them. */
async function releasedBatch(
  prefix: string,
  size: number,
): Promise<{ batchId: string; ids: string[]; irrelevant: Set<string> }> {
  const ids = Array.from({ length: size }, (_, i) => `${prefix}-${i}`);
  const irrelevant = new Set(ids.filter((_, i) => i % 5 === 1));
  for (const [i, id] of ids.entries()) {
    await createSession({ sessionId: id, content: content(i) });
    if (i % 3 === 0)
      await pushEvents(
        id,
        Array.from({ length: 1 + (i % 4) }, (_, k) => ({
          eventId: `e${k}`,
          content: { object_id: `o${i}`, event_type: 'click', meta: null },
        })),
      );
    if (irrelevant.has(id)) await markIrrelevant(id);
  }
  const { batchId } = await releaseBatch(`${prefix}-release`);
  return { batchId, ids, irrelevant };
}

/** One reader: pages through its ranges with after_number / last_number, bounded by until_number. */
async function reader(
  batchId: string,
  ranges: ShardRange[],
  limit: number,
  includeIrrelevant = true,
): Promise<string[]> {
  const seen: string[] = [];
  for (const range of ranges) {
    let after = range.afterNumber;
    for (let guard = 0; guard < 10_000; guard++) {
      const page = await getBatchSessions({
        batchId,
        afterNumber: after,
        untilNumber: range.untilNumber,
        limit,
        includeIrrelevant,
        events: { limit: 1000 },
      });
      if (page.lastNumber === null) break;
      for (const s of page.sessions) {
        expect(s.session.sessionNumber).toBeGreaterThan(range.afterNumber);
        expect(s.session.sessionNumber).toBeLessThanOrEqual(range.untilNumber);
        seen.push(s.session.sessionId);
      }
      after = page.lastNumber;
    }
  }
  return seen;
}

/** Splits the ranges between n readers (round robin) and runs them at once. */
async function readInParallel(batchId: string, n: number, limit: number, includeIrrelevant = true): Promise<string[]> {
  const { ranges } = await getBatch(batchId);
  const shares = Array.from({ length: n }, (_, r) => ranges!.filter((_, i) => i % n === r));
  const results = await Promise.all(shares.map((share) => reader(batchId, share, limit, includeIrrelevant)));
  return results.flat();
}

describe('parallel readers over the ranges of get_batch', () => {
  const batches: { size: number; batchId: string; ids: string[]; irrelevant: Set<string> }[] = [];

  beforeAll(async () => {
    await useFreshTable({ CLICKSTREAM_BATCH_SHARDS: String(SHARDS) });
    for (const size of [1, 23, 130]) batches.push({ size, ...(await releasedBatch(`b${size}`, size)) });
  }, 300_000);

  it('lists one range per shard whose counts add up to the batch', async () => {
    for (const b of batches) {
      const info = await getBatch(b.batchId);
      expect(info.ranges).toHaveLength(SHARDS);
      expect(info.ranges!.map((r) => r.shard)).toEqual([...Array(SHARDS).keys()]);
      for (const r of info.ranges!) {
        expect(r.afterNumber).toBe(r.shard * SHARD_STRIDE);
        expect(r.untilNumber).toBe((r.shard + 1) * SHARD_STRIDE - 1);
      }
      expect(info.ranges!.reduce((n, r) => n + r.sessionCount, 0)).toBe(b.size);
      // Each range's count is what a reader of that range finds.
      for (const r of info.ranges!) expect(await reader(b.batchId, [r], 1000)).toHaveLength(r.sessionCount);
    }
  });

  for (const n of [1, 3, 8]) {
    it(`${n} reader(s) visit every session exactly once, for every batch size`, async () => {
      for (const b of batches) {
        for (const limit of [1, 4, 1000]) {
          const seen = await readInParallel(b.batchId, n, limit);
          expect(seen).toHaveLength(b.size);
          expect([...seen].sort()).toEqual([...b.ids].sort());
        }
        const relevant = await readInParallel(b.batchId, n, 3, false);
        expect([...relevant].sort()).toEqual(b.ids.filter((id) => !b.irrelevant.has(id)).sort());
      }
    });
  }

  it('gives the same sessions with eventually consistent reads', async () => {
    const b = batches[2]!;
    const strong = await getBatchSessions({
      batchId: b.batchId,
      afterNumber: 0,
      limit: 1000,
      includeIrrelevant: true,
      events: { limit: 1000 },
    });
    const eventual = await getBatchSessions({
      batchId: b.batchId,
      afterNumber: 0,
      limit: 1000,
      includeIrrelevant: true,
      consistent: false,
      events: { limit: 1000 },
    });
    expect(eventual.sessions).toEqual(strong.sessions);
    expect(strong.sessions).toHaveLength(b.size);
  });

  it('reads storage only for the sessions a page returns (and the irrelevant ones it passes over)', async () => {
    const b = batches[2]!;
    const queried: string[] = [];
    const client = documentClient();
    client.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { ExpressionAttributeValues?: Record<string, unknown> };
        const pk = input.ExpressionAttributeValues?.[':pk'];
        if (typeof pk === 'string' && pk.startsWith('SESSION#')) queried.push(pk.slice('SESSION#'.length));
        return next(args);
      },
      { step: 'initialize', name: 'countPartitionReads' },
    );
    try {
      const all = await getBatchSessions({
        batchId: b.batchId,
        afterNumber: 0,
        limit: 1000,
        includeIrrelevant: true,
        events: { limit: 1 },
      });
      const order = all.sessions.map((s) => s.session.sessionId);
      for (const limit of [1, 5, 10]) {
        queried.length = 0;
        const page = await getBatchSessions({
          batchId: b.batchId,
          afterNumber: 0,
          limit,
          includeIrrelevant: false,
          events: { limit: 10 },
        });
        expect(page.sessions).toHaveLength(limit);
        // Exactly the sessions up to the last one returned, each read once: nothing beyond it.
        const upTo = order.slice(0, order.indexOf(page.sessions.at(-1)!.session.sessionId) + 1);
        expect([...queried].sort()).toEqual([...upTo].sort());
        expect(upTo.filter((id) => !b.irrelevant.has(id))).toEqual(page.sessions.map((s) => s.session.sessionId));
      }
    } finally {
      client.middlewareStack.remove('countPartitionReads');
    }
  });
});

describe("readRange (the export worker's read)", () => {
  beforeAll(async () => {
    await useFreshTable({ CLICKSTREAM_BATCH_SHARDS: '2' });
  });

  it('returns every session of a range whole, past any events limit, and says where to go on', async () => {
    const many = 2_500; // more than a batch page's events_limit (1,000) and several partition pages
    await createSession({ sessionId: 'big', content: content(0) });
    for (let k = 0; k < many; k += 1000) {
      const n = Math.min(1000, many - k);
      await pushEvents(
        'big',
        Array.from({ length: n }, (_, j) => ({
          eventId: `e${String(k + j).padStart(5, '0')}`,
          content: { object_id: 'o0', event_type: 'click', meta: null },
        })),
      );
    }
    for (let i = 1; i < 12; i++) await createSession({ sessionId: `s${i}`, content: content(i) });
    const { batchId } = await releaseBatch('range-release');
    const { ranges } = await getBatch(batchId);

    const found = new Map<string, number>();
    for (const range of ranges!) {
      let after: number | null = range.afterNumber;
      for (let guard = 0; after !== null && guard < 100; guard++) {
        const part = await readRange({ batchId, afterNumber: after, untilNumber: range.untilNumber, limit: 5 });
        for (const s of part.sessions) {
          expect(found.has(s.session.sessionId)).toBe(false);
          expect(s.next).toBeUndefined();
          expect(s.events).toHaveLength(s.eventCount);
          found.set(s.session.sessionId, s.events.length);
        }
        after = part.next;
      }
      expect(after).toBeNull();
    }
    expect(found.size).toBe(12);
    expect(found.get('big')).toBe(many);
  });
});
