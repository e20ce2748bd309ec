/**
 * Batches for fine-tuning: release the collecting batch (idempotent per release_id, race-free with
 * conditional writes and transactions), describe a batch, and page through a released batch.
 *
 * A release goes through three steps, each safe to repeat and to run concurrently; any caller that
 * finds a release under way finishes it before doing its own work, so no crash leaves one stuck:
 *   1. claim   - one transaction binds release_id to the collecting batch B and opens batch B'.
 *   2. switch  - every shard pointer moves from B to B' (conditional update); the shard keeps B's
 *                final count. After this no session can join B.
 *   3. finalize - one transaction marks the release and B released with the summed count.
 */
import { randomUUID } from 'node:crypto';
import { mapLimited } from '../shared/concurrency.js';
import { conflict, notFound, unavailable } from '../shared/errors.js';
import {
  claimRelease,
  finalizeRelease,
  getBatch as readBatch,
  getBatches,
  getRegistry,
  getRelease,
  getShards,
  queryBatchLog,
  queryMembers,
  switchShard,
} from '../storage/batch-store.js';
import { shardOfNumber } from '../storage/keys.js';
import * as sessions from '../storage/session-store.js';
import { selectEvents, type EventSelection, type SessionView } from './sessions.js';
import type { BatchLogPosition } from '../storage/batch-store.js';
import type { BatchRecord, ReleaseRecord } from './types.js';

const MAX_RELEASE_ROUNDS = 20;
const SWITCH_CONCURRENCY = 16;
const EVENT_READ_CONCURRENCY = 16;

export interface ReleaseAnswer {
  releaseId: string;
  batchId: string;
  releasedAt: number;
  sessionCount: number;
}

const noCollectingBatch = () => notFound('There is no collecting batch');

export async function releaseBatch(releaseId: string, now = Date.now()): Promise<ReleaseAnswer> {
  for (let round = 0; round < MAX_RELEASE_ROUNDS; round++) {
    const release = await getRelease(releaseId);
    if (release?.state === 'released') return answerOf(release);
    if (release) {
      await completeRelease(release.releaseId, release.batchId, release.nextBatchId);
      continue;
    }
    const registry = await getRegistry();
    if (!registry) throw noCollectingBatch();
    if (registry.releasingId && registry.releasingBatchId) {
      await completeRelease(registry.releasingId, registry.releasingBatchId, registry.collectingBatchId);
      continue;
    }
    const batchId = registry.collectingBatchId;
    if ((await countCollecting(batchId, registry.shardCount)) === 0) {
      // A concurrent call with this release_id may have claimed and finished the release since we
      // looked for it (its claim emptied the registry we read): then its answer is ours, not 404.
      if (await getRelease(releaseId)) continue;
      throw noCollectingBatch();
    }
    await claimRelease({ releaseId, batchId, nextBatchId: randomUUID(), now });
    // Claimed by us or by a concurrent caller: either way the next round finishes what is recorded.
  }
  throw unavailable('The release did not settle; retry the request');
}

async function completeRelease(releaseId: string, batchId: string, nextBatchId: string): Promise<void> {
  const registry = await getRegistry();
  // Only while the registry names this release is it unfinished; its shard count is frozen meanwhile.
  if (!registry || registry.releasingId !== releaseId) return;
  const shardCount = registry.shardCount;
  const shards = Array.from({ length: shardCount }, (_, shard) => shard);
  const counts = await mapLimited(shards, SWITCH_CONCURRENCY, (shard) => switchShard(shard, batchId, nextBatchId));
  if (counts.includes('superseded')) return; // finished by another caller; the caller re-reads it
  const sessionCount = (counts as number[]).reduce((a, b) => a + b, 0);
  await finalizeRelease({ releaseId, batchId, sessionCount, shardCount, now: Date.now() });
}

function answerOf(release: ReleaseRecord): ReleaseAnswer {
  return {
    releaseId: release.releaseId,
    batchId: release.batchId,
    releasedAt: release.releasedAt!,
    sessionCount: release.sessionCount!,
  };
}

/** Sessions of a batch that still collects, counted from the shard pointers. */
async function countCollecting(batchId: string, shardCount: number): Promise<number> {
  return (await collectingCounts(shardCount)).get(batchId) ?? 0;
}

/** Sessions per batch on the shard pointers: the collecting batch's, and a batch being released. */
async function collectingCounts(shardCount: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const add = (batchId: string | undefined, n: number) => {
    if (batchId !== undefined) counts.set(batchId, (counts.get(batchId) ?? 0) + n);
  };
  for (const s of await getShards(shardCount)) {
    add(s.batchId, s.count);
    add(s.prevBatchId, s.prevCount ?? 0);
  }
  return counts;
}

const batchNotFound = (id: string) => notFound(`Batch with id=${id} not found`);

export interface BatchInfo extends BatchRecord {
  sessionCount: number;
}

/** A batch by id, or the collecting one when no id is given. */
export async function getBatch(batchId?: string): Promise<BatchInfo> {
  let id = batchId;
  let shardCount: number | undefined;
  if (id === undefined) {
    const registry = await getRegistry();
    if (!registry) throw noCollectingBatch();
    // During a release the batch being released still collects until the release answers.
    id = registry.releasingBatchId ?? registry.collectingBatchId;
    shardCount = registry.shardCount;
  }
  const batch = await readBatch(id);
  if (!batch) throw batchId === undefined ? noCollectingBatch() : batchNotFound(id);
  if (batch.status === 'released') return { ...batch, sessionCount: batch.sessionCount ?? 0 };
  shardCount ??= (await getRegistry())?.shardCount ?? 0;
  return { ...batch, sessionCount: await countCollecting(id, shardCount) };
}

export interface BatchList {
  batches: BatchInfo[];
  /** Where the next page starts; absent on the last page. */
  next?: BatchLogPosition;
}

/**
 * Every batch, newest first (by the time it was opened), `limit` at a time: released ones with their
 * final count, the collecting one (and one being released) with its count so far.
 */
export async function listBatches(limit: number, before?: BatchLogPosition): Promise<BatchList> {
  const page = await queryBatchLog(limit, before);
  const found = await getBatches(page.entries.map((e) => e.batchId));
  const records = page.entries.map((e) => found.get(e.batchId)).filter((b): b is BatchRecord => b !== undefined);
  const collecting = records.filter((b) => b.status !== 'released');
  const shardCount = collecting.length > 0 ? ((await getRegistry())?.shardCount ?? 0) : 0;
  const counts = collecting.length > 0 ? await collectingCounts(shardCount) : new Map<string, number>();
  const batches = records.map((b) => ({ ...b, sessionCount: b.status === 'released' ? (b.sessionCount ?? 0) : (counts.get(b.batchId) ?? 0) }));
  const last = page.entries.at(-1);
  return { batches, ...(page.more && last ? { next: last } : {}) };
}

export interface BatchPageRequest {
  batchId: string;
  afterNumber: number;
  limit: number;
  includeIrrelevant: boolean;
  events: EventSelection;
  /** Ends the page early (at least one session) once the sessions' measured size reaches this. */
  maxBytes?: number;
  measure?: (view: SessionView) => number;
  /** Ends the page early (at least one session) after this time. */
  deadline?: number;
}

export interface BatchPage {
  batchId: string;
  lastNumber: number | null;
  sessions: SessionView[];
}

/**
 * Sessions of a released batch with a number above `afterNumber`, ascending. Numbers ascend shard by
 * shard, so the page reads the shard of `afterNumber` first and moves on to the following shards.
 */
export async function getBatchSessions(req: BatchPageRequest): Promise<BatchPage> {
  const batch = await readBatch(req.batchId);
  if (!batch) throw batchNotFound(req.batchId);
  if (batch.status !== 'released') throw conflict(`Batch with id=${req.batchId} is still collecting`);

  const shardCount = batch.shardCount ?? 0;
  const page: SessionView[] = [];
  let bytes = 0;
  let after = req.afterNumber;
  let shard = shardOfNumber(after);
  const full = () =>
    page.length >= req.limit ||
    (page.length > 0 && req.deadline !== undefined && Date.now() > req.deadline) ||
    (page.length > 0 && req.maxBytes !== undefined && bytes >= req.maxBytes);

  while (shard < shardCount && !full()) {
    const want = req.limit - page.length;
    const members = await queryMembers(req.batchId, shard, after, req.includeIrrelevant ? want : Math.min(1000, want * 2));
    if (members.length === 0) {
      shard++;
      after = 0;
      continue;
    }
    const found = await sessions.getSessions(members.map((m) => m.sessionId));
    const wanted = members.filter((m) => {
      const s = found.get(m.sessionId);
      return s !== undefined && (req.includeIrrelevant || !s.isIrrelevant);
    });
    const events = await mapLimited(wanted, EVENT_READ_CONCURRENCY, (m) => sessions.getSessionEvents(m.sessionId));
    after = members.at(-1)!.sessionNumber;
    for (const [i, member] of wanted.entries()) {
      const view: SessionView = { session: found.get(member.sessionId)!, ...selectEvents(events[i]!, req.events) };
      const size = req.measure?.(view) ?? 0;
      if (page.length > 0 && req.maxBytes !== undefined && bytes + size > req.maxBytes) {
        bytes = req.maxBytes; // does not fit: the page ends before it
        break;
      }
      page.push(view);
      bytes += size;
      if (full()) break;
    }
  }
  const last = page.at(-1);
  return { batchId: req.batchId, lastNumber: last ? last.session.sessionNumber : null, sessions: page };
}

