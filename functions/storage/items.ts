/**
 * Mapping between domain records and table items, and DynamoDB's item-size rule. JSON-valued
 * content (queries, results, meta objects) is stored as JSON text: DynamoDB maps lose key order,
 * refuse numbers outside 1e-130..1e126 and nesting beyond 32 levels; text keeps what was sent.
 */
import { config } from '../shared/config.js';
import { tooLarge } from '../shared/errors.js';
import type {
  BatchRecord,
  EventRecord,
  RegistryRecord,
  ReleaseRecord,
  SessionContent,
  SessionRecord,
  ShardRecord,
} from '../domain/types.js';
import { keys, shardOfNumber } from './keys.js';

/** DynamoDB's item limit is 400 KB (409,600 bytes); keep room for later updates of the item. */
export const MAX_ITEM_BYTES = 409_600;
const UPDATE_HEADROOM_BYTES = 1_024;

export type Item = Record<string, unknown>;

/** The size DynamoDB charges and limits: attribute names plus values (UTF-8), numbers at most 21. */
export function itemSize(item: Item): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    size += Buffer.byteLength(name) + valueSize(value);
  }
  return size;
}

function valueSize(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number') return 21;
  if (typeof value === 'boolean' || value === null) return 1;
  if (Array.isArray(value)) return 3 + value.reduce<number>((n, v) => n + 1 + valueSize(v), 0);
  if (typeof value === 'object') return 3 + itemSize(value as Item) + Object.keys(value as Item).length;
  return 0;
}

export function assertFits(item: Item, what: string): void {
  const size = itemSize(item);
  if (size > MAX_ITEM_BYTES - UPDATE_HEADROOM_BYTES) {
    throw tooLarge(
      `${what} needs ${size} bytes of storage; at most ${MAX_ITEM_BYTES - UPDATE_HEADROOM_BYTES} bytes fit one record`,
    );
  }
}

export function expiresAt(now: number): number | undefined {
  const { retentionDays } = config();
  return retentionDays > 0 ? Math.floor(now / 1000) + retentionDays * 86_400 : undefined;
}

export function sessionItem(r: SessionRecord): Item {
  return {
    ...keys.session(r.sessionId),
    sessionId: r.sessionId,
    content: JSON.stringify(r.content),
    createdAt: r.createdAt,
    createdAtAuto: r.createdAtAuto,
    receivedAt: r.receivedAt,
    batchId: r.batchId,
    sessionNumber: r.sessionNumber,
    expiresAt: expiresAt(r.receivedAt),
    ...(r.ownerSub !== undefined ? { ownerSub: r.ownerSub } : {}),
  };
}

/** Sessions stored before `sort_by.force_not_payload` existed read as its default, false. */
function sessionContent(text: string): SessionContent {
  const content = JSON.parse(text) as SessionContent;
  if (content.sort_by && content.sort_by.force_not_payload === undefined)
    content.sort_by = { ...content.sort_by, force_not_payload: false };
  return content;
}

export function toSessionRecord(item: Item): SessionRecord {
  return {
    sessionId: item.sessionId as string,
    content: sessionContent(item.content as string),
    createdAt: item.createdAt as number,
    createdAtAuto: item.createdAtAuto === true,
    receivedAt: item.receivedAt as number,
    isIrrelevant: item.isIrrelevant === true,
    batchId: item.batchId as string,
    sessionNumber: item.sessionNumber as number,
    ...(typeof item.ownerSub === 'string' ? { ownerSub: item.ownerSub } : {}),
  };
}

export function eventItem(r: EventRecord): Item {
  return {
    ...keys.event(r.sessionId, r.eventId),
    content: JSON.stringify(r.content),
    createdAt: r.createdAt,
    createdAtAuto: r.createdAtAuto,
    receivedAt: r.receivedAt,
    expiresAt: expiresAt(r.receivedAt),
    ...(r.writeToken !== undefined ? { writeToken: r.writeToken } : {}),
  };
}

export function toEventRecord(item: Item): EventRecord {
  return {
    sessionId: keys.sessionIdOf(item.pk as string),
    eventId: keys.eventIdOf(item.sk as string),
    content: JSON.parse(item.content as string),
    createdAt: item.createdAt as number,
    createdAtAuto: item.createdAtAuto === true,
    receivedAt: item.receivedAt as number,
    ...(typeof item.writeToken === 'string' ? { writeToken: item.writeToken } : {}),
  };
}

// ---------------------------------------------------------------- batches

/** A session's membership item in its batch's partition of its shard (also its events counter). */
export function memberItem(r: SessionRecord): Item {
  return {
    ...keys.member(r.batchId, shardOfNumber(r.sessionNumber), r.sessionNumber),
    sessionId: r.sessionId,
    sessionNumber: r.sessionNumber,
    expiresAt: expiresAt(r.receivedAt),
  };
}

/**
 * A number of a sealed batch that no session took: the release puts it where a member would be, so
 * that a creator still holding that number can no longer join the batch. Readers skip it.
 */
export function tombstoneItem(batchId: string, sessionNumber: number, now: number): Item {
  return {
    ...keys.member(batchId, shardOfNumber(sessionNumber), sessionNumber),
    sessionNumber,
    tombstone: true,
    expiresAt: expiresAt(now),
  };
}

/** Attribute that marks a tombstone (see `tombstoneItem`). */
export const TOMBSTONE_ATTRIBUTE = 'tombstone';

export interface MemberEntry {
  sessionNumber: number;
  /** Absent on a tombstone. */
  sessionId?: string;
}

export function toMemberEntry(item: Item): MemberEntry {
  return {
    sessionNumber: item.sessionNumber as number,
    ...(item.tombstone === true || typeof item.sessionId !== 'string' ? {} : { sessionId: item.sessionId }),
  };
}

export function toRegistryRecord(item: Item): RegistryRecord {
  return {
    collectingBatchId: item.collectingBatchId as string,
    shardCount: item.shardCount as number,
    ...(typeof item.releasingId === 'string' ? { releasingId: item.releasingId } : {}),
    ...(typeof item.releasingBatchId === 'string' ? { releasingBatchId: item.releasingBatchId } : {}),
    ...(typeof item.releasingSince === 'number' ? { releasingSince: item.releasingSince } : {}),
  };
}

const optionalNumber = (v: unknown) => (typeof v === 'number' ? v : undefined);
const optionalString = (v: unknown) => (typeof v === 'string' ? v : undefined);

export function toShardRecord(item: Item): ShardRecord {
  return {
    shard: keys.shardOf(item.pk as string),
    batchId: optionalString(item.batchId),
    sequence: optionalNumber(item.sequence) ?? 0,
    since: optionalNumber(item.since),
    prevBatchId: optionalString(item.prevBatchId),
    prevFrom: optionalNumber(item.prevFrom),
    prevUntil: optionalNumber(item.prevUntil),
  };
}

export function toBatchRecord(item: Item): BatchRecord {
  return {
    batchId: item.batchId as string,
    status: item.status as BatchRecord['status'],
    createdAt: item.createdAt as number,
    releasedAt: optionalNumber(item.releasedAt),
    releaseId: optionalString(item.releaseId),
    sessionCount: optionalNumber(item.sessionCount),
    shardCount: optionalNumber(item.shardCount),
    ...(Array.isArray(item.shardCounts) ? { shardCounts: item.shardCounts as number[] } : {}),
    // Erasure (functions/storage/erasure-store.ts counts what it takes out of the batch).
    ...(typeof item.erasedCount === 'number' ? { erasedCount: item.erasedCount } : {}),
    ...(typeof item.lastErasedAt === 'number' ? { lastErasedAt: item.lastErasedAt } : {}),
  };
}

/** Where a batch stands in the batch log. */
export interface BatchLogPosition {
  createdAt: number;
  batchId: string;
}

export function toBatchLogPosition(item: Item): BatchLogPosition {
  return { batchId: item.batchId as string, createdAt: item.createdAt as number };
}

export function toReleaseRecord(item: Item): ReleaseRecord {
  return {
    releaseId: item.releaseId as string,
    batchId: item.batchId as string,
    nextBatchId: item.nextBatchId as string,
    state: item.state as ReleaseRecord['state'],
    releasedAt: optionalNumber(item.releasedAt),
    sessionCount: optionalNumber(item.sessionCount),
  };
}
