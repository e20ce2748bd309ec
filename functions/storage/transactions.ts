/**
 * What the batch stores share: the condition fragments their writes are built from (named, and
 * composed with AND/OR where used, so each condition reads as what it means), and the one way a
 * transaction whose conditions may fail is run.
 */
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '../shared/config.js';
import { unavailable } from '../shared/errors.js';
import { documentClient } from './client.js';
import { cancellationReasons, storageCall } from './errors.js';
import { keys } from './keys.js';

export type TransactItems = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>;

/** Condition fragments. Values they name (`:b`, `:next`, `:rid`) are bound by each caller. */
export const conditions = {
  /** The item does not exist yet (a put that must create). */
  isNew: 'attribute_not_exists(pk)',
  /** The item exists (an update that must not create). */
  exists: 'attribute_exists(pk)',
  /** A shard pointer that never named a batch (never used, or used only to reserve numbers). */
  shardNeverCollected: 'attribute_not_exists(batchId)',
  /** A shard pointer that names batch `:b`. */
  shardNamesBatch: 'batchId = :b',
  /** The registry names batch `:b` as the collecting one. */
  registryCollects: 'collectingBatchId = :b',
  /** No release is under way. */
  noReleaseUnderWay: 'attribute_not_exists(releasingId)',
  /** The release under way is `:rid`. */
  releaseUnderWayIs: 'releasingId = :rid',
  /** A batch from which exactly `:erased` sessions were erased (none when the attribute is absent). */
  erasedCountIs: '(attribute_not_exists(erasedCount) OR erasedCount = :erased)',
} as const;

const table = () => config().tableName;

/** The parts of a transaction that open a batch: its item (new) and its entry in the batch log. */
export function newBatchItems(batchId: string, now: number): TransactItems {
  return [
    {
      Put: {
        TableName: table(),
        Item: { ...keys.batch(batchId), batchId, status: 'collecting', createdAt: now },
        ConditionExpression: conditions.isNew,
      },
    },
    { Put: { TableName: table(), Item: { ...keys.batchLog(now, batchId), batchId, createdAt: now } } },
  ];
}

/**
 * Runs a transaction on items other writers touch (registry, release, batch); conflicts with other
 * transactions are retried with backoff. False when a condition failed (another caller got there
 * first: the caller re-reads) or the conflicts outlasted the retries.
 */
export async function transactOrCancelled(what: string, items: TransactItems): Promise<boolean> {
  try {
    await storageCall(what, () => documentClient().send(new TransactWriteCommand({ TransactItems: items })), {
      retryConflicts: true,
    });
    return true;
  } catch (err) {
    const reasons = cancellationReasons(err);
    if (
      reasons &&
      reasons.every((r) => ['None', 'ConditionalCheckFailed', 'TransactionConflict', undefined].includes(r.Code))
    ) {
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
