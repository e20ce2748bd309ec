/**
 * DynamoDB capacity per operation, measured on the real handlers (in this process) with the
 * CapacityMeter on the functions' document client, beside the floor: the least that DynamoDB's
 * pricing allows for the same work. Ratios compare cost (read and write request units at their
 * on-demand prices), so that reads and writes can be set side by side.
 */
import { GetItemCommand, QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { attributeMapSize, type CapacityMeter, type CapacityTotals, type ItemSizer, readUnits, writeUnits } from './capacity-meter.js';
import { config } from '../../functions/shared/config.js';
import { keys } from '../../functions/storage/keys.js';
import { events, sessionBody } from './events.js';
import type { Invoker } from './invoke.js';
import { PRICES } from './prices.js';
import { round } from './stats.js';

export interface CapacityRow {
  key: string;
  operation: string;
  scenario: string;
  reads: number;
  writes: number;
  calls: number;
  floorReads: number;
  floorWrites: number;
  floor: string;
  /** Cost of the measured units over cost of the floor units. */
  ratio: number;
  /** Events the request stored (push_events), for per-event figures. */
  accepted?: number;
  /** Sessions read (batch_read), for per-session figures. */
  sessions?: number;
  modelled: string[];
  byOp: CapacityTotals['byOp'];
}

export const unitCost = (reads: number, writes: number) => reads * PRICES.dynamoReadPerUnit + writes * PRICES.dynamoWritePerUnit;

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
  log?: (line: string) => void;
}

/** Stored item sizes, read with a client that is not metered. */
export function itemSizer(client: DynamoDBClient): ItemSizer {
  return async (tableName, key) => {
    const out = await client.send(new GetItemCommand({ TableName: tableName, Key: marshall(key), ConsistentRead: true }));
    return out.Item ? attributeMapSize(out.Item) : undefined;
  };
}

/** Sizes (DynamoDB's rules) of the items of one partition whose sort key begins with `prefix`. */
async function partitionSizes(ctx: CapacityContext, pk: string, prefix = ''): Promise<number[]> {
  const sizes: number[] = [];
  let start: Record<string, any> | undefined;
  do {
    const out = await ctx.inspect.send(
      new QueryCommand({
        TableName: ctx.tableName,
        KeyConditionExpression: prefix ? 'pk = :pk AND begins_with(sk, :p)' : 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: pk }, ...(prefix ? { ':p': { S: prefix } } : {}) },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of out.Items ?? []) sizes.push(attributeMapSize(item));
    start = out.LastEvaluatedKey;
  } while (start);
  return sizes;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function row(
  key: string,
  operation: string,
  scenario: string,
  t: CapacityTotals,
  floor: { reads: number; writes: number; what: string },
  accepted?: number,
  sessions?: number,
): CapacityRow {
  return {
    key,
    operation,
    scenario,
    reads: round(t.reads, 3),
    writes: round(t.writes, 3),
    calls: round(t.calls, 2),
    floorReads: round(floor.reads, 3),
    floorWrites: round(floor.writes, 3),
    floor: floor.what,
    ratio: round(unitCost(t.reads, t.writes) / unitCost(floor.reads, floor.writes), 3),
    ...(accepted !== undefined ? { accepted } : {}),
    ...(sessions !== undefined ? { sessions } : {}),
    modelled: t.notes,
    byOp: t.byOp,
  };
}

function averageTotals(list: CapacityTotals[]): CapacityTotals {
  const n = list.length;
  const byOp: CapacityTotals['byOp'] = {};
  for (const t of list) {
    for (const [op, v] of Object.entries(t.byOp)) {
      const o = (byOp[op] ??= { calls: 0, units: 0 });
      o.calls += v.calls / n;
      o.units += v.units / n;
    }
  }
  for (const o of Object.values(byOp)) {
    o.calls = round(o.calls, 3);
    o.units = round(o.units, 3);
  }
  return {
    reads: sum(list.map((t) => t.reads)) / n,
    writes: sum(list.map((t) => t.writes)) / n,
    calls: sum(list.map((t) => t.calls)) / n,
    modelledCalls: sum(list.map((t) => t.modelledCalls)) / n,
    byOp,
    notes: [...new Set(list.flatMap((t) => t.notes))],
  };
}

export async function measureCapacity(ctx: CapacityContext): Promise<CapacityRow[]> {
  const { invoker, meter } = ctx;
  const id = (s: string) => `${ctx.runId}-${s}`;
  const rows: CapacityRow[] = [];
  const post = (path: string, body: unknown) => ({ method: 'POST' as const, path, body });

  // Warm-up, not counted: the first create of a process registers its shards, and the first create
  // on a shard points it at the collecting batch and reserves a block of session numbers (BLOCK_SIZE).
  const created: string[] = [];
  const shards = config().batchShards;
  const shardsInUse = async () => {
    let n = 0;
    for (let shard = 0; shard < shards; shard++) {
      const out = await ctx.inspect.send(new GetItemCommand({ TableName: ctx.tableName, Key: marshall(keys.shard(shard)), ConsistentRead: true }));
      if (out.Item?.batchId) n++;
    }
    return n;
  };
  // At least `warmCreates`, and on until every shard is in use (bounded).
  for (let i = 0; i < 2_000 && (i < ctx.warmCreates || (i % 20 === 0 ? (await shardsInUse()) < shards : true)); i++) {
    const sid = id(`w${i}`);
    await invoker.expect('create_session', post('/session', sessionBody(sid)));
    created.push(sid);
  }
  const warmed = created.length;
  meter.reset();

  // create_session: the mean of `creates` creates (session numbers are reserved BLOCK_SIZE at a time per shard, so the
  // occasional reservation is spread over the creates it serves).
  const creates: CapacityTotals[] = [];
  for (let i = 0; i < ctx.creates; i++) {
    const sid = id(`s${i}`);
    await invoker.expect('create_session', post('/session', sessionBody(sid)));
    creates.push(meter.take());
    created.push(sid);
  }
  const sessionSize = (await partitionSizes(ctx, `SESSION#${created.at(-1)}`, 'SESSION'))[0]!;
  rows.push(
    row('create_session', 'create_session', `new session (mean of ${ctx.creates}, after ${warmed} creates)`, averageTotals(creates), {
      reads: 0,
      writes: writeUnits(sessionSize),
      what: `one PutItem of the session item (${sessionSize} B)`,
    }),
  );

  // A retry of the same create (same content): answered created=false.
  await invoker.expect('create_session', post('/session', sessionBody(created.at(-1)!)));
  rows.push(
    row('create_session_retry', 'create_session', 'the same create again (a retry)', meter.take(), {
      reads: readUnits(sessionSize),
      writes: 0,
      what: 'one strongly consistent read of the session item',
    }),
  );

  // More sessions for the batch read, so that the batch holds as many sessions per shard as a
  // small real batch (its fixed cost, one members Query per shard and one batch read per page, is
  // spread as it is in production; a 10-million-session batch has 150,000 sessions per shard).
  for (let i = 0; i < ctx.readSessions; i++) {
    const sid = id(`r${i}`);
    await invoker.expect('create_session', post('/session', sessionBody(sid)));
    created.push(sid);
  }
  // The batch first: its sessions are the created ones, 10 events each; the sessions of the client
  // scenarios below are created afterwards, in the next batch.
  // Give the created sessions 10 events each (not counted), release the batch, read one page.
  ctx.log?.(`  capacity: giving ${created.length} sessions 10 events each`);
  for (const sid of created) await invoker.expect('push_events', post('/session/events', { session_id: sid, events: events('b', 10) }));
  meter.reset();
  const release = await invoker.expect('release_batch', post('/internal/batch/release', { release_id: id('release') }));
  rows.push(
    row('release_batch', 'release_batch', `batch of ${release.body.session_count} sessions, ${shards} shards`, meter.take(), {
      reads: 0,
      writes: 1,
      what: 'one conditional write that marks the batch released under the release id',
    }),
  );
  await invoker.expect('release_batch', post('/internal/batch/release', { release_id: id('release') }));
  rows.push(
    row('release_batch_repeat', 'release_batch', 'the same release_id again', meter.take(), {
      reads: 1,
      writes: 0,
      what: 'one strongly consistent read of the release record',
    }),
  );

  const page = await invoker.expect('get_batch_sessions', {
    method: 'GET',
    path: '/internal/batch/sessions',
    query: { batch_id: release.body.batch_id, limit: '10' },
  });
  const pageTotals = meter.take();
  const pageSessions = page.body.sessions as { session_id: string }[];
  let pageFloor = 1; // the membership of the page: one Query of at most 4 KB of small items
  for (const s of pageSessions) pageFloor += readUnits(sum(await partitionSizes(ctx, `SESSION#${s.session_id}`)));
  rows.push(
    row('get_batch_sessions', 'get_batch_sessions', `one page: ${pageSessions.length} sessions with 10 events each`, pageTotals, {
      reads: pageFloor,
      writes: 0,
      what: 'one Query for the page\'s members, then one Query per session partition',
    }),
  );

  await invoker.expect('get_batch', { method: 'GET', path: '/internal/batch', query: { batch_id: release.body.batch_id } });
  rows.push(row('get_batch', 'get_batch', 'a released batch', meter.take(), { reads: 1, writes: 0, what: 'one strongly consistent read of the batch item' }));

  // The whole released batch read through the API as a training job does: strongly
  // consistent, every session with its events (batch_read_units), pages of 1,000 as a bulk reader asks.
  const readIds: string[] = [];
  for (let after = 0, guard = 0; guard < 10_000; guard++) {
    const p = await invoker.expect('get_batch_sessions', {
      method: 'GET',
      path: '/internal/batch/sessions',
      query: { batch_id: release.body.batch_id, after_number: String(after), limit: '1000' },
    });
    if (p.body.last_number === null) break;
    readIds.push(...(p.body.sessions as { session_id: string }[]).map((x) => x.session_id));
    after = p.body.last_number as number;
  }
  const readTotals = meter.take();
  let readFloor = 0;
  let largest = 0;
  for (const sid of readIds) {
    const bytes = sum(await partitionSizes(ctx, `SESSION#${sid}`));
    largest = Math.max(largest, bytes);
    readFloor += readUnits(bytes);
  }
  rows.push(
    row('batch_read', 'get_batch_sessions', `the whole released batch: ${readIds.length} sessions (10 events each, at most ${largest} B), pages of 1,000, strongly consistent`, readTotals, {
      reads: readFloor,
      writes: 0,
      what: 'one strongly consistent Query per session partition (the session and its events)',
    }, undefined, readIds.length),
  );

  // get_session with 10 events.
  const getId = id('get');
  await invoker.expect('create_session', post('/session', sessionBody(getId)));
  await invoker.expect('push_events', post('/session/events', { session_id: getId, events: events('g', 10) }));
  meter.reset();
  await invoker.expect('get_session', { method: 'GET', path: '/session', query: { session_id: getId } });
  const getSizes = await partitionSizes(ctx, `SESSION#${getId}`);
  rows.push(
    row('get_session', 'get_session', 'session with 10 events', meter.take(), {
      reads: readUnits(sum(getSizes)),
      writes: 0,
      what: `one strongly consistent Query of the session's partition (${getSizes.length} items, ${sum(getSizes)} B)`,
    }),
  );

  // push_events: 1, 10, 100 and 1,000 new events, then the 100 again (a duplicate push).
  const pushId = id('push');
  await invoker.expect('create_session', post('/session', sessionBody(pushId)));
  meter.reset();
  const pushTotals: Record<number, CapacityTotals> = {};
  for (const n of [1, 10, 100, 1000]) {
    const r = await invoker.expect('push_events', post('/session/events', { session_id: pushId, events: events(`p${n}`, n) }));
    if (r.body.accepted !== n) throw new Error(`push of ${n} accepted ${r.body.accepted}`);
    const t = meter.take();
    pushTotals[n] = t;
    const sizes = await partitionSizes(ctx, `SESSION#${pushId}`, `EVENT#p${n}-`);
    rows.push(
      row(`push_events_${n}`, 'push_events', `${n} new event${n > 1 ? 's' : ''}`, t, {
        reads: 0,
        writes: sum(sizes.map(writeUnits)),
        what: `one write per event (${Math.round(sum(sizes) / sizes.length)} B each), plus one update of the session's event counter (the cap)`,
      }, n),
    );
  }
  const dup = await invoker.expect('push_events', post('/session/events', { session_id: pushId, events: events('p100', 100) }));
  if (dup.body.duplicates !== 100) throw new Error(`duplicate push reported ${dup.body.duplicates} duplicates`);
  const dupSizes = await partitionSizes(ctx, `SESSION#${pushId}`, 'EVENT#p100-');
  rows.push(
    row('push_events_duplicate', 'push_events', 'the 100 events again (all duplicates)', meter.take(), {
      reads: readUnits(sum(dupSizes)),
      writes: 0,
      what: `reading the 100 stored events back (one Query, ${sum(dupSizes)} B)`,
    }, 0),
  );

  // mark_session_irrelevant.
  await invoker.expect('mark_session_irrelevant', post('/session/irrelevant', { session_id: getId }));
  const markedSize = (await partitionSizes(ctx, `SESSION#${getId}`, 'SESSION'))[0]!;
  rows.push(
    row('mark_session_irrelevant', 'mark_session_irrelevant', 'existing session', meter.take(), {
      reads: 0,
      writes: writeUnits(markedSize),
      what: 'one UpdateItem of the session item',
    }),
  );


  const order = ['create_session', 'create_session_retry', 'get_session', 'push_events_1', 'push_events_10', 'push_events_100', 'push_events_1000', 'push_events_duplicate', 'mark_session_irrelevant', 'release_batch', 'release_batch_repeat', 'get_batch_sessions', 'batch_read', 'get_batch'];
  return rows.sort((x, y) => order.indexOf(x.key) - order.indexOf(y.key));
}
