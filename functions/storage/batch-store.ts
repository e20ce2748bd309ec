/**
 * Batches: the per-shard pointers (which batch a shard collects for, the numbers reserved on it),
 * the create transaction, member partitions (members and tombstones), batch items and release
 * records. The registry is in registry-store.ts; condition fragments in transactions.ts.
 *
 * No item here is shared by concurrent create transactions: a create writes its session and its
 * member item (both new); numbers come from blocks reserved outside the transaction.
 */
import { GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '../shared/config.js';
import type { BatchRecord, ReleaseRecord, SessionRecord, ShardRecord } from '../domain/types.js';
import { batchGetConsistent, documentClient, queryPages } from './client.js';
import { cancellationReasons, conditionFailedItem, isConditionFailed, storageCall } from './errors.js';
import {
  assertFits,
  memberItem,
  type MemberEntry,
  sessionItem,
  TOMBSTONE_ATTRIBUTE,
  toBatchLogPosition,
  toBatchRecord,
  type BatchLogPosition,
  toMemberEntry,
  toReleaseRecord,
  toSessionRecord,
  toShardRecord,
  tombstoneItem,
} from './items.js';
import { BATCH_LOG_PREFIX, keys } from './keys.js';
import { conditions, newBatchItems, transactOrCancelled, type TransactItems } from './transactions.js';

const table = () => config().tableName;
const send = documentClient;

// ---------------------------------------------------------------- shard pointers

/**
 * Reserves `count` session numbers on a shard (`ADD sequence`, outside any transaction); also
 * tells, atomically with the block, which batch the shard collects for.
 */
export async function reserveSequence(shard: number, count: number): Promise<{ batchId?: string; last: number }> {
  const out = await storageCall(
    'reserve numbers',
    () =>
      send().send(
        new UpdateCommand({
          TableName: table(),
          Key: keys.shard(shard),
          UpdateExpression: 'ADD #seq :n',
          ExpressionAttributeNames: { '#seq': 'sequence' },
          ExpressionAttributeValues: { ':n': count },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    { retryConflicts: true },
  );
  const pointer = toShardRecord({ ...keys.shard(shard), ...out.Attributes });
  return { ...(pointer.batchId !== undefined ? { batchId: pointer.batchId } : {}), last: pointer.sequence };
}

/**
 * Points a shard that never collected at `batchId`, which owns the sequences after `since` (the
 * caller's block starts there: it was reserved before the pointer named a batch); false if the
 * shard already names a batch.
 */
export async function initShard(shard: number, batchId: string, since: number): Promise<boolean> {
  try {
    await storageCall(
      'init shard',
      () =>
        send().send(
          new UpdateCommand({
            TableName: table(),
            Key: keys.shard(shard),
            UpdateExpression: 'SET batchId = :b, since = :since',
            ConditionExpression: conditions.shardNeverCollected,
            ExpressionAttributeValues: { ':b': batchId, ':since': since },
          }),
        ),
      { retryConflicts: true },
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}

export async function getShards(shardCount: number): Promise<ShardRecord[]> {
  const shards: ShardRecord[] = Array.from({ length: shardCount }, (_, shard) => ({ shard, sequence: 0 }));
  const items = await batchGetConsistent(
    table(),
    shards.map((s) => keys.shard(s.shard)),
    storageCall,
  );
  for (const item of items) {
    const pointer = toShardRecord(item);
    shards[pointer.shard] = pointer;
  }
  return shards;
}

/** Sequences of a batch on one shard: `from < sequence <= until`. */
export interface SequenceRange {
  from: number;
  until: number;
}

/**
 * Moves one shard from `batchId` to `nextBatchId` and returns the sequences `batchId` owned on it
 * (from when the pointer started naming it to the switch). Safe to repeat and to run concurrently:
 * whoever switches records the range in the pointer (prevFrom, prevUntil), everyone else reads it
 * there. 'superseded': a later release moved the shard on, so this release was finished by others.
 */
export async function switchShard(
  shard: number,
  batchId: string,
  nextBatchId: string,
): Promise<SequenceRange | 'superseded'> {
  try {
    const out = await storageCall(
      'switch shard',
      () =>
        send().send(
          new UpdateCommand({
            TableName: table(),
            Key: keys.shard(shard),
            UpdateExpression:
              'SET prevBatchId = :b, prevFrom = if_not_exists(since, :zero), prevUntil = if_not_exists(#seq, :zero), since = if_not_exists(#seq, :zero), batchId = :next',
            ConditionExpression: `${conditions.shardNeverCollected} OR ${conditions.shardNamesBatch}`,
            ExpressionAttributeNames: { '#seq': 'sequence' },
            ExpressionAttributeValues: { ':b': batchId, ':next': nextBatchId, ':zero': 0 },
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      { retryConflicts: true },
    );
    const now = toShardRecord({ ...keys.shard(shard), ...out.Attributes });
    return { from: now.prevFrom ?? 0, until: now.prevUntil ?? 0 };
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    const old = toShardRecord({ ...keys.shard(shard), ...conditionFailedItem(err) });
    if (old.prevBatchId === batchId) return { from: old.prevFrom ?? 0, until: old.prevUntil ?? 0 };
    if (old.batchId === nextBatchId) return { from: 0, until: 0 }; // initialized straight into the next batch
    return 'superseded';
  }
}

// ---------------------------------------------------------------- sessions in batches

export type InsertResult =
  | { kind: 'created' }
  | { kind: 'exists'; existing: SessionRecord }
  /** The number is taken by a tombstone: its batch was sealed on this shard. Take a new block. */
  | { kind: 'sealed' }
  | { kind: 'contention' };

/** Refuses up front a session that could not be stored whole. */
export function assertSessionFits(record: SessionRecord): void {
  assertFits(sessionItem(record), `Session ${record.sessionId}`);
}

/**
 * The create transaction, as sent: the session (new; ALL_OLD when it exists) and its member item in
 * its batch's partition of its shard (new: a tombstone there means the batch was sealed). Two items,
 * neither shared with another create.
 */
export function createSessionItems(record: SessionRecord): TransactItems {
  const item = sessionItem(record);
  assertFits(item, `Session ${record.sessionId}`);
  return [
    {
      Put: {
        TableName: table(),
        Item: item,
        ConditionExpression: conditions.isNew,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    },
    { Put: { TableName: table(), Item: memberItem(record), ConditionExpression: conditions.isNew } },
  ];
}

/** Creates a session with its batch membership in one transaction (`createSessionItems`). */
export async function insertSession(record: SessionRecord): Promise<InsertResult> {
  const items = createSessionItems(record);
  try {
    await storageCall('create session', () => send().send(new TransactWriteCommand({ TransactItems: items })));
    return { kind: 'created' };
  } catch (err) {
    const reasons = cancellationReasons(err);
    if (!reasons) throw err;
    const [session, member] = reasons;
    if (session?.Code === 'ConditionalCheckFailed' && session.Item) {
      return { kind: 'exists', existing: toSessionRecord(session.Item) };
    }
    if (member?.Code === 'ConditionalCheckFailed') return { kind: 'sealed' };
    if (
      reasons.some(
        (r) =>
          r.Code === 'TransactionConflict' ||
          r.Code === 'ThrottlingError' ||
          r.Code === 'ProvisionedThroughputExceeded',
      )
    ) {
      return { kind: 'contention' };
    }
    throw err;
  }
}

/** One page of a member partition, ascending by number. */
export interface MemberPage {
  entries: MemberEntry[];
  /** Where the next page starts (the last number this page looked at); absent at the end. */
  next?: number;
}

const notTombstone = `attribute_not_exists(${TOMBSTONE_ATTRIBUTE})`;

/**
 * Items of a batch's partition of one shard with a number above `after` and at most `until`,
 * ascending, looking at most `limit` items. Tombstones are left out unless `withTombstones`: a page
 * may then hold fewer than `limit` entries (even none) although more follow; `next` tells.
 */
export async function queryMemberPage(
  batchId: string,
  shard: number,
  o: { after?: number; until?: number; limit?: number; consistent?: boolean; withTombstones?: boolean } = {},
): Promise<MemberPage> {
  const after = o.after ?? 0;
  const until = o.until ?? Number.MAX_SAFE_INTEGER;
  if (until <= after) return { entries: [] };
  const out = await storageCall('query batch members', () =>
    send().send(
      new QueryCommand({
        TableName: table(),
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :until',
        ...(o.withTombstones ? {} : { FilterExpression: notTombstone }),
        ExpressionAttributeValues: {
          ':pk': keys.memberPartition(batchId, shard),
          ':from': keys.memberSortKey(after + 1),
          ':until': keys.memberSortKey(until),
        },
        ConsistentRead: o.consistent ?? true,
        ...(o.limit !== undefined ? { Limit: o.limit } : {}),
        ProjectionExpression: `sessionId, sessionNumber, ${TOMBSTONE_ATTRIBUTE}`,
      }),
    ),
  );
  const last = out.LastEvaluatedKey?.sk;
  return {
    entries: (out.Items ?? []).map(toMemberEntry),
    ...(typeof last === 'string' ? { next: keys.numberOfMemberSortKey(last) } : {}),
  };
}

/**
 * Members (never tombstones) of a batch on one shard with a number above `after` and at most
 * `until`, ascending, at most `limit` of them: fewer only when the range has no more. A Query that
 * skips tombstones may return fewer items than its Limit although more follow, so this reads on
 * until it has `limit` members or the Query has no LastEvaluatedKey.
 */
export async function queryMembers(
  batchId: string,
  shard: number,
  after: number,
  limit: number,
  o: { until?: number; consistent?: boolean } = {},
): Promise<{ sessionId: string; sessionNumber: number }[]> {
  const members: { sessionId: string; sessionNumber: number }[] = [];
  let from: number | undefined = after;
  while (from !== undefined && members.length < limit) {
    const page = await queryMemberPage(batchId, shard, { after: from, limit: limit - members.length, ...o });
    for (const e of page.entries)
      if (e.sessionId !== undefined) members.push({ sessionId: e.sessionId, sessionNumber: e.sessionNumber });
    from = page.next;
  }
  return members;
}

/**
 * How many members (not tombstones) a batch has on one shard: a COUNT Query of its partition, which
 * reads every item of it (about 1 read unit per 40 items strongly consistent). `atLeastOne` stops at
 * the first member found.
 */
export async function countMembers(batchId: string, shard: number, o: { atLeastOne?: boolean } = {}): Promise<number> {
  let count = 0;
  const pages = queryPages(
    'count batch members',
    {
      TableName: table(),
      KeyConditionExpression: 'pk = :pk',
      FilterExpression: notTombstone,
      ExpressionAttributeValues: { ':pk': keys.memberPartition(batchId, shard) },
      ConsistentRead: true,
      Select: 'COUNT',
    },
    storageCall,
    o.atLeastOne ? () => 100 : undefined,
  );
  for await (const page of pages) {
    count += page.count;
    if (o.atLeastOne && count > 0) break;
  }
  return count;
}

/**
 * Puts a tombstone at a number of a batch being sealed, unless a member or a tombstone is there:
 * 'member' when a session took the number (its create committed first), else 'tombstone'.
 */
export async function putTombstone(
  batchId: string,
  sessionNumber: number,
  now: number,
): Promise<'member' | 'tombstone'> {
  try {
    await storageCall(
      'seal batch',
      () =>
        send().send(
          new PutCommand({
            TableName: table(),
            Item: tombstoneItem(batchId, sessionNumber, now),
            ConditionExpression: conditions.isNew,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      { retryConflicts: true },
    );
    return 'tombstone';
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    const old = conditionFailedItem(err);
    return old && toMemberEntry(old).sessionId !== undefined ? 'member' : 'tombstone';
  }
}

// ---------------------------------------------------------------- batches and releases

export async function getBatch(batchId: string): Promise<BatchRecord | undefined> {
  const out = await storageCall('get batch', () =>
    send().send(new GetCommand({ TableName: table(), Key: keys.batch(batchId), ConsistentRead: true })),
  );
  return out.Item ? toBatchRecord(out.Item) : undefined;
}

/** Batches by id, strongly consistent; ids without a batch item are left out. */
export async function getBatches(batchIds: string[]): Promise<Map<string, BatchRecord>> {
  const items = await batchGetConsistent(
    table(),
    batchIds.map((id) => keys.batch(id)),
    storageCall,
  );
  return new Map(items.map(toBatchRecord).map((b) => [b.batchId, b]));
}

export type { BatchLogPosition } from './items.js';

/**
 * One page of the batch log, newest first: up to `limit` batches created before `before`, and
 * whether more follow.
 */
export async function queryBatchLog(
  limit: number,
  before?: BatchLogPosition,
): Promise<{ entries: BatchLogPosition[]; more: boolean }> {
  const out = await storageCall('query batch log', () =>
    send().send(
      new QueryCommand({
        TableName: table(),
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :log)',
        ExpressionAttributeValues: { ':pk': keys.batchLogPartition(), ':log': BATCH_LOG_PREFIX },
        ...(before ? { ExclusiveStartKey: keys.batchLog(before.createdAt, before.batchId) } : {}),
        ScanIndexForward: false,
        ConsistentRead: true,
        Limit: limit + 1, // one more than asked: tells whether another page follows
        ProjectionExpression: 'batchId, createdAt',
      }),
    ),
  );
  const items = out.Items ?? [];
  return {
    entries: items.slice(0, limit).map(toBatchLogPosition),
    more: items.length > limit,
  };
}

export async function getRelease(releaseId: string): Promise<ReleaseRecord | undefined> {
  const out = await storageCall('get release', () =>
    send().send(new GetCommand({ TableName: table(), Key: keys.release(releaseId), ConsistentRead: true })),
  );
  return out.Item ? toReleaseRecord(out.Item) : undefined;
}

/**
 * Binds `releaseId` to the collecting batch and opens the next batch, in one transaction: the
 * release record must be new and the registry must still name `batchId` with no release under way.
 * The registry keeps when the release was claimed (`releasingSince`). False when either condition
 * failed (another caller got there first); the caller re-reads.
 */
export async function claimRelease(p: {
  releaseId: string;
  batchId: string;
  nextBatchId: string;
  now: number;
}): Promise<boolean> {
  return transactOrCancelled('claim release', [
    {
      Put: {
        TableName: table(),
        Item: {
          ...keys.release(p.releaseId),
          releaseId: p.releaseId,
          batchId: p.batchId,
          nextBatchId: p.nextBatchId,
          state: 'releasing',
        },
        ConditionExpression: conditions.isNew,
      },
    },
    {
      Update: {
        TableName: table(),
        Key: keys.registry(),
        UpdateExpression:
          'SET collectingBatchId = :next, releasingId = :rid, releasingBatchId = :b, releasingSince = :now',
        ConditionExpression: `${conditions.registryCollects} AND ${conditions.noReleaseUnderWay}`,
        ExpressionAttributeValues: { ':next': p.nextBatchId, ':rid': p.releaseId, ':b': p.batchId, ':now': p.now },
      },
    },
    ...newBatchItems(p.nextBatchId, p.now),
  ]);
}

/**
 * Records the outcome of a release whose shards are all sealed: the release record, the batch
 * (now released, with its count and shard count) and the registry (release no longer under way).
 * False when another caller finalized it first.
 */
export async function finalizeRelease(p: {
  releaseId: string;
  batchId: string;
  sessionCount: number;
  shardCount: number;
  /** Sessions of the batch on each shard, in shard order (get_batch's ranges). */
  shardCounts: number[];
  /**
   * The batch's `erasedCount` when its members were counted: the batch must still have it, so that
   * no erasure fell between the count and this write (`sessionCount` includes the erased sessions).
   */
  erasedCount: number;
  now: number;
}): Promise<boolean> {
  return transactOrCancelled('finalize release', [
    {
      Update: {
        TableName: table(),
        Key: keys.release(p.releaseId),
        UpdateExpression: 'SET #state = :released, releasedAt = :now, sessionCount = :count',
        ConditionExpression: '#state = :releasing',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':released': 'released',
          ':releasing': 'releasing',
          ':now': p.now,
          ':count': p.sessionCount,
        },
      },
    },
    {
      Update: {
        TableName: table(),
        Key: keys.batch(p.batchId),
        UpdateExpression:
          'SET #status = :released, releasedAt = :now, sessionCount = :count, releaseId = :rid, shardCount = :shards, shardCounts = :perShard',
        ConditionExpression: `#status = :collecting AND ${conditions.erasedCountIs}`,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':released': 'released',
          ':collecting': 'collecting',
          ':erased': p.erasedCount,
          ':now': p.now,
          ':count': p.sessionCount,
          ':rid': p.releaseId,
          ':shards': p.shardCount,
          ':perShard': p.shardCounts,
        },
      },
    },
    {
      Update: {
        TableName: table(),
        Key: keys.registry(),
        UpdateExpression: 'REMOVE releasingId, releasingBatchId, releasingSince',
        ConditionExpression: conditions.releaseUnderWayIs,
        ExpressionAttributeValues: { ':rid': p.releaseId },
      },
    },
  ]);
}

/** The registry has its own module; re-exported for the callers that read it with the batches. */
export { getRegistry } from './registry-store.js';
