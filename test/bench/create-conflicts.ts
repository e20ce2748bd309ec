/**
 * create_session on ONE shard under DynamoDB's transaction conflict rule (the fault proxy's conflict
 * simulation in front of DynamoDB Local): creates/s of the production path, and of the previous
 * design measured in the same run as the reference. The previous design is frozen here on purpose
 * (it is what the service did before issue 11, not a copy of what it does): one transaction that puts
 * the session and its member item and adds 1 to the shard pointer's counter on the condition that
 * the pointer still names the batch, so every pair of concurrent creates on a shard conflicts.
 */
import { randomUUID } from 'node:crypto';
import { TransactWriteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { resetAllocation } from '../../functions/domain/allocation.js';
import { createSession } from '../../functions/domain/sessions.js';
import type { SessionContent } from '../../functions/domain/types.js';
import { backoff } from '../../functions/shared/concurrency.js';
import { resetConfig } from '../../functions/shared/config.js';
import { documentClient, setDocumentClient } from '../../functions/storage/client.js';
import { sessionItem } from '../../functions/storage/items.js';
import { keys, sessionNumber } from '../../functions/storage/keys.js';
import { ensureTable } from '../../lib/local/dynamodb-local.js';
import { FaultProxy } from '../robustness/support/fault-proxy.js';

export interface ConflictRun {
  creates: number;
  /** Creates that gave up (the service answers 503). */
  failed: number;
  perSecond: number;
  /** Requests the simulation refused (transactions cancelled plus single writes refused). */
  conflicts: number;
}

export interface ConflictFigures {
  holdMs: number;
  creators: number;
  seconds: number;
  design: ConflictRun;
  previous: ConflictRun;
  /** design.perSecond / previous.perSecond: the create_conflict_throughput target. */
  ratio: number;
}

/** The retries the previous design made before answering 503 (MAX_CREATE_ATTEMPTS then). */
const PREVIOUS_ATTEMPTS = 12;

const content = (): SessionContent => ({
  search_query: 'red shoes',
  search_results: [{ object_id: 'sku-1', rank: 1, meta: null }],
  search_meta: null,
  payload_filter: null,
  sort_by: null,
  user_id: null,
});

/** `creators` closed loops for `seconds`: each calls `create` again as soon as it answered. */
async function closedLoop(
  creators: number,
  seconds: number,
  create: () => Promise<boolean>,
): Promise<Omit<ConflictRun, 'conflicts'>> {
  const end = Date.now() + seconds * 1000;
  let creates = 0;
  let failed = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: creators }, async () => {
      while (Date.now() < end) {
        if (await create()) creates++;
        else failed++;
      }
    }),
  );
  return { creates, failed, perSecond: creates / ((Date.now() - started) / 1000) };
}

/** A table of its own with the functions pointed at it through `endpoint`, one shard. */
async function freshTable(dynamoEndpoint: string, endpoint: string): Promise<void> {
  const tableName = `conflicts-${randomUUID()}`;
  await ensureTable(dynamoEndpoint, tableName);
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    TABLE_NAME: tableName,
    DYNAMODB_ENDPOINT: endpoint,
    CLICKSTREAM_BATCH_SHARDS: '1',
  });
  resetConfig();
  setDocumentClient(undefined);
  resetAllocation();
}

async function production(creators: number, seconds: number): Promise<Omit<ConflictRun, 'conflicts'>> {
  await createSession({ sessionId: randomUUID(), content: content() }); // registry and shard exist before timing
  return closedLoop(creators, seconds, () =>
    createSession({ sessionId: randomUUID(), content: content() }).then(
      () => true,
      () => false,
    ),
  );
}

async function previousDesign(creators: number, seconds: number): Promise<Omit<ConflictRun, 'conflicts'>> {
  const table = process.env.TABLE_NAME!;
  const batchId = randomUUID();
  await documentClient().send(
    new PutCommand({ TableName: table, Item: { ...keys.shard(0), batchId, sessionCount: 0 } }),
  );
  let sequence = 0;
  const createOnce = async (): Promise<boolean> => {
    const now = Date.now();
    const number = sessionNumber(0, ++sequence); // blocks of numbers cost nothing in the comparison
    const record = {
      sessionId: randomUUID(),
      content: content(),
      createdAt: now,
      createdAtAuto: true,
      receivedAt: now,
      isIrrelevant: false,
      batchId,
      sessionNumber: number,
    };
    for (let attempt = 0; attempt < PREVIOUS_ATTEMPTS; attempt++) {
      try {
        await documentClient().send(
          new TransactWriteCommand({
            TransactItems: [
              { Put: { TableName: table, Item: sessionItem(record), ConditionExpression: 'attribute_not_exists(pk)' } },
              {
                Put: {
                  TableName: table,
                  Item: { ...keys.member(batchId, 0, number), sessionId: record.sessionId, sessionNumber: number },
                },
              },
              {
                Update: {
                  TableName: table,
                  Key: keys.shard(0),
                  UpdateExpression: 'ADD sessionCount :one',
                  ConditionExpression: 'batchId = :b',
                  ExpressionAttributeValues: { ':one': 1, ':b': batchId },
                },
              },
            ],
          }),
        );
        return true;
      } catch (err) {
        // Anything but a cancelled transaction (a timeout under load) gives up, as the service would.
        if ((err as Error).name !== 'TransactionCanceledException') return false;
        await backoff(attempt);
      }
    }
    return false;
  };
  return closedLoop(creators, seconds, createOnce);
}

/** Measures both designs through one conflict-simulating proxy in front of `dynamoEndpoint`. */
export async function measureCreateConflicts(
  dynamoEndpoint: string,
  o: { holdMs?: number; creators?: number; seconds?: number } = {},
): Promise<ConflictFigures> {
  const holdMs = o.holdMs ?? 20;
  const creators = o.creators ?? 32;
  const seconds = o.seconds ?? 5;
  const saved = { ...process.env };
  const proxy = await FaultProxy.start(dynamoEndpoint);
  proxy.simulateConflicts({ holdMs });
  const refused = () => proxy.conflicts.transactions + proxy.conflicts.singleWrites;
  try {
    const run = async (
      measure: (c: number, s: number) => Promise<Omit<ConflictRun, 'conflicts'>>,
    ): Promise<ConflictRun> => {
      await freshTable(dynamoEndpoint, proxy.url);
      const before = refused();
      const figures = await measure(creators, seconds);
      return { ...figures, conflicts: refused() - before };
    };
    const previous = await run(previousDesign);
    const design = await run(production);
    return {
      holdMs,
      creators,
      seconds,
      design,
      previous,
      ratio: design.perSecond / Math.max(previous.perSecond, 1e-9),
    };
  } finally {
    await proxy.close();
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    resetConfig();
    setDocumentClient(undefined);
    resetAllocation();
  }
}
