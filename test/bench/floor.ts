/**
 * The throughput floor: the items the service writes, written straight to DynamoDB Local with the
 * functions' own document client and in-request parallelism, without HTTP, validation or the
 * handler. Runs in a process of its own (forked by throughput.ts, its options as the first argument),
 * as the local server does: a segment per IPC call; it ends when the bench closes the channel.
 */
import { QueryCommand, type QueryCommandInput, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { EVENT_READ_CONCURRENCY } from '../../functions/domain/batches.js';
import { PUT_CONCURRENCY } from '../../functions/domain/sessions.js';
import { sessionContent } from '../../functions/domain/types.js';
import { mapLimited } from '../../functions/shared/concurrency.js';
import { config } from '../../functions/shared/config.js';
import { createSessionItems } from '../../functions/storage/batch-store.js';
import { documentClient } from '../../functions/storage/client.js';
import { putEventOnce } from '../../functions/storage/session-store.js';
import { keys, sessionNumber } from '../../functions/storage/keys.js';
import { ensureTable } from '../../lib/local/dynamodb-local.js';
import { events, EVENTS_PER_REQUEST, sessionBody } from './events.js';
import { closedLoop } from './stats.js';

/** `sessions`: the sessions the pushes go to, one per worker (as on the API side). */
export type FloorOptions = { shards: number; runId: string; sessions: number };
/** `limit`: members per Query, as the API reader's page size. */
type BatchToRead = { tableName: string; batchId: string; shards: number; limit: number };
export type FloorCall =
  | { run: 'push' | 'create'; concurrency: number; maxRequests: number; maxMs: number }
  | { read: BatchToRead; maxMs: number };

/** DYNAMODB_ENDPOINT and TABLE_NAME (the floor's own table) are in the environment. */
async function floorWorkload(o: FloorOptions) {
  const { endpoint = '', tableName } = config();
  await ensureTable(endpoint, tableName);
  const doc = documentClient();
  let [pushSeq, createSeq] = [0, 0];
  return {
    async push(i: number) {
      const [n, now] = [pushSeq++, Date.now()];
      const sessionId = `${o.runId}-floor-${i % o.sessions}`;
      const records = events(`f${n}`, EVENTS_PER_REQUEST).map(({ event_id: eventId, ...content }) => {
        return { sessionId, eventId, content, createdAt: now, createdAtAuto: true, receivedAt: now };
      });
      await mapLimited(records, PUT_CONCURRENCY, putEventOnce); // the service's own conditional PutItem
      return EVENTS_PER_REQUEST;
    },
    async create() {
      const [n, now, shard] = [createSeq++, Date.now(), Math.floor(Math.random() * o.shards)];
      const sessionId = `${o.runId}-fc-${n}`;
      const content = sessionContent(sessionBody(sessionId));
      const record = { sessionId, content, createdAt: now, createdAtAuto: true, receivedAt: now };
      const placed = { isIrrelevant: false, batchId: 'floor-batch', sessionNumber: sessionNumber(shard, n + 1) };
      // The service's own transaction (functions/storage/batch-store.ts), sent straight from the SDK.
      await doc.send(new TransactWriteCommand({ TransactItems: createSessionItems({ ...record, ...placed }) }));
      return 1;
    },
    /**
     * One reader of a released batch: each call reads its next page and says how many sessions. The
     * least the API's reader needs: members of each shard in number order (one Query per `limit`
     * members), then one strongly consistent Query per session partition, EVENT_READ_CONCURRENCY at
     * once; no HTTP, no validation, no JSON answer. From the start again at the end, as the API reader does.
     */
    reader(batch: BatchToRead) {
      let [shard, after] = [0, 0];
      const query = async (input: Omit<QueryCommandInput, 'TableName'>) =>
        doc.send(new QueryCommand({ TableName: batch.tableName, ConsistentRead: true, ...input }));
      const readPartition = async (m: Record<string, unknown>) => {
        const ExpressionAttributeValues = { ':pk': keys.sessionPartition(m.sessionId as string) };
        const partition = { KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues, ScanIndexForward: false };
        let start: Record<string, unknown> | undefined;
        do start = (await query({ ...partition, ExclusiveStartKey: start })).LastEvaluatedKey;
        while (start);
      };
      return async () => {
        for (let empty = 0; empty <= batch.shards; empty++) {
          const pk = keys.memberPartition(batch.batchId, shard);
          const members = await query({
            KeyConditionExpression: 'pk = :pk AND sk > :after',
            ExpressionAttributeValues: { ':pk': pk, ':after': keys.memberSortKey(after) },
            Limit: batch.limit,
            ProjectionExpression: 'sessionId, sessionNumber',
          });
          const items = members.Items ?? [];
          after = (items.at(-1)?.sessionNumber as number | undefined) ?? after;
          if (items.length < batch.limit) [shard, after] = [(shard + 1) % batch.shards, 0];
          if (items.length === 0) continue;
          await mapLimited(items, EVENT_READ_CONCURRENCY, readPartition);
          return items.length;
        }
        return 0;
      };
    },
    destroy: () => doc.destroy(),
  };
}

const workload = await floorWorkload(JSON.parse(process.argv[2]!) as FloorOptions);
const segment = (m: FloorCall) =>
  'read' in m
    ? closedLoop(1, Number.MAX_SAFE_INTEGER, m.maxMs, workload.reader(m.read))
    : closedLoop(m.concurrency, m.maxRequests, m.maxMs, workload[m.run]);
process.send?.({ ready: true });
process.on('message', (m: FloorCall) =>
  segment(m).then(
    (s) => process.send?.({ segment: s }),
    (err) => process.send?.({ error: String((err as Error)?.stack ?? err) }),
  ),
);
process.on('disconnect', () => {
  workload.destroy();
  process.exit(0);
});
