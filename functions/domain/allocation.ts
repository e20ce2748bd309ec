/**
 * Where a new session goes: the block of session numbers this process holds. A block is BLOCK_SIZE
 * numbers reserved on one random shard (`ADD sequence` on the shard's pointer, outside any
 * transaction), all in the batch the pointer named at that moment. One block per process at a time
 * keeps the numbers a release may have to seal small (processes × BLOCK_SIZE); the spread over the
 * shards comes from the many processes. Numbers left unused leave gaps that a release fills with
 * tombstones (numbers are unique, not dense).
 */
import { randomUUID } from 'node:crypto';
import { config } from '../shared/config.js';
import { backoff } from '../shared/concurrency.js';
import { unavailable } from '../shared/errors.js';
import { initShard, reserveSequence } from '../storage/batch-store.js';
import { sessionNumber } from '../storage/keys.js';
import { bootstrapRegistry, getRegistry, raiseShardCount } from '../storage/registry-store.js';
import { STALE_RELEASE_MS } from './release.js';
import type { RegistryRecord } from './types.js';

export const BLOCK_SIZE = 32;

interface Block {
  shard: number;
  batchId: string;
  next: number;
  last: number;
  /** A release its caller abandoned, seen when the block was reserved: the block's first create helps finish it. */
  abandonedRelease?: RegistryRecord;
}

let block: Block | undefined;
let reserving: Promise<boolean> | undefined;
let registeredShards = 0;

export interface Slot {
  shard: number;
  batchId: string;
  sessionNumber: number;
  /** The block the number came from (to drop it when its batch turns out sealed). */
  block: object;
  abandonedRelease?: RegistryRecord;
}

export function pickShard(): number {
  return Math.floor(Math.random() * config().batchShards);
}

/**
 * Makes sure the registry exists and counts this process's shards, so releases switch them all.
 * Never waits for a release under way (README: why a release still seals every shard it must).
 */
export async function ensureShardsRegistered(now: number): Promise<void> {
  const shards = config().batchShards;
  if (registeredShards >= shards) return;
  for (let attempt = 0; attempt < 4; attempt++) {
    if ((await raiseShardCount(shards)) === 'ok') {
      registeredShards = shards;
      return;
    }
    await bootstrapRegistry(randomUUID(), shards, now);
  }
  throw unavailable('Could not register the batch shards; retry the request');
}

/** The next number of this process's block, reserving a new block when it is used up. */
export async function takeSlot(now: number): Promise<Slot> {
  // Only reservations that found no batch count as failed attempts: concurrent requests of this
  // process may use up a new block before a waiter gets a number of it, which is no failure.
  for (let failed = 0; failed < 8;) {
    const b = block;
    if (b && b.next <= b.last) {
      const abandonedRelease = b.abandonedRelease;
      b.abandonedRelease = undefined;
      return {
        shard: b.shard,
        batchId: b.batchId,
        sessionNumber: sessionNumber(b.shard, b.next++),
        block: b,
        ...(abandonedRelease ? { abandonedRelease } : {}),
      };
    }
    // Concurrent requests of this process wait for one reservation instead of each making one.
    reserving ??= reserveBlock(now).finally(() => (reserving = undefined));
    if (!(await reserving)) failed++;
  }
  throw unavailable('Could not find the collecting batch; retry the request');
}

/** Reserves a block on a random shard; false when the shard could not be pointed at a batch (look again). */
async function reserveBlock(now: number): Promise<boolean> {
  const shard = pickShard();
  // The registry look is eventually consistent (half a read unit per block) and advisory: it only
  // serves to notice a release its caller abandoned, so its failure never fails a create.
  const [reserved, registry] = await Promise.all([
    reserveSequence(shard, BLOCK_SIZE),
    getRegistry({ consistent: false }).catch(() => undefined),
  ]);
  const first = reserved.last - BLOCK_SIZE + 1;
  const batchId = reserved.batchId ?? (await adoptCollectingBatch(shard, first - 1, now));
  if (batchId === undefined) return false;
  const abandoned =
    registry?.releasingId !== undefined &&
    (registry.releasingSince === undefined || Date.now() - registry.releasingSince >= STALE_RELEASE_MS);
  block = { shard, batchId, next: first, last: reserved.last, ...(abandoned ? { abandonedRelease: registry } : {}) };
  return true;
}

/** The block's batch was sealed (a tombstone took a number of it): forget it, the next slot reserves anew. */
export function dropBlock(of: object): void {
  if (block === of) block = undefined;
}

/**
 * A shard that never collected joins the registry's collecting batch, which owns the sequences
 * after `since` (this block's start); undefined means "look again".
 */
async function adoptCollectingBatch(shard: number, since: number, now: number): Promise<string | undefined> {
  // Strongly consistent, and read after this process registered its shards: see ensureShardsRegistered.
  let registry = await getRegistry();
  if (!registry) {
    await bootstrapRegistry(randomUUID(), config().batchShards, now);
    registry = await getRegistry();
    if (!registry) return undefined;
  }
  return (await initShard(shard, registry.collectingBatchId, since)) ? registry.collectingBatchId : undefined;
}

/** For tests: start as a fresh process would. */
export function resetAllocation(): void {
  block = undefined;
  reserving = undefined;
  registeredShards = 0;
}
