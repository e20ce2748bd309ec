/**
 * Where a new session goes: a random shard, the batch that shard collects for, and a session number
 * from a block of numbers this process reserved on that shard. Blocks cut the per-create cost to one
 * transaction; numbers left unused leave gaps, which paging does not mind (numbers are unique, not dense).
 */
import { randomUUID } from 'node:crypto';
import { config } from '../shared/config.js';
import { backoff } from '../shared/concurrency.js';
import { unavailable } from '../shared/errors.js';
import { sessionNumber } from '../storage/keys.js';
import {
  bootstrapRegistry,
  getRegistry,
  initShard,
  raiseShardCount,
  reserveSequence,
} from '../storage/batch-store.js';

export const BLOCK_SIZE = 32;

interface Block {
  batchId: string;
  next: number;
  last: number;
}

const blocks = new Map<number, Block>();
let registeredShards = 0;

export interface Slot {
  shard: number;
  batchId: string;
  sessionNumber: number;
}

export function pickShard(): number {
  return Math.floor(Math.random() * config().batchShards);
}

/** Makes sure the registry exists and counts this process's shards, so releases switch them all. */
export async function ensureShardsRegistered(now: number): Promise<void> {
  const shards = config().batchShards;
  if (registeredShards >= shards) return;
  for (let attempt = 0; attempt < 12; attempt++) {
    const outcome = await raiseShardCount(shards);
    if (outcome === 'ok') {
      registeredShards = shards;
      return;
    }
    if (outcome === 'missing') {
      await bootstrapRegistry(randomUUID(), shards, now);
      continue;
    }
    await backoff(attempt); // a release is under way; it takes a moment
  }
  throw unavailable('A batch release is under way; retry the request');
}

export async function takeSlot(shard: number, now: number): Promise<Slot> {
  let block = blocks.get(shard);
  for (let attempt = 0; !block || block.next > block.last; attempt++) {
    if (attempt >= 8) throw unavailable('Could not find the collecting batch; retry the request');
    const reserved = await reserveSequence(shard, BLOCK_SIZE);
    const batchId = reserved.batchId ?? (await adoptCollectingBatch(shard, now));
    if (batchId === undefined) continue;
    block = { batchId, next: reserved.last - BLOCK_SIZE + 1, last: reserved.last };
    blocks.set(shard, block);
  }
  const sequence = block.next++;
  return { shard, batchId: block.batchId, sessionNumber: sessionNumber(shard, sequence) };
}

/** The shard's batch changed under us (a release switched it): forget what we knew of it. */
export function forgetShard(shard: number): void {
  blocks.delete(shard);
}

/** A shard that never collected joins the registry's collecting batch; undefined means "look again". */
async function adoptCollectingBatch(shard: number, now: number): Promise<string | undefined> {
  let registry = await getRegistry();
  if (!registry) {
    await bootstrapRegistry(randomUUID(), config().batchShards, now);
    registry = await getRegistry();
    if (!registry) return undefined;
  }
  return (await initShard(shard, registry.collectingBatchId)) ? registry.collectingBatchId : undefined;
}

/** For tests: start as a fresh process would. */
export function resetAllocation(): void {
  blocks.clear();
  registeredShards = 0;
}
