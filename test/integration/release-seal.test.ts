/**
 * The create path without shared items and the sealing release (issue 11), against DynamoDB Local:
 * a creator holding numbers of a sealed batch moves to the next batch, tombstones are invisible to
 * every reader, a shard count raised during a release blocks nothing, and a release its caller
 * abandoned is finished by whoever meets it.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { resetAllocation } from '../../functions/domain/allocation.js';
import { getBatch, getBatchSessions, listBatches, readRange, releaseBatch } from '../../functions/domain/batches.js';
import { createSession, getSession } from '../../functions/domain/sessions.js';
import { resetConfig } from '../../functions/shared/config.js';
import {
  claimRelease,
  countMembers,
  getRelease,
  insertSession,
  queryMembers,
  reserveSequence,
} from '../../functions/storage/batch-store.js';
import { documentClient } from '../../functions/storage/client.js';
import { keys, sessionNumber, shardOfNumber } from '../../functions/storage/keys.js';
import { getRegistry } from '../../functions/storage/registry-store.js';
import { content } from '../support/sessions.js';
import { useFreshTable } from '../support/table.js';

const create = (id: string, i = 0) => createSession({ sessionId: id, content: content(i) });

/** Every item of a batch's partition of one shard, tombstones included. */
async function partition(tableName: string, batchId: string, shard: number) {
  const out = await documentClient().send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.memberPartition(batchId, shard) },
      ConsistentRead: true,
    }),
  );
  return out.Items ?? [];
}

const sessionIds = async (batchId: string, limit: number) => {
  const ids: string[] = [];
  let after = 0;
  for (let guard = 0; guard < 100; guard++) {
    const page = await getBatchSessions({
      batchId,
      afterNumber: after,
      limit,
      includeIrrelevant: true,
      events: { limit: 1 },
    });
    ids.push(...page.sessions.map((s) => s.session.sessionId));
    if (!page.more || page.lastNumber === null) return ids;
    after = page.lastNumber;
  }
  throw new Error('paging did not end');
};

describe('sealing a released batch (one shard)', () => {
  let tableName: string;
  beforeEach(async () => {
    ({ tableName } = await useFreshTable({ CLICKSTREAM_BATCH_SHARDS: '1' }));
  });

  it('turns a creator holding a block of the sealed batch away: its session gets a new number in the next batch', async () => {
    await create('before');
    const collecting = (await getBatch()).batchId;
    // Numbers reserved before the release and used only after it, as a slow creator would.
    const held = await reserveSequence(0, 32);
    expect(held.batchId).toBe(collecting);
    const released = await releaseBatch('r1');
    expect(released).toMatchObject({ batchId: collecting, sessionCount: 1 });

    const now = Date.now();
    const late = {
      sessionId: 'late',
      content: content(1),
      createdAt: now,
      createdAtAuto: true,
      receivedAt: now,
      isIrrelevant: false,
      batchId: collecting,
      sessionNumber: sessionNumber(0, held.last),
    };
    expect(await insertSession(late)).toEqual({ kind: 'sealed' });
    // This process's own block (reserved before the release) is refused the same way; the create
    // moves on to a new block, which names the next batch.
    expect(await create('after')).toEqual({ created: true });
    const after = await getSession('after', { limit: 1 });
    expect(after.session.batchId).not.toBe(collecting);
    expect(after.session.batchId).toBe((await getBatch()).batchId);
    expect(await sessionIds(collecting, 10)).toEqual(['before']);
    expect(await getBatch(collecting)).toMatchObject({ status: 'released', sessionCount: 1 });
  });

  it('skips tombstones in pages, counts, ranges, exports and the batch list', async () => {
    // Three processes in turn (each starts as a fresh one), each leaving most of its block unused:
    // the sessions' numbers have gaps that the release fills with tombstones.
    for (let i = 0; i < 3; i++) {
      resetAllocation();
      await create(`s${i}`, i);
    }
    const { batchId } = await releaseBatch('r-gaps');
    const items = await partition(tableName, batchId, 0);
    expect(items.filter((i) => i.tombstone === true).length).toBe(3 * 32 - 3);
    expect(items.filter((i) => i.tombstone !== true).map((i) => i.sessionId)).toEqual(['s0', 's1', 's2']);

    for (const limit of [1, 2, 3, 10]) expect(await sessionIds(batchId, limit)).toEqual(['s0', 's1', 's2']);
    expect((await queryMembers(batchId, 0, 0, 2)).map((m) => m.sessionId)).toEqual(['s0', 's1']);
    expect(await countMembers(batchId, 0)).toBe(3);
    const batch = await getBatch(batchId);
    expect(batch).toMatchObject({ sessionCount: 3 });
    expect(batch.ranges).toEqual([expect.objectContaining({ shard: 0, sessionCount: 3 })]);
    const range = batch.ranges![0]!;
    const read: string[] = [];
    let from = range.afterNumber;
    for (let guard = 0; guard < 10; guard++) {
      const part = await readRange({ batchId, afterNumber: from, untilNumber: range.untilNumber, limit: 1 });
      read.push(...part.sessions.map((s) => s.session.sessionId));
      if (part.next === null) break;
      from = part.next;
    }
    expect(read).toEqual(['s0', 's1', 's2']);
    const listed = (await listBatches(10)).batches.find((b) => b.batchId === batchId);
    expect(listed).toMatchObject({ status: 'released', sessionCount: 3 });
  });
});

describe('a release under way', () => {
  beforeEach(async () => {
    await useFreshTable({ CLICKSTREAM_BATCH_SHARDS: '2' });
  });

  /** A release claimed `ageMs` ago whose caller then went away (nothing else of it was done). */
  async function abandonedRelease(releaseId: string, ageMs: number): Promise<string> {
    const registry = (await getRegistry())!;
    const ok = await claimRelease({
      releaseId,
      batchId: registry.collectingBatchId,
      nextBatchId: `${releaseId}-next`,
      now: Date.now() - ageMs,
    });
    expect(ok).toBe(true);
    return registry.collectingBatchId;
  }

  it('lets a process with more shards start while it is pending, and the release still seals every shard', async () => {
    for (let i = 0; i < 4; i++) {
      resetAllocation();
      await create(`old-${i}`, i);
    }
    const batchId = await abandonedRelease('pending', 0);
    // A deploy raises the shard count while the release is pending: creates go on at once.
    process.env.CLICKSTREAM_BATCH_SHARDS = '6';
    resetConfig();
    resetAllocation();
    for (let i = 0; i < 10; i++) {
      resetAllocation();
      expect(await create(`new-${i}`, i)).toEqual({ created: true });
    }
    expect((await getRegistry())!.shardCount).toBe(6);
    const answer = await releaseBatch('pending');
    // New sessions on the shards the release knows (0 and 1, not switched yet) may still join the
    // batch under release; on the new shards they can only join the next batch.
    const sessions = await Promise.all(
      ['old-0', 'old-1', 'old-2', 'old-3', ...Array.from({ length: 10 }, (_, i) => `new-${i}`)].map(
        async (id) => (await getSession(id, { limit: 1 })).session,
      ),
    );
    const inBatch = sessions
      .filter((s) => s.batchId === batchId)
      .map((s) => s.sessionId)
      .sort();
    expect(inBatch).toEqual(expect.arrayContaining(['old-0', 'old-1', 'old-2', 'old-3']));
    for (const s of sessions) {
      expect([batchId, 'pending-next']).toContain(s.batchId);
      if (shardOfNumber(s.sessionNumber) >= 2) expect(s.batchId).toBe('pending-next');
    }
    expect(sessions.some((s) => shardOfNumber(s.sessionNumber) >= 2)).toBe(true);
    expect(answer).toMatchObject({ batchId, sessionCount: inBatch.length });
    expect((await sessionIds(batchId, 3)).sort()).toEqual(inBatch);
  });

  it('is finished by get_batch once its caller abandoned it', async () => {
    await create('a');
    const batchId = await abandonedRelease('gone-1', 60_000);
    const collecting = await getBatch();
    expect(collecting).toMatchObject({ batchId: 'gone-1-next', status: 'collecting' });
    expect(await getBatch(batchId)).toMatchObject({ status: 'released', releaseId: 'gone-1', sessionCount: 1 });
    expect(await getRelease('gone-1')).toMatchObject({ state: 'released', sessionCount: 1 });
  });

  it('is finished by get_batch with the batch id', async () => {
    await create('a');
    const batchId = await abandonedRelease('gone-2', 60_000);
    expect(await getBatch(batchId)).toMatchObject({ status: 'released', releaseId: 'gone-2', sessionCount: 1 });
  });

  it('is finished by list_batches, which then shows the batch released', async () => {
    await create('a');
    const batchId = await abandonedRelease('gone-3', 60_000);
    const { batches } = await listBatches(10);
    expect(batches.find((b) => b.batchId === batchId)).toMatchObject({
      status: 'released',
      releaseId: 'gone-3',
      sessionCount: 1,
    });
    expect(await getRelease('gone-3')).toMatchObject({ state: 'released' });
  });

  it('is finished by get_batch_sessions of its batch', async () => {
    await create('a');
    const batchId = await abandonedRelease('gone-4', 60_000);
    expect(await sessionIds(batchId, 10)).toEqual(['a']);
  });

  it('is finished by a create that reserves a block, after its session is stored', async () => {
    await create('a');
    const batchId = await abandonedRelease('gone-5', 60_000);
    resetAllocation(); // a fresh process: its first create reserves a block and looks at the registry
    expect(await create('b')).toEqual({ created: true });
    let release = await getRelease('gone-5');
    for (let i = 0; i < 50 && release?.state !== 'released'; i++) {
      await new Promise((r) => setTimeout(r, 100)); // the create helps for at most a second, then in the background
      release = await getRelease('gone-5');
    }
    // 'b' took a number of the block it reserved, which may still have named the batch under release.
    const bInBatch = (await getSession('b', { limit: 1 })).session.batchId === batchId;
    expect(release).toMatchObject({ state: 'released', batchId, sessionCount: bInBatch ? 2 : 1 });
    expect((await getRegistry())!.releasingId).toBeUndefined();
  });

  it('is left to its caller while it is fresh: get_batch shows the batch under release as collecting', async () => {
    await create('a');
    const batchId = await abandonedRelease('fresh', 0);
    expect(await getBatch()).toMatchObject({ batchId, status: 'collecting', sessionCount: 1 });
    expect(await getRelease('fresh')).toMatchObject({ state: 'releasing' });
  });
});
