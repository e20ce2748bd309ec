/**
 * DynamoDB capacity per operation, measured on the real handlers (in this process) with the
 * CapacityMeter on the functions' document client, beside the floor: the least that DynamoDB's
 * pricing allows for the same work. Ratios compare cost (read and write request units at their
 * on-demand prices), so that reads and writes can be set side by side.
 */
import { type DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mapLimited } from '../../functions/shared/concurrency.js';
import { config } from '../../functions/shared/config.js';
import { keys } from '../../functions/storage/keys.js';
import {
  attributeMapSize,
  type CapacityMeter,
  type CapacityTotals,
  type ItemSizer,
  readUnits,
  writeUnits,
} from './capacity-meter.js';
import { events, sessionBody } from './events.js';
import type { EventSpec, Invoker } from './invoke.js';
import { PRICES } from './prices.js';
import { round } from './stats.js';

export const unitCost = (reads: number, writes: number) =>
  reads * PRICES.dynamoReadPerUnit + writes * PRICES.dynamoWritePerUnit;

export interface CapacityContext {
  invoker: Invoker;
  meter: CapacityMeter;
  /** A client that is not metered, to look at stored items. */
  inspect: DynamoDBClient;
  tableName: string;
  /** Creates before counting, so that every shard is in use as in a table that has been running. */
  warmCreates: number;
  /** Sessions created for the create_session figure (they also fill the batch that is released). */
  creates: number;
  /** More sessions in the released batch, for the batch read (batch_read_units). */
  readSessions: number;
  runId: string;
  log: (line: string) => void;
}

/** Stored item sizes, read with a client that is not metered. */
export function itemSizer(client: DynamoDBClient): ItemSizer {
  return async (tableName, key) => {
    const out = await client.send(
      new GetItemCommand({ TableName: tableName, Key: marshall(key), ConsistentRead: true }),
    );
    return out.Item ? attributeMapSize(out.Item) : undefined;
  };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** One row: the measured totals beside the floor; `accepted` events (push_events) or `sessions` read (batch_read). */
function row(
  key: string,
  operation: string,
  scenario: string,
  t: CapacityTotals,
  floor: { reads: number; writes: number; what: string },
  counts: { accepted?: number; sessions?: number } = {},
) {
  return {
    ...{ key, operation, scenario, reads: round(t.reads, 3), writes: round(t.writes, 3), calls: round(t.calls, 2) },
    ...{ floorReads: round(floor.reads, 3), floorWrites: round(floor.writes, 3), floor: floor.what },
    ratio: round(unitCost(t.reads, t.writes) / unitCost(floor.reads, floor.writes), 3),
    ...counts,
    modelled: t.notes,
    byOp: t.byOp,
  };
}
export type CapacityRow = ReturnType<typeof row>;

function averageTotals(list: CapacityTotals[]): CapacityTotals {
  const n = list.length;
  const byOp: CapacityTotals['byOp'] = {};
  for (const [op, v] of list.flatMap((t) => Object.entries(t.byOp))) {
    const o = (byOp[op] ??= { calls: 0, units: 0 });
    o.calls += v.calls / n;
    o.units += v.units / n;
  }
  for (const o of Object.values(byOp)) [o.calls, o.units] = [round(o.calls, 3), round(o.units, 3)];
  const mean = (f: (t: CapacityTotals) => number) => sum(list.map(f)) / n;
  return {
    reads: mean((t) => t.reads),
    writes: mean((t) => t.writes),
    calls: mean((t) => t.calls),
    modelledCalls: mean((t) => t.modelledCalls),
    byOp,
    notes: [...new Set(list.flatMap((t) => t.notes))],
  };
}

export async function measureCapacity(ctx: CapacityContext): Promise<CapacityRow[]> {
  const { invoker, meter } = ctx;
  const id = (s: string) => `${ctx.runId}-${s}`;
  const rows: CapacityRow[] = [];
  const post = (path: string, body: unknown): EventSpec => ({ method: 'POST', path, body });
  const create = (sid: string) => invoker.expect('create_session', post('/session', sessionBody(sid)));
  const push = (sid: string, prefix: string, n: number) =>
    invoker.expect('push_events', post('/session/events', { session_id: sid, events: events(prefix, n) }));
  const getBatchSessions = (query: Record<string, string>) =>
    invoker.expect('get_batch_sessions', { method: 'GET', path: '/internal/batch/sessions', query });
  /** Sizes (DynamoDB's rules) of the items of a session's partition whose sort key begins with `prefix`. */
  const partitionSizes = async (sessionId: string, prefix = ''): Promise<number[]> => {
    const sizes: number[] = [];
    let start: Record<string, any> | undefined;
    do {
      const out = await ctx.inspect.send(
        new QueryCommand({
          TableName: ctx.tableName,
          KeyConditionExpression: prefix ? 'pk = :pk AND begins_with(sk, :p)' : 'pk = :pk',
          ExpressionAttributeValues: {
            ':pk': { S: keys.sessionPartition(sessionId) },
            ...(prefix ? { ':p': { S: prefix } } : {}),
          },
          ExclusiveStartKey: start,
        }),
      );
      sizes.push(...(out.Items ?? []).map(attributeMapSize));
      start = out.LastEvaluatedKey;
    } while (start);
    return sizes;
  };

  // Warm-up, not counted: the first create of a process registers its shards, and the first create
  // on a shard points it at the collecting batch and reserves a block of session numbers (BLOCK_SIZE).
  // At least `warmCreates`, and on until every shard is in use (bounded).
  const created: string[] = [];
  const shards = config().batchShards;
  const shardsInUse = async () => {
    let n = 0;
    for (let shard = 0; shard < shards; shard++) {
      const out = await ctx.inspect.send(
        new GetItemCommand({ TableName: ctx.tableName, Key: marshall(keys.shard(shard)), ConsistentRead: true }),
      );
      if (out.Item?.batchId) n++;
    }
    return n;
  };
  for (let i = 0; i < 2_000 && (i < ctx.warmCreates || (i % 20 === 0 ? (await shardsInUse()) < shards : true)); i++) {
    await create(id(`w${i}`));
    created.push(id(`w${i}`));
  }
  const warmed = created.length;
  meter.reset();

  // create_session: the mean of `creates` creates (session numbers are reserved BLOCK_SIZE at a time
  // per shard, so the occasional reservation is spread over the creates it serves).
  const creates: CapacityTotals[] = [];
  for (let i = 0; i < ctx.creates; i++) {
    await create(id(`s${i}`));
    creates.push(meter.take());
    created.push(id(`s${i}`));
  }
  const sessionSize = (await partitionSizes(created.at(-1)!, 'SESSION'))[0]!;
  const what = `one PutItem of the session item (${sessionSize} B)`;
  rows.push(
    row(
      'create_session',
      'create_session',
      `new session (mean of ${ctx.creates}, after ${warmed} creates)`,
      averageTotals(creates),
      { reads: 0, writes: writeUnits(sessionSize), what },
    ),
  );
  await create(created.at(-1)!); // a retry of the same create (same content): answered created=false
  const retryFloor = {
    reads: readUnits(sessionSize),
    writes: 0,
    what: 'one strongly consistent read of the session item',
  };
  rows.push(row('create_session_retry', 'create_session', 'the same create again (a retry)', meter.take(), retryFloor));

  // More sessions, so that the released batch holds as many sessions per shard as a small real batch
  // (its fixed cost, a members Query per shard and a batch read per page, is spread as in production).
  // Each gets 10 events (not counted); then the batch is released, one page read, the whole batch read.
  for (let i = 0; i < ctx.readSessions; i++) {
    await create(id(`r${i}`));
    created.push(id(`r${i}`));
  }
  ctx.log(`  capacity: giving ${created.length} sessions 10 events each`);
  for (const sid of created) await push(sid, 'b', 10);
  meter.reset();
  const releaseBody = post('/internal/batch/release', { release_id: id('release') });
  const release = await invoker.expect('release_batch', releaseBody);
  const releaseFloor = {
    reads: 0,
    writes: 1,
    what: 'one conditional write that marks the batch released under the release id',
  };
  rows.push(
    row(
      'release_batch',
      'release_batch',
      `batch of ${release.body.session_count} sessions, ${shards} shards`,
      meter.take(),
      releaseFloor,
    ),
  );
  await invoker.expect('release_batch', releaseBody);
  rows.push(
    row('release_batch_repeat', 'release_batch', 'the same release_id again', meter.take(), {
      reads: 1,
      writes: 0,
      what: 'one strongly consistent read of the release record',
    }),
  );

  const batchId = release.body.batch_id as string;
  const pageSessions = (await getBatchSessions({ batch_id: batchId, limit: '10' })).body.sessions as {
    session_id: string;
  }[];
  const pageTotals = meter.take();
  let pageFloor = 1; // the membership of the page: one Query of at most 4 KB of small items
  for (const s of pageSessions) pageFloor += readUnits(sum(await partitionSizes(s.session_id)));
  const pageWhat = "one Query for the page's members, then one Query per session partition";
  rows.push(
    row(
      'get_batch_sessions',
      'get_batch_sessions',
      `one page: ${pageSessions.length} sessions with 10 events each`,
      pageTotals,
      { reads: pageFloor, writes: 0, what: pageWhat },
    ),
  );

  await invoker.expect('get_batch', { method: 'GET', path: '/internal/batch', query: { batch_id: batchId } });
  rows.push(
    row('get_batch', 'get_batch', 'a released batch', meter.take(), {
      reads: 1,
      writes: 0,
      what: 'one strongly consistent read of the batch item',
    }),
  );

  // The whole released batch read as a training job does: strongly consistent, every session with its
  // events (batch_read_units), pages of 1,000 as a bulk reader asks.
  const readIds: string[] = [];
  for (let after = 0, guard = 0; guard < 10_000; guard++) {
    const p = await getBatchSessions({ batch_id: batchId, after_number: String(after), limit: '1000' });
    if (p.body.last_number === null) break;
    readIds.push(...(p.body.sessions as { session_id: string }[]).map((x) => x.session_id));
    after = p.body.last_number as number;
  }
  const readTotals = meter.take();
  const readSizes = await mapLimited(readIds, 16, async (sid) => sum(await partitionSizes(sid)));
  const readScenario = `the whole released batch: ${readIds.length} sessions (10 events each, at most ${Math.max(...readSizes)} B), pages of 1,000, strongly consistent`;
  const readFloor = {
    reads: sum(readSizes.map((b) => readUnits(b))),
    writes: 0,
    what: 'one strongly consistent Query per session partition (the session and its events)',
  };
  rows.push(row('batch_read', 'get_batch_sessions', readScenario, readTotals, readFloor, { sessions: readIds.length }));

  // get_session with 10 events.
  const getId = id('get');
  await create(getId);
  await push(getId, 'g', 10);
  meter.reset();
  await invoker.expect('get_session', { method: 'GET', path: '/session', query: { session_id: getId } });
  const getSizes = await partitionSizes(getId);
  const getWhat = `one strongly consistent Query of the session's partition (${getSizes.length} items, ${sum(getSizes)} B)`;
  rows.push(
    row('get_session', 'get_session', 'session with 10 events', meter.take(), {
      reads: readUnits(sum(getSizes)),
      writes: 0,
      what: getWhat,
    }),
  );

  // push_events: 1, 10, 100 and 1,000 new events, then the 100 again (a duplicate push).
  const pushId = id('push');
  await create(pushId);
  meter.reset();
  for (const n of [1, 10, 100, 1000]) {
    const r = await push(pushId, `p${n}`, n);
    if (r.body.accepted !== n) throw new Error(`push of ${n} accepted ${r.body.accepted}`);
    const t = meter.take();
    const sizes = await partitionSizes(pushId, `EVENT#p${n}-`);
    const what = `one write per event (${Math.round(sum(sizes) / sizes.length)} B each), plus one update of the session's event counter (the cap)`;
    rows.push(
      row(
        `push_events_${n}`,
        'push_events',
        `${n} new event${n > 1 ? 's' : ''}`,
        t,
        { reads: 0, writes: sum(sizes.map(writeUnits)), what },
        { accepted: n },
      ),
    );
  }
  const dup = await push(pushId, 'p100', 100);
  if (dup.body.duplicates !== 100) throw new Error(`duplicate push reported ${dup.body.duplicates} duplicates`);
  const dupSizes = await partitionSizes(pushId, 'EVENT#p100-');
  const dupFloor = {
    reads: readUnits(sum(dupSizes)),
    writes: 0,
    what: `reading the 100 stored events back (one Query, ${sum(dupSizes)} B)`,
  };
  rows.push(
    row('push_events_duplicate', 'push_events', 'the 100 events again (all duplicates)', meter.take(), dupFloor, {
      accepted: 0,
    }),
  );

  await invoker.expect('mark_session_irrelevant', post('/session/irrelevant', { session_id: getId }));
  const markedSize = (await partitionSizes(getId, 'SESSION'))[0]!;
  rows.push(
    row('mark_session_irrelevant', 'mark_session_irrelevant', 'existing session', meter.take(), {
      reads: 0,
      writes: writeUnits(markedSize),
      what: 'one UpdateItem of the session item',
    }),
  );

  const order = [
    'create_session',
    'create_session_retry',
    'get_session',
    'push_events_1',
    'push_events_10',
    'push_events_100',
    'push_events_1000',
  ];
  order.push(
    'push_events_duplicate',
    'mark_session_irrelevant',
    'release_batch',
    'release_batch_repeat',
    'get_batch_sessions',
    'batch_read',
    'get_batch',
  );
  return rows.sort((x, y) => order.indexOf(x.key) - order.indexOf(y.key));
}
