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
  countMembers,
  queryBatchLog,
  queryMembers,
  switchShard,
} from '../storage/batch-store.js';
import type { BatchLogPosition } from '../storage/batch-store.js';
import { SHARD_STRIDE, shardOfNumber } from '../storage/keys.js';
import { readSession, type EventSelection, type SessionView } from './sessions.js';
import type { BatchRecord, ReleaseRecord } from './types.js';

const MAX_RELEASE_ROUNDS = 20;
const SWITCH_CONCURRENCY = 16;
export const EVENT_READ_CONCURRENCY = 16;

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
  const shardCounts = counts as number[];
  const sessionCount = shardCounts.reduce((a, b) => a + b, 0);
  await finalizeRelease({ releaseId, batchId, sessionCount, shardCount, shardCounts, now: Date.now() });
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

/**
 * The numbers of one shard: `afterNumber < session_number <= untilNumber` holds exactly the
 * sessions created on it (`session_number = shard * 2^40 + sequence`, sequence from 1).
 */
export interface ShardRange {
  shard: number;
  afterNumber: number;
  untilNumber: number;
  sessionCount: number;
}

export interface BatchInfo extends BatchRecord {
  sessionCount: number;
  /** For a released batch: one range per shard, for readers that split the batch between them. */
  ranges?: ShardRange[];
}

export const shardRange = (shard: number, sessionCount: number): ShardRange => ({
  shard,
  afterNumber: shard * SHARD_STRIDE,
  untilNumber: (shard + 1) * SHARD_STRIDE - 1,
  sessionCount,
});

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
  if (batch.status === 'released') {
    const shards = Array.from({ length: batch.shardCount ?? 0 }, (_, shard) => shard);
    // Batches released before per-shard counts were stored: counted from the membership items.
    const counts = batch.shardCounts ?? (await mapLimited(shards, SWITCH_CONCURRENCY, (shard) => countMembers(batch.batchId, shard)));
    return { ...batch, sessionCount: batch.sessionCount ?? 0, ranges: shards.map((shard) => shardRange(shard, counts[shard] ?? 0)) };
  }
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
  /** Inclusive upper bound on session_number (default: none), so that readers can split a batch. */
  untilNumber?: number;
  limit: number;
  includeIrrelevant: boolean;
  /** Strongly consistent (default) or eventually consistent reads (half the read units). */
  consistent?: boolean;
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
  /** False when every session up to `untilNumber` has been looked at: nothing follows this page. */
  more: boolean;
}

/** Members asked for at most per Query. */
const MEMBER_PAGE = 1000;

/**
 * Sessions of a released batch with `afterNumber < number <= untilNumber`, ascending. Numbers ascend
 * shard by shard, so the page reads the shard of `afterNumber` first and moves on to the following
 * shards. It reads storage only for the sessions it returns: the members it needs (one Query per
 * shard), then each session with its events in one Query of the session's partition, at most
 * EVENT_READ_CONCURRENCY at once and never more than the page still needs. Irrelevant sessions that
 * are left out cost the first page of their partition (where their flag is); a page that ends on its
 * byte budget or deadline may have read up to EVENT_READ_CONCURRENCY - 1 sessions it does not return.
 */
export async function getBatchSessions(req: BatchPageRequest): Promise<BatchPage> {
  const batch = await readBatch(req.batchId);
  if (!batch) throw batchNotFound(req.batchId);
  if (batch.status !== 'released') throw conflict(`Batch with id=${req.batchId} is still collecting`);

  const until = req.untilNumber ?? Number.MAX_SAFE_INTEGER;
  const lastShard = Math.min((batch.shardCount ?? 0) - 1, shardOfNumber(until));
  const consistent = req.consistent ?? true;
  const page: SessionView[] = [];
  let bytes = 0;
  let after = req.afterNumber;
  let shard = shardOfNumber(after);
  let ended = false; // the page ended on its byte budget
  const full = () =>
    ended ||
    page.length >= req.limit ||
    (page.length > 0 && req.deadline !== undefined && Date.now() > req.deadline) ||
    (page.length > 0 && req.maxBytes !== undefined && bytes >= req.maxBytes);

  while (shard <= lastShard && !full()) {
    const want = Math.min(MEMBER_PAGE, req.limit - page.length);
    const members = await queryMembers(req.batchId, shard, after, want, { until, consistent });
    let i = 0;
    while (i < members.length && !full()) {
      const chunk = members.slice(i, i + Math.min(EVENT_READ_CONCURRENCY, req.limit - page.length));
      const views = await mapLimited(chunk, EVENT_READ_CONCURRENCY, (m) =>
        readSession(m.sessionId, { consistent, includeIrrelevant: req.includeIrrelevant, events: req.events }),
      );
      for (const view of views) {
        if (view) {
          const size = req.measure?.(view) ?? 0;
          if (page.length > 0 && req.maxBytes !== undefined && bytes + size > req.maxBytes) {
            ended = true; // does not fit: the page ends before it
            break;
          }
          page.push(view);
          bytes += size;
        }
        i++;
        if (full()) break;
      }
    }
    if (i > 0) after = members[i - 1]!.sessionNumber;
    if (full() && i < members.length) break;
    if (members.length < want) {
      // The shard has nothing more up to `until`.
      shard++;
      after = 0;
    }
  }
  const last = page.at(-1);
  return {
    batchId: req.batchId,
    lastNumber: last ? last.session.sessionNumber : null,
    sessions: page,
    more: shard <= lastShard,
  };
}

export interface RangeRequest {
  batchId: string;
  /** Exclusive lower bound on session_number: a range's afterNumber, then the previous `next`. */
  afterNumber: number;
  /** Inclusive upper bound on session_number. */
  untilNumber: number;
  /** Sessions at most. */
  limit: number;
  /** Strongly consistent (default) or eventually consistent reads (half the read units). */
  consistent?: boolean;
  /** Default true: an export keeps irrelevant sessions (they are the negatives of the pairs format). */
  includeIrrelevant?: boolean;
  /** Stops adding sessions (at least one) once their stored size reaches this; default 32 MB. */
  maxBytes?: number;
}

export interface RangeResult {
  /** Whole sessions, with every event (sorted by created_at, event_id). */
  sessions: SessionView[];
  /** Pass as afterNumber to read on; null when the range is read completely. */
  next: number | null;
}

const RANGE_MAX_BYTES = 32 * 1024 * 1024;

/**
 * Part of a range of a released batch, every session whole with all of its events, for an export
 * worker: call again with `afterNumber = next` until `next` is null. Each session is held in memory
 * whole (its events must be sorted); sessions stop being added once `maxBytes` of them are read.
 */
export async function readRange(req: RangeRequest): Promise<RangeResult> {
  const page = await getBatchSessions({
    batchId: req.batchId,
    afterNumber: req.afterNumber,
    untilNumber: req.untilNumber,
    limit: req.limit,
    includeIrrelevant: req.includeIrrelevant ?? true,
    consistent: req.consistent ?? true,
    events: { limit: Number.POSITIVE_INFINITY },
    maxBytes: req.maxBytes ?? RANGE_MAX_BYTES,
    measure: (v) => v.storedBytes ?? 0,
  });
  return { sessions: page.sessions, next: page.more ? (page.lastNumber ?? null) : null };
}
