/**
 * Batches for fine-tuning: describe a batch, list them, and page through a released batch. Releasing
 * is in release.ts (re-exported here). A caller that meets a release abandoned by its caller (claimed
 * more than STALE_RELEASE_MS ago) finishes it before answering.
 */
import { mapLimited } from '../shared/concurrency.js';
import { conflict, notFound } from '../shared/errors.js';
import {
  countMembers,
  getBatch as readBatch,
  getBatches,
  queryBatchLog,
  queryMembers,
} from '../storage/batch-store.js';
import type { BatchLogPosition } from '../storage/batch-store.js';
import { SHARD_STRIDE, shardOfNumber } from '../storage/keys.js';
import { getRegistry } from '../storage/registry-store.js';
import { countCollecting, finishAbandonedRelease, noCollectingBatch, SHARD_CONCURRENCY } from './release.js';
import { readSession, type EventSelection, type SessionView } from './sessions.js';
import type { BatchRecord } from './types.js';

export { releaseBatch, type ReleaseAnswer } from './release.js';

export const EVENT_READ_CONCURRENCY = 16;

/**
 * The registry, after finishing a release its caller abandoned (if any: `finished`). Functions whose
 * role may not write batches (the export's) pass `finish: false`.
 */
async function settledRegistry(finish = true) {
  const registry = await getRegistry();
  const finished = finish && (await finishAbandonedRelease(registry));
  return { registry: finished ? await getRegistry() : registry, finished };
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
export async function getBatch(batchId?: string, o: { finishAbandoned?: boolean } = {}): Promise<BatchInfo> {
  let id = batchId;
  let registry: Awaited<ReturnType<typeof getRegistry>>;
  if (id === undefined) {
    ({ registry } = await settledRegistry(o.finishAbandoned));
    if (!registry) throw noCollectingBatch();
    // During a release the batch being released still collects until the release answers.
    id = registry.releasingBatchId ?? registry.collectingBatchId;
  }
  let batch = await readBatch(id);
  if (!batch) throw batchId === undefined ? noCollectingBatch() : batchNotFound(id);
  if (batch.status !== 'released' && registry === undefined) {
    const settled = await settledRegistry(o.finishAbandoned);
    registry = settled.registry;
    if (settled.finished) batch = (await readBatch(id)) ?? batch; // released by this call, perhaps
  }
  if (batch.status === 'released') {
    const released = batch;
    const shards = Array.from({ length: released.shardCount ?? 0 }, (_, shard) => shard);
    // Batches released before per-shard counts were stored: counted from the membership items.
    const counts =
      released.shardCounts ??
      (await mapLimited(shards, SHARD_CONCURRENCY, (shard) => countMembers(released.batchId, shard)));
    return {
      ...released,
      sessionCount: released.sessionCount ?? 0,
      ranges: shards.map((shard) => shardRange(shard, counts[shard] ?? 0)),
    };
  }
  return { ...batch, sessionCount: (await countCollecting(id, registry?.shardCount ?? 0)) + (batch.erasedCount ?? 0) };
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
  const read = async () => {
    const found = await getBatches(page.entries.map((e) => e.batchId));
    return page.entries.map((e) => found.get(e.batchId)).filter((b): b is BatchRecord => b !== undefined);
  };
  let records = await read();
  let registry: Awaited<ReturnType<typeof getRegistry>>;
  if (records.some((b) => b.status !== 'released')) {
    const settled = await settledRegistry();
    registry = settled.registry;
    if (settled.finished) records = await read(); // an abandoned release was finished
  }
  const shardCount = registry?.shardCount ?? 0;
  const batches = await mapLimited(records, 4, async (b) => ({
    ...b,
    sessionCount:
      b.status === 'released'
        ? (b.sessionCount ?? 0)
        : (await countCollecting(b.batchId, shardCount)) + (b.erasedCount ?? 0),
  }));
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
  /** Default true: a batch whose release was abandoned is released first (false for the export's functions). */
  finishAbandoned?: boolean;
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
  let batch = await readBatch(req.batchId);
  if (!batch) throw batchNotFound(req.batchId);
  if (
    batch.status !== 'released' &&
    req.finishAbandoned !== false &&
    (await finishAbandonedRelease(await getRegistry()))
  )
    batch = (await readBatch(req.batchId)) ?? batch;
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
    // Fewer than `want` members only at the end of the shard's range (tombstones are skipped).
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
  const { includeIrrelevant = true, consistent = true, maxBytes = RANGE_MAX_BYTES, ...range } = req;
  const page = await getBatchSessions({
    ...range,
    includeIrrelevant,
    consistent,
    maxBytes,
    events: { limit: Number.POSITIVE_INFINITY },
    measure: (v) => v.storedBytes ?? 0,
    finishAbandoned: false, // export workers: their role writes only export records
  });
  return { sessions: page.sessions, next: page.more ? (page.lastNumber ?? null) : null };
}
