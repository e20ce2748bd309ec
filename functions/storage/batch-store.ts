/**
 * Batches: the registry (which batch collects, which release is under way), the per-shard
 * collecting-batch pointers with their session counters, batch items, membership items and
 * release records. Every expression that makes assignment and release race-free lives here.
 */
import {
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { config } from '../shared/config.js';
import type { BatchRecord, RegistryRecord, ReleaseRecord, SessionRecord, ShardRecord } from '../domain/types.js';
import { batchGetConsistent, documentClient } from './client.js';
import { cancellationReasons, conditionFailedItem, isConditionFailed, storageCall } from './errors.js';
import { assertFits, expiresAt, type Item, sessionItem, toSessionRecord } from './items.js';
import { BATCH_LOG_PREFIX, keys } from './keys.js';
import { backoff } from '../shared/concurrency.js';
import { unavailable } from '../shared/errors.js';

const table = () => config().tableName;
const send = documentClient;

// ---------------------------------------------------------------- registry

export async function getRegistry(): Promise<RegistryRecord | undefined> {
  const out = await storageCall('get registry', () =>
    send().send(new GetCommand({ TableName: table(), Key: keys.registry(), ConsistentRead: true })),
  );
  const item = out.Item;
  if (!item) return undefined;
  return {
    collectingBatchId: item.collectingBatchId as string,
    shardCount: item.shardCount as number,
    releasingId: item.releasingId as string | undefined,
    releasingBatchId: item.releasingBatchId as string | undefined,
  };
}

/** Creates the registry and the first collecting batch; false if another caller did it first. */
export async function bootstrapRegistry(batchId: string, shardCount: number, now: number): Promise<boolean> {
  return transactOrCancelled('bootstrap batches', [
    { Put: { TableName: table(), Item: { ...keys.registry(), collectingBatchId: batchId, shardCount }, ConditionExpression: 'attribute_not_exists(pk)' } },
    ...newBatch(batchId, now),
  ]);
}

/**
 * Raises the registry's shard count to `shardCount` (never lowers it). Refused while a release is
 * under way, so that a release always switches every shard that can hold its batch's sessions.
 */
export async function raiseShardCount(shardCount: number): Promise<'ok' | 'releasing' | 'missing'> {
  try {
    await storageCall('raise shard count', () =>
      send().send(
        new UpdateCommand({
          TableName: table(),
          Key: keys.registry(),
          UpdateExpression: 'SET shardCount = :n',
          ConditionExpression: 'attribute_exists(pk) AND shardCount < :n AND attribute_not_exists(releasingId)',
          ExpressionAttributeValues: { ':n': shardCount },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      ),
    );
    return 'ok';
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    const old = conditionFailedItem(err);
    if (!old) return 'missing';
    if ((old.shardCount as number) >= shardCount) return 'ok';
    return 'releasing';
  }
}

// ---------------------------------------------------------------- shards

/** Reserves `count` session numbers on a shard; also tells which batch the shard collects for. */
export async function reserveSequence(shard: number, count: number): Promise<{ batchId?: string; last: number }> {
  const out = await storageCall('reserve numbers', () =>
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
  );
  return { batchId: out.Attributes?.batchId as string | undefined, last: out.Attributes?.sequence as number };
}

/** Points a shard that never collected at `batchId`; false if it already points somewhere. */
export async function initShard(shard: number, batchId: string): Promise<boolean> {
  try {
    await storageCall('init shard', () =>
      send().send(
        new UpdateCommand({
          TableName: table(),
          Key: keys.shard(shard),
          UpdateExpression: 'SET batchId = :b, sessionCount = if_not_exists(sessionCount, :zero)',
          ConditionExpression: 'attribute_not_exists(batchId)',
          ExpressionAttributeValues: { ':b': batchId, ':zero': 0 },
        }),
      ),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}

export async function getShards(shardCount: number): Promise<ShardRecord[]> {
  const shards: ShardRecord[] = Array.from({ length: shardCount }, (_, shard) => ({ shard, count: 0 }));
  const items = await batchGetConsistent(table(), shards.map((s) => keys.shard(s.shard)), storageCall);
  for (const item of items) {
    const shard = keys.shardOf(item.pk as string);
    shards[shard] = {
      shard,
      batchId: item.batchId as string | undefined,
      count: (item.sessionCount as number | undefined) ?? 0,
      prevBatchId: item.prevBatchId as string | undefined,
      prevCount: item.prevCount as number | undefined,
    };
  }
  return shards;
}

/**
 * Moves one shard from `batchId` to `nextBatchId` and returns how many sessions of `batchId` it
 * holds. Safe to repeat and to run concurrently: whoever switches records the final count in the
 * shard (prevCount), and everyone else reads it from there.
 */
export async function switchShard(
  shard: number,
  batchId: string,
  nextBatchId: string,
): Promise<number | 'superseded'> {
  for (let attempt = 0; ; attempt++) {
    try {
      const out = await send().send(
        new UpdateCommand({
          TableName: table(),
          Key: keys.shard(shard),
          UpdateExpression:
            'SET prevBatchId = :b, prevCount = if_not_exists(sessionCount, :zero), batchId = :next, sessionCount = :zero',
          ConditionExpression: 'attribute_not_exists(batchId) OR batchId = :b',
          ExpressionAttributeValues: { ':b': batchId, ':next': nextBatchId, ':zero': 0 },
          ReturnValues: 'ALL_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      const old = out.Attributes;
      return old?.batchId === batchId ? ((old.sessionCount as number | undefined) ?? 0) : 0;
    } catch (err) {
      if (isConditionFailed(err)) {
        const old = conditionFailedItem(err) ?? {};
        if (old.prevBatchId === batchId) return (old.prevCount as number | undefined) ?? 0;
        if (old.batchId === nextBatchId) return 0; // initialized straight into the next batch
        return 'superseded'; // a later release moved the shard on: this release was finished by others
      }
      if (err instanceof Error && err.name === 'TransactionConflictException' && attempt < 20) {
        await backoff(attempt);
        continue;
      }
      return storageCall('switch shard', () => Promise.reject(err));
    }
  }
}

// ---------------------------------------------------------------- sessions in batches

export type InsertResult =
  | { kind: 'created' }
  | { kind: 'exists'; existing: SessionRecord }
  | { kind: 'batch_moved' }
  | { kind: 'contention' };

/** Refuses up front a session that could not be stored whole. */
export function assertSessionFits(record: SessionRecord): void {
  assertFits(sessionItem(record), `Session ${record.sessionId}`);
}

/** The create transaction's items: the session, its batch membership and its shard's counter. */
export function createSessionItems(record: SessionRecord, shard: number): TransactItems {
  const tableName = table();
  return [
    {
      Put: {
        TableName: tableName,
        Item: sessionItem(record),
        ConditionExpression: 'attribute_not_exists(pk)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    },
    {
      Put: {
        TableName: tableName,
        Item: {
          ...keys.member(record.batchId, shard, record.sessionNumber),
          sessionId: record.sessionId,
          sessionNumber: record.sessionNumber,
          expiresAt: expiresAt(record.receivedAt),
        },
      },
    },
    {
      Update: {
        TableName: tableName,
        Key: keys.shard(shard),
        UpdateExpression: 'ADD sessionCount :one',
        ConditionExpression: 'batchId = :b',
        ExpressionAttributeValues: { ':one': 1, ':b': record.batchId },
      },
    },
  ];
}

/**
 * Creates a session in one transaction with its batch membership and its shard's counter. The
 * shard's pointer must still name `record.batchId`: a session can never join a batch after that
 * batch's release has switched its shard away.
 */
export async function insertSession(record: SessionRecord, shard: number): Promise<InsertResult> {
  const item = sessionItem(record);
  assertFits(item, `Session ${record.sessionId}`);
  try {
    await storageCall('create session', () =>
      send().send(
        new TransactWriteCommand({
          TransactItems: createSessionItems(record, shard),
        }),
      ),
    );
    return { kind: 'created' };
  } catch (err) {
    const reasons = cancellationReasons(err);
    if (!reasons) throw err;
    const [session, , pointer] = reasons;
    if (session?.Code === 'ConditionalCheckFailed' && session.Item) {
      return { kind: 'exists', existing: toSessionRecord(session.Item) };
    }
    if (pointer?.Code === 'ConditionalCheckFailed') return { kind: 'batch_moved' };
    if (reasons.some((r) => r.Code === 'TransactionConflict' || r.Code === 'ThrottlingError' || r.Code === 'ProvisionedThroughputExceeded')) {
      return { kind: 'contention' };
    }
    throw err;
  }
}

/**
 * Members of a batch on one shard with a number above `after` and at most `until`, ascending, at
 * most `limit` of them.
 */
export async function queryMembers(
  batchId: string,
  shard: number,
  after: number,
  limit: number,
  o: { until?: number; consistent?: boolean } = {},
): Promise<{ sessionId: string; sessionNumber: number }[]> {
  const until = o.until ?? Number.MAX_SAFE_INTEGER;
  if (until <= after) return [];
  const out = await storageCall('query batch members', () =>
    send().send(
      new QueryCommand({
        TableName: table(),
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :until',
        ExpressionAttributeValues: {
          ':pk': keys.memberPartition(batchId, shard),
          ':from': keys.memberSortKey(after + 1),
          ':until': keys.memberSortKey(until),
        },
        ConsistentRead: o.consistent ?? true,
        Limit: limit,
        ProjectionExpression: 'sessionId, sessionNumber',
      }),
    ),
  );
  return (out.Items ?? []).map((i) => ({ sessionId: i.sessionId as string, sessionNumber: i.sessionNumber as number }));
}

/** How many members a batch has on one shard (for batches released before counts were kept per shard). */
export async function countMembers(batchId: string, shard: number): Promise<number> {
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const out = await storageCall('count batch members', () =>
      send().send(
        new QueryCommand({
          TableName: table(),
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': keys.memberPartition(batchId, shard) },
          ConsistentRead: true,
          Select: 'COUNT',
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      ),
    );
    count += out.Count ?? 0;
    start = out.LastEvaluatedKey;
  } while (start);
  return count;
}

// ---------------------------------------------------------------- batches and releases

/** The parts of a transaction that open a batch: its item (new) and its entry in the batch log. */
function newBatch(batchId: string, now: number): TransactItems {
  return [
    {
      Put: {
        TableName: table(),
        Item: { ...keys.batch(batchId), batchId, status: 'collecting', createdAt: now },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    },
    { Put: { TableName: table(), Item: { ...keys.batchLog(now, batchId), batchId, createdAt: now } } },
  ];
}

export async function getBatch(batchId: string): Promise<BatchRecord | undefined> {
  const out = await storageCall('get batch', () =>
    send().send(new GetCommand({ TableName: table(), Key: keys.batch(batchId), ConsistentRead: true })),
  );
  return out.Item ? toBatchRecord(out.Item) : undefined;
}

/** Batches by id, strongly consistent; ids without a batch item are left out. */
export async function getBatches(batchIds: string[]): Promise<Map<string, BatchRecord>> {
  const items = await batchGetConsistent(table(), batchIds.map((id) => keys.batch(id)), storageCall);
  return new Map(items.map((i) => [i.batchId as string, toBatchRecord(i)]));
}

/** Where a batch stands in the batch log. */
export interface BatchLogPosition {
  createdAt: number;
  batchId: string;
}

/**
 * One page of the batch log, newest first: up to `limit` batches created before `before`, and
 * whether more follow.
 */
export async function queryBatchLog(limit: number, before?: BatchLogPosition): Promise<{ entries: BatchLogPosition[]; more: boolean }> {
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
    entries: items.slice(0, limit).map((i) => ({ batchId: i.batchId as string, createdAt: i.createdAt as number })),
    more: items.length > limit,
  };
}

function toBatchRecord(i: Record<string, unknown>): BatchRecord {
  return {
    batchId: i.batchId as string,
    status: i.status as BatchRecord['status'],
    createdAt: i.createdAt as number,
    releasedAt: i.releasedAt as number | undefined,
    releaseId: i.releaseId as string | undefined,
    sessionCount: i.sessionCount as number | undefined,
    shardCount: i.shardCount as number | undefined,
    ...(Array.isArray(i.shardCounts) ? { shardCounts: i.shardCounts as number[] } : {}),
  };
}

export async function getRelease(releaseId: string): Promise<ReleaseRecord | undefined> {
  const out = await storageCall('get release', () =>
    send().send(new GetCommand({ TableName: table(), Key: keys.release(releaseId), ConsistentRead: true })),
  );
  const i = out.Item;
  if (!i) return undefined;
  return {
    releaseId: i.releaseId as string,
    batchId: i.batchId as string,
    nextBatchId: i.nextBatchId as string,
    state: i.state as ReleaseRecord['state'],
    releasedAt: i.releasedAt as number | undefined,
    sessionCount: i.sessionCount as number | undefined,
  };
}

/**
 * Binds `releaseId` to the collecting batch and opens the next batch, in one transaction: the
 * release record must be new and the registry must still name `batchId` with no release under way.
 * False when either condition failed (another caller got there first); the caller re-reads.
 */
export async function claimRelease(p: { releaseId: string; batchId: string; nextBatchId: string; now: number }): Promise<boolean> {
  return transactOrCancelled('claim release', [
    {
      Put: {
        TableName: table(),
        Item: { ...keys.release(p.releaseId), releaseId: p.releaseId, batchId: p.batchId, nextBatchId: p.nextBatchId, state: 'releasing' },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    },
    {
      Update: {
        TableName: table(),
        Key: keys.registry(),
        UpdateExpression: 'SET collectingBatchId = :next, releasingId = :rid, releasingBatchId = :b',
        ConditionExpression: 'collectingBatchId = :b AND attribute_not_exists(releasingId)',
        ExpressionAttributeValues: { ':next': p.nextBatchId, ':rid': p.releaseId, ':b': p.batchId },
      },
    },
    ...newBatch(p.nextBatchId, p.now),
  ]);
}

/**
 * Records the outcome of a release whose shards are all switched: the release record, the batch
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
        ExpressionAttributeValues: { ':released': 'released', ':releasing': 'releasing', ':now': p.now, ':count': p.sessionCount },
      },
    },
    {
      Update: {
        TableName: table(),
        Key: keys.batch(p.batchId),
        UpdateExpression:
          'SET #status = :released, releasedAt = :now, sessionCount = :count, releaseId = :rid, shardCount = :shards, shardCounts = :perShard',
        ConditionExpression: '#status = :collecting',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':released': 'released',
          ':collecting': 'collecting',
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
        UpdateExpression: 'REMOVE releasingId, releasingBatchId',
        ConditionExpression: 'releasingId = :rid',
        ExpressionAttributeValues: { ':rid': p.releaseId },
      },
    },
  ]);
}

type TransactItems = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>;

/** Runs a transaction; false when a condition failed or it conflicted with another one. */
async function transactOrCancelled(what: string, items: TransactItems): Promise<boolean> {
  try {
    await storageCall(what, () => send().send(new TransactWriteCommand({ TransactItems: items })));
    return true;
  } catch (err) {
    const reasons = cancellationReasons(err);
    if (reasons && reasons.every((r) => ['None', 'ConditionalCheckFailed', 'TransactionConflict', undefined].includes(r.Code))) {
      return false;
    }
    // DynamoDB cancels a transaction it throttles (ThrottlingError, ProvisionedThroughputExceeded):
    // transient, like a throttled single write, so 503 and not 500.
    if (reasons?.some((r) => r.Code === 'ThrottlingError' || r.Code === 'ProvisionedThroughputExceeded')) {
      throw unavailable(`Storage is unavailable (${what}); retry the request`);
    }
    throw err;
  }
}
