/**
 * The batch registry (one item): which batch collects, how many shards the service has ever used,
 * and which release is under way. Releases move it in transactions (batch-store.ts); this module
 * reads it, creates it and raises its shard count.
 */
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '../shared/config.js';
import type { RegistryRecord } from '../domain/types.js';
import { documentClient } from './client.js';
import { conditionFailedItem, isConditionFailed, storageCall } from './errors.js';
import { toRegistryRecord } from './items.js';
import { keys } from './keys.js';
import { conditions, newBatchItems, transactOrCancelled } from './transactions.js';

const table = () => config().tableName;

/** Strongly consistent by default; `consistent: false` for the cheap look a create takes. */
export async function getRegistry(o: { consistent?: boolean } = {}): Promise<RegistryRecord | undefined> {
  const out = await storageCall('get registry', () =>
    documentClient().send(
      new GetCommand({ TableName: table(), Key: keys.registry(), ConsistentRead: o.consistent ?? true }),
    ),
  );
  return out.Item ? toRegistryRecord(out.Item) : undefined;
}

/** Creates the registry and the first collecting batch; false if another caller did it first. */
export async function bootstrapRegistry(batchId: string, shardCount: number, now: number): Promise<boolean> {
  return transactOrCancelled('bootstrap batches', [
    {
      Put: {
        TableName: table(),
        Item: { ...keys.registry(), collectingBatchId: batchId, shardCount },
        ConditionExpression: conditions.isNew,
      },
    },
    ...newBatchItems(batchId, now),
  ]);
}

/**
 * Raises the registry's shard count to `shardCount` (never lowers it), also while a release is
 * under way: a release reads the shard count after its claim, and a shard first used after that
 * read can only ever name the batch the claim opened (README, "Batch assignment and release").
 */
export async function raiseShardCount(shardCount: number): Promise<'ok' | 'missing'> {
  try {
    await storageCall(
      'raise shard count',
      () =>
        documentClient().send(
          new UpdateCommand({
            TableName: table(),
            Key: keys.registry(),
            UpdateExpression: 'SET shardCount = :n',
            ConditionExpression: `${conditions.exists} AND shardCount < :n`,
            ExpressionAttributeValues: { ':n': shardCount },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      { retryConflicts: true },
    );
    return 'ok';
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    return conditionFailedItem(err) ? 'ok' : 'missing'; // already at least as high, or no registry yet
  }
}
