/**
 * Releasing the collecting batch: idempotent per release_id, race-free with conditional writes and
 * transactions, and finished by whoever meets it unfinished (README, "Batch assignment and release").
 *
 *   1. claim    - one transaction binds release_id to the collecting batch B, opens batch B' and
 *                 records in the registry that the release is under way (and since when).
 *   2. seal     - on every shard the registry counts (read after the claim): switch the pointer from
 *                 B to B' (it keeps B's sequence range), then make every number of that range a member
 *                 or a tombstone. After this no session can join B on that shard.
 *   3. finalize - one transaction marks the release and B released with the per-shard member counts
 *                 (counted after sealing: every finisher counts the same) and frees the registry.
 */
import { randomUUID } from 'node:crypto';
import { backoff, mapLimited } from '../shared/concurrency.js';
import { notFound, unavailable } from '../shared/errors.js';
import {
  claimRelease,
  countMembers,
  finalizeRelease,
  getBatch as readBatch,
  getRelease,
  getShards,
  putTombstone,
  queryMemberPage,
  type SequenceRange,
  switchShard,
} from '../storage/batch-store.js';
import { sessionNumber } from '../storage/keys.js';
import { getRegistry } from '../storage/registry-store.js';
import type { RegistryRecord, ReleaseRecord } from './types.js';

const MAX_RELEASE_ROUNDS = 20;
/** Counts a finisher makes while erasures keep changing the batch, before it leaves the release to a retry. */
const MAX_FINALIZE_ROUNDS = 5;
export const SHARD_CONCURRENCY = 16;
const TOMBSTONE_CONCURRENCY = 8;
/** Items a sealing reads per Query of a member partition. */
const SEAL_PAGE = 1000;
/**
 * A release claimed longer ago than this is taken as abandoned by its caller: get_batch,
 * list_batches, get_batch_sessions and create_session then finish it (release_batch always does).
 */
export const STALE_RELEASE_MS = 5_000;
/** How long a create that met an abandoned release helps finish it, after its session is stored. */
export const CREATE_HELP_MS = 1_000;

export interface ReleaseAnswer {
  releaseId: string;
  batchId: string;
  releasedAt: number;
  sessionCount: number;
}

export const noCollectingBatch = () => notFound('There is no collecting batch');

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
    if (!(await hasSessions(batchId, registry.shardCount))) {
      // A concurrent call with this release_id may have claimed and finished the release since we
      // looked for it (its claim emptied the registry we read): then its answer is ours, not 404.
      if (await getRelease(releaseId)) continue;
      throw noCollectingBatch();
    }
    // Claimed by us or by a concurrent caller: either way the next round finishes what is recorded.
    if (!(await claimRelease({ releaseId, batchId, nextBatchId: randomUUID(), now })))
      await backoff(Math.min(round, 4));
  }
  throw unavailable('The release did not settle; retry the request');
}

/**
 * Seals every shard and finalizes. Safe to run any number of times, concurrently: each step either
 * does its work or finds it done. Returns without finalizing when the release is no longer under way.
 */
export async function completeRelease(releaseId: string, batchId: string, nextBatchId: string): Promise<void> {
  const registry = await getRegistry();
  if (!registry || registry.releasingId !== releaseId) return;
  // Read after the claim: a shard first used after this read can only name B' or later (README).
  const shardCount = registry.shardCount;
  const now = Date.now();
  const shards = Array.from({ length: shardCount }, (_, shard) => shard);
  for (let round = 0; round < MAX_FINALIZE_ROUNDS; round++) {
    // Erasures (README "Erasing a user") take members out; the batch's count keeps counting them, so
    // the count is the members seen plus those erased before they were counted, and it is written
    // only if no erasure fell between (else: count again).
    const erasedCount = (await readBatch(batchId))?.erasedCount ?? 0;
    const counts = await mapLimited(shards, SHARD_CONCURRENCY, async (shard) => {
      const range = await switchShard(shard, batchId, nextBatchId);
      return range === 'superseded' ? range : sealShard(batchId, shard, range, now);
    });
    if (counts.includes('superseded')) return; // finished by another caller; the caller re-reads it
    const shardCounts = counts as number[];
    const sessionCount = shardCounts.reduce((a, b) => a + b, 0) + erasedCount;
    if (
      await finalizeRelease({ releaseId, batchId, sessionCount, shardCount, shardCounts, erasedCount, now: Date.now() })
    )
      return;
    const batch = await readBatch(batchId);
    if (batch?.status !== 'collecting' || (batch.erasedCount ?? 0) === erasedCount) return; // finalized by another caller
  }
}

/**
 * Makes every number of `range` on one shard of a switched batch a member or a tombstone, and
 * returns how many members the batch has there. One ascending read of the batch's partition of the
 * shard finds the numbers nothing holds; each gets a tombstone unless a session took it meanwhile
 * (then it is a member). Whoever seals, the count is the same: a number seen (member or tombstone)
 * never changes, and a number not seen is settled by the conditional tombstone, whose outcome
 * every sealer learns.
 */
export async function sealShard(batchId: string, shard: number, range: SequenceRange, now: number): Promise<number> {
  if (range.until <= range.from) return 0; // no number of the batch was ever reserved on this shard
  const high = sessionNumber(shard, range.until);
  let settled = sessionNumber(shard, range.from); // numbers of the range up to here are members or tombstones
  let members = 0;
  let after = 0;
  for (;;) {
    const page = await queryMemberPage(batchId, shard, { after, limit: SEAL_PAGE, withTombstones: true });
    const holes: number[] = [];
    const through = (n: number) => {
      for (let k = settled + 1; k <= Math.min(n, high); k++) holes.push(k);
      settled = Math.max(settled, n);
    };
    for (const entry of page.entries) {
      if (entry.sessionId !== undefined) members++;
      through(entry.sessionNumber - 1);
      settled = Math.max(settled, entry.sessionNumber);
    }
    if (page.next === undefined) through(high);
    const outcomes = await mapLimited(holes, TOMBSTONE_CONCURRENCY, (n) => putTombstone(batchId, n, now));
    members += outcomes.filter((o) => o === 'member').length;
    if (page.next === undefined) return members;
    after = page.next;
  }
}

/**
 * Finishes the release the registry names if it was claimed more than STALE_RELEASE_MS ago (or
 * before claims kept their time); true when it tried. `registry` may be an eventually consistent
 * read: completeRelease reads it again, strongly consistent.
 */
export async function finishAbandonedRelease(registry: RegistryRecord | undefined, now = Date.now()): Promise<boolean> {
  if (!registry?.releasingId || !registry.releasingBatchId) return false;
  if (registry.releasingSince !== undefined && now - registry.releasingSince < STALE_RELEASE_MS) return false;
  await completeRelease(registry.releasingId, registry.releasingBatchId, registry.collectingBatchId);
  return true;
}

/**
 * A create's help: finish an abandoned release, waiting at most CREATE_HELP_MS for it. The work goes
 * on after that in the background; its failures are nobody's answer (every step is repeatable).
 */
export async function helpFinishRelease(registry: RegistryRecord): Promise<void> {
  const work = finishAbandonedRelease(registry).catch(() => false);
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, CREATE_HELP_MS);
    timer.unref?.();
  });
  await Promise.race([work, budget]);
  clearTimeout(timer);
}

function answerOf(release: ReleaseRecord): ReleaseAnswer {
  return {
    releaseId: release.releaseId,
    batchId: release.batchId,
    releasedAt: release.releasedAt!,
    sessionCount: release.sessionCount!,
  };
}

/**
 * The shards where numbers of a batch that is not released yet were reserved (one BatchGet of the
 * pointers): only their member partitions can hold its sessions. A pointer names the batch with
 * sequences after `since`, or named it before a switch (prevFrom < prevUntil); pointers written
 * before `since` was kept count as holding.
 */
async function shardsHolding(batchId: string, shardCount: number): Promise<number[]> {
  const pointers = await getShards(shardCount);
  return pointers
    .filter(
      (p) =>
        (p.batchId === batchId && (p.since === undefined || p.sequence > p.since)) ||
        (p.prevBatchId === batchId && (p.prevFrom === undefined || (p.prevUntil ?? 0) > p.prevFrom)),
    )
    .map((p) => p.shard);
}

/** Sessions of a batch that is not released yet, counted from its member partitions (tombstones left out). */
export async function countCollecting(batchId: string, shardCount: number): Promise<number> {
  const shards = await shardsHolding(batchId, shardCount);
  const counts = await mapLimited(shards, SHARD_CONCURRENCY, (shard) => countMembers(batchId, shard));
  return counts.reduce((a, b) => a + b, 0);
}

async function hasSessions(batchId: string, shardCount: number): Promise<boolean> {
  const shards = await shardsHolding(batchId, shardCount);
  const found = await mapLimited(shards, SHARD_CONCURRENCY, (shard) =>
    countMembers(batchId, shard, { atLeastOne: true }),
  );
  return found.some((n) => n > 0);
}
