/**
 * create_session on ONE shard under the fault proxy's transaction conflict simulation: creates/s of the
 * production path and, as the reference in the same run, of the design before issue 11, frozen here on
 * purpose: one transaction that puts the session and its member item and adds 1 to the shard pointer's
 * counter on condition that it still names the batch, so any two concurrent creates on a shard conflict.
 */
import { randomUUID } from 'node:crypto';
import { PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { resetAllocation } from '../../functions/domain/allocation.js';
import { createSession } from '../../functions/domain/sessions.js';
import { sessionContent } from '../../functions/domain/types.js';
import { backoff } from '../../functions/shared/concurrency.js';
import { resetConfig } from '../../functions/shared/config.js';
import { documentClient, setDocumentClient } from '../../functions/storage/client.js';
import { sessionItem } from '../../functions/storage/items.js';
import { keys, sessionNumber } from '../../functions/storage/keys.js';
import { ensureTable, LOCAL_AWS_ENV } from '../../lib/local/dynamodb-local.js';
import { FaultProxy } from '../robustness/support/fault-proxy.js';
import { closedLoop } from './stats.js';

/** The retries the previous design made before answering 503 (MAX_CREATE_ATTEMPTS then). */
const PREVIOUS_ATTEMPTS = 12;
/** How long the proxy holds a transaction's items; closed loops creating at once; uncounted seconds first. */
const [HOLD_MS, CREATORS, WARM_SECONDS] = [20, 32, 3];
const content = () => sessionContent({ search_query: 'red shoes', search_results: [{ object_id: 'sku-1', rank: 1 }] });
const reset = () => (resetConfig(), setDocumentClient(undefined), resetAllocation());

const production = async () => {
  await createSession({ sessionId: randomUUID(), content: content() }); // registry and shard exist before timing
  return () => createSession({ sessionId: randomUUID(), content: content() });
};

async function previousDesign() {
  const [TableName, batchId] = [process.env.TABLE_NAME!, randomUUID()];
  await documentClient().send(new PutCommand({ TableName, Item: { ...keys.shard(0), batchId, sessionCount: 0 } }));
  let sequence = 0;
  return async () => {
    const now = Date.now();
    const number = sessionNumber(0, ++sequence); // blocks of numbers cost nothing in the comparison
    const [sessionId, placed] = [randomUUID(), { isIrrelevant: false, batchId, sessionNumber: number }];
    const record = { sessionId, content: content(), createdAt: now, createdAtAuto: true, receivedAt: now, ...placed };
    const member = { ...keys.member(batchId, 0, number), sessionId, sessionNumber: number };
    const [Key, UpdateExpression, ConditionExpression] = [keys.shard(0), 'ADD sessionCount :one', 'batchId = :b'];
    const counter = { TableName, Key, UpdateExpression, ConditionExpression };
    const TransactItems = [
      { Put: { TableName, Item: sessionItem(record), ConditionExpression: 'attribute_not_exists(pk)' } },
      { Put: { TableName, Item: member } },
      { Update: { ...counter, ExpressionAttributeValues: { ':one': 1, ':b': batchId } } },
    ];
    for (let attempt = 0; ; attempt++) {
      try {
        return await documentClient().send(new TransactWriteCommand({ TransactItems }));
      } catch (err) {
        // Anything but a cancelled transaction (a timeout under load) gives up, as the service would.
        if ((err as Error).name !== 'TransactionCanceledException') throw err;
        await backoff(attempt);
        if (attempt + 1 >= PREVIOUS_ATTEMPTS) throw err;
      }
    }
  };
}

/** Each design for `seconds` on a fresh table, through one conflict-simulating proxy in front of `dynamoEndpoint`. */
export async function measureCreateConflicts(dynamoEndpoint: string, seconds: number) {
  const saved = { ...process.env };
  const proxy = await FaultProxy.start(dynamoEndpoint);
  proxy.simulateConflicts({ holdMs: HOLD_MS });
  const refused = () => proxy.conflicts.transactions + proxy.conflicts.singleWrites;
  /** CREATORS closed loops for `runSeconds` (a create that gives up: an error), on a fresh table with one shard. */
  const run = async (design: () => Promise<() => Promise<unknown>>, runSeconds = seconds) => {
    const tableName = `conflicts-${randomUUID()}`;
    await ensureTable(dynamoEndpoint, tableName);
    const env = { TABLE_NAME: tableName, DYNAMODB_ENDPOINT: proxy.url, CLICKSTREAM_BATCH_SHARDS: '1' };
    Object.assign(process.env, { ...LOCAL_AWS_ENV, ...env });
    reset();
    const [before, create] = [refused(), await design()];
    const loop = await closedLoop(CREATORS, Number.MAX_SAFE_INTEGER, runSeconds * 1000, () => create().then(() => 1));
    const [creates, failed] = [loop.items, loop.errors];
    return { creates, failed, perSecond: creates / (loop.elapsedMs / 1000), conflicts: refused() - before };
  };
  try {
    // Uncounted: DynamoDB Local's JVM compiles its transaction path in the first seconds, which
    // would otherwise be charged to whichever design runs first (measured: 165 creates/s cold, 350 warm).
    for (const warm of [previousDesign, production]) await run(warm, WARM_SECONDS);
    const previous = await run(previousDesign);
    const design = await run(production);
    const ratio = design.perSecond / Math.max(previous.perSecond, 1e-9);
    return { holdMs: HOLD_MS, creators: CREATORS, seconds, design, previous, ratio };
  } finally {
    await proxy.close();
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    reset();
  }
}
