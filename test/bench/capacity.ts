/**
 * DynamoDB capacity per operation of the real handlers (in this process) beside the floor, the least
 * DynamoDB's pricing allows for the same work; ratios compare cost at on-demand prices. The meter asks
 * every command of the functions' client for ReturnConsumedCapacity=TOTAL; where DynamoDB Local does not
 * report what DynamoDB bills, it applies DynamoDB's pricing rules and says so (`modelled`;
 * docs/benchmarks.md, section 2).
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mapLimited } from '../../functions/shared/concurrency.js';
import { config } from '../../functions/shared/config.js';
import { getShards } from '../../functions/storage/batch-store.js';
import { documentClient } from '../../functions/storage/client.js';
import { keys } from '../../functions/storage/keys.js';
import { routes } from '../../lib/routes.js';
import { get, post } from '../robustness/support/invoke.js';
import { getRaw, queryRaw } from '../robustness/support/storage.js';
import { events, sessionBody } from './events.js';
import { invokeTimed as invoke } from './invoke.js';
import { PRICES } from './prices.js';
import { round } from './stats.js';

export const unitCost = (reads: number, writes: number) =>
  reads * PRICES.dynamoReadPerUnit + writes * PRICES.dynamoWritePerUnit;
const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));
const readUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / 4096)); // strongly consistent
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Size of a number as DynamoDB counts it: 1 byte per two significant digits, plus 1. */
function numberSize(n: string): number {
  const digits = n.replace(/^-/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** Size of an attribute value in DynamoDB's item-size rules (of the types the service stores). */
function valueSize(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S);
  if (v.N !== undefined) return numberSize(v.N);
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.L) return 3 + sum(v.L.map((x) => 1 + valueSize(x)));
  if (v.M) return 3 + sum(Object.entries(v.M).map(([k, x]) => 1 + Buffer.byteLength(k) + valueSize(x)));
  throw new Error(`no size for ${JSON.stringify(v)} (the service stores no binary values or sets)`);
}

/** Size of an item in DynamoDB's rules: attribute names plus values. */
const mapSize = (item: Record<string, AttributeValue>) =>
  sum(Object.entries(item).map(([k, v]) => Buffer.byteLength(k) + valueSize(v)));
/** The same for an item as the document client takes it (an absent item: 0). */
const itemSize = (item: object = {}) => mapSize(marshall(item, { removeUndefinedValues: true }));

type Input = Record<string, any>;
const READ_OPS = /^(GetItem|Query|Scan|BatchGetItem|TransactGetItems)$/;
const METER = 'benchConsumedCapacity';

/** Meters `client`; stored items are read apart (not metered, from `endpoint`), to price transactions on their size. */
function capacityMeter(client: DynamoDBDocumentClient, endpoint: string) {
  let records: { op: string; units: number; modelled?: string }[] = [];
  const push = (op: string, units: number, modelled?: string) => records.push({ op, units, modelled });
  async function onSuccess(op: string, input: Input, output: Input) {
    let units = sum([output.ConsumedCapacity ?? []].flat().map((c: Input) => c?.CapacityUnits ?? 0));
    let modelled: string | undefined;
    if (op === 'TransactWriteItems') {
      units = 0;
      for (const part of input.TransactItems as Input[]) {
        const [action, spec] = Object.entries(part)[0]!;
        const stored = action === 'Put' ? spec.Item : await getRaw(endpoint, spec.TableName, spec.Key.pk, spec.Key.sk);
        units += 2 * writeUnits(itemSize(stored));
      }
      modelled = 'transactions computed from item sizes (2 units per KB per item)';
    } else if ((op === 'Query' || op === 'Scan') && units === 0) {
      units = input.ConsistentRead === true ? 1 : 0.5;
      modelled = 'empty Query billed at the minimum read';
    } else if (op === 'BatchGetItem') {
      for (const [table, req] of Object.entries(input.RequestItems ?? {}) as [string, Input][]) {
        const found = (output.Responses?.[table]?.length ?? 0) + (output.UnprocessedKeys?.[table]?.Keys?.length ?? 0);
        const missing = (req.Keys?.length ?? 0) - found;
        if (missing <= 0) continue;
        units += missing * (req.ConsistentRead ? 1 : 0.5);
        modelled = 'BatchGetItem keys without an item billed at the minimum read';
      }
    }
    push(op, units, modelled);
  }
  function onFailure(op: string, input: Input, err: Input) {
    if (err.name === 'ConditionalCheckFailedException') {
      const size = err.Item ? mapSize(err.Item) : itemSize(input.Item); // ALL_OLD comes back marshalled
      push(op, writeUnits(size), 'failed conditional writes billed by item size');
    } else if (err.name === 'TransactionCanceledException') {
      const units = sum(input.TransactItems.map((t: Input) => 2 * writeUnits(itemSize(Object.values(t)[0]?.Item))));
      push(op, units, 'cancelled transactions counted as if written (upper bound)');
    }
  }
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const op = String(context.commandName ?? 'Unknown').replace(/Command$/, '');
      const input = { ...(args.input as Input), ReturnConsumedCapacity: 'TOTAL' };
      try {
        const out = await next({ ...args, input });
        await onSuccess(op, input, (out.output ?? {}) as Input);
        return out;
      } catch (err) {
        onFailure(op, input, err as Input);
        throw err;
      }
    },
    { step: 'initialize', name: METER, priority: 'high', override: true },
  );
  return {
    reset: () => void (records = []),
    detach: () => client.middlewareStack.remove(METER),
    /**
     * The row of `key`: the totals since the last row or reset, per call of `calls` calls, beside the
     * floor; `accepted` events (push_events) or `sessions` read (batch_read).
     */
    row(key: string, scenario: string, [floorReads, floorWrites, floor]: Floor, counts: Counts = {}, calls = 1) {
      const byOp: Record<string, { calls: number; units: number }> = {};
      for (const r of records) {
        const o = (byOp[r.op] ??= { calls: 0, units: 0 });
        [o.calls, o.units] = [o.calls + 1 / calls, o.units + r.units / calls];
      }
      for (const o of Object.values(byOp)) [o.calls, o.units] = [round(o.calls, 3), round(o.units, 3)];
      const units = (read: boolean) => sum(records.filter((r) => READ_OPS.test(r.op) === read).map((r) => r.units));
      const [reads, writes] = [units(true) / calls, units(false) / calls];
      const modelled = [...new Set(records.flatMap((r) => r.modelled ?? []))];
      const operation = key === 'batch_read' ? 'get_batch_sessions' : key.replace(/_(retry|repeat|duplicate|\d+)$/, '');
      const totals = { reads: round(reads, 3), writes: round(writes, 3), calls: round(records.length / calls, 2) };
      const floors = { floorReads: round(floorReads, 3), floorWrites: round(floorWrites, 3), floor };
      const ratio = round(unitCost(reads, writes) / unitCost(floorReads, floorWrites), 3);
      records = [];
      return { key, operation, scenario, ...totals, ...floors, ratio, ...counts, modelled, byOp };
    },
  };
}
type Floor = [reads: number, writes: number, what: string];
type Counts = { accepted?: number; sessions?: number };
export type CapacityRow = ReturnType<ReturnType<typeof capacityMeter>['row']>;

/**
 * With the functions' environment set; stored items are read apart (not metered). `warmCreates`: creates
 * before counting, so that every shard is in use; `creates`: sessions for the create_session figure
 * (they also fill the released batch); `readSessions`: more sessions in it, for batch_read_units.
 */
export async function measureCapacity(
  o: Record<'warmCreates' | 'creates' | 'readSessions', number> & { runId: string; log: (line: string) => void },
): Promise<CapacityRow[]> {
  const { endpoint = '', tableName, batchShards: shards } = config();
  const meter = capacityMeter(documentClient(), endpoint);
  try {
    const id = (s: string) => `${o.runId}-${s}`;
    const rows: CapacityRow[] = [];
    const add = (...row: Parameters<typeof meter.row>) => rows.push(meter.row(...row));
    const create = (sid: string) => invoke('create_session', post('/session', sessionBody(sid)));
    const push = (sid: string, prefix: string, n: number) =>
      invoke('push_events', post('/session/events', { session_id: sid, events: events(prefix, n) }));
    const batchSessions = (query: Record<string, string>) =>
      invoke('get_batch_sessions', get('/internal/batch/sessions', query));
    /** Sizes (DynamoDB's rules) of the items of a session's partition whose sort key begins with `prefix`. */
    const partitionSizes = async (sessionId: string, prefix = '') =>
      (await queryRaw(endpoint, tableName, keys.sessionPartition(sessionId)))
        .filter((item) => item.sk.startsWith(prefix))
        .map(itemSize);
    const partitionSize = async (sessionId: string) => sum(await partitionSizes(sessionId));
    const sessionSize = async (sessionId: string) => (await partitionSizes(sessionId, 'SESSION'))[0]!;

    // Warm-up, not counted: the first create of a process registers its shards, and the first create
    // on a shard points it at the collecting batch and reserves a block of session numbers (BLOCK_SIZE).
    // At least `warmCreates`, and on until every shard is in use (bounded).
    const created: string[] = [];
    const allInUse = async () => (await getShards(shards)).every((s) => s.batchId !== undefined);
    const createAll = async (prefix: string, n: number, more = async (_i: number) => false) => {
      for (let i = 0; i < n || (i < 2_000 && (await more(i))); i++) {
        await create(id(`${prefix}${i}`));
        created.push(id(`${prefix}${i}`));
      }
    };
    await createAll('w', o.warmCreates, async (i) => i % 20 !== 0 || !(await allInUse()));
    const warmed = created.length;
    meter.reset();

    // create_session: the mean of `creates` creates (session numbers are reserved BLOCK_SIZE at a time
    // per shard, so the occasional reservation is spread over the creates it serves).
    await createAll('s', o.creates);
    const size = await sessionSize(created.at(-1)!);
    const createFloor: Floor = [0, writeUnits(size), `one PutItem of the session item (${size} B)`];
    add('create_session', `new session (mean of ${o.creates}, after ${warmed} creates)`, createFloor, {}, o.creates);
    await create(created.at(-1)!); // a retry of the same create (same content): answered created=false
    const retryFloor = 'one strongly consistent read of the session item';
    add('create_session_retry', 'the same create again (a retry)', [readUnits(size), 0, retryFloor]);

    // More sessions, so that the released batch holds as many sessions per shard as a small real batch
    // (its fixed cost, a members Query per shard and a batch read per page, is spread as in production).
    // Each gets 10 events (not counted); then the batch is released, one page read, the whole batch read.
    await createAll('r', o.readSessions);
    o.log(`  capacity: giving ${created.length} sessions 10 events each`);
    for (const sid of created) await push(sid, 'b', 10);
    meter.reset();
    const releaseBody = post('/internal/batch/release', { release_id: id('release') });
    const release = await invoke('release_batch', releaseBody);
    const releaseFloor = 'one conditional write that marks the batch released under the release id';
    add('release_batch', `batch of ${release.body.session_count} sessions, ${shards} shards`, [0, 1, releaseFloor]);
    await invoke('release_batch', releaseBody);
    const repeatFloor = 'one strongly consistent read of the release record';
    add('release_batch_repeat', 'the same release_id again', [1, 0, repeatFloor]);

    const batchId = release.body.batch_id as string;
    const page = (await batchSessions({ batch_id: batchId, limit: '10' })).body.sessions as { session_id: string }[];
    let pageFloor = 1; // the membership of the page: one Query of at most 4 KB of small items
    for (const s of page) pageFloor += readUnits(await partitionSize(s.session_id));
    const pageWhat = "one Query for the page's members, then one Query per session partition";
    add('get_batch_sessions', `one page: ${page.length} sessions with 10 events each`, [pageFloor, 0, pageWhat]);

    await invoke('get_batch', get('/internal/batch', { batch_id: batchId }));
    add('get_batch', 'a released batch', [1, 0, 'one strongly consistent read of the batch item']);

    // The whole released batch read as a training job does: strongly consistent, every session with its
    // events (batch_read_units), pages of 1,000 as a bulk reader asks.
    const readIds: string[] = [];
    for (let after = 0, guard = 0; guard < 10_000; guard++) {
      const p = await batchSessions({ batch_id: batchId, after_number: String(after), limit: '1000' });
      if (p.body.last_number === null) break;
      readIds.push(...(p.body.sessions as { session_id: string }[]).map((x) => x.session_id));
      after = p.body.last_number as number;
    }
    const readSizes = await mapLimited(readIds, 16, partitionSize);
    const readScenario = `the whole released batch: ${readIds.length} sessions (10 events each, at most ${Math.max(...readSizes)} B), pages of 1,000, strongly consistent`;
    const readWhat = 'one strongly consistent Query per session partition (the session and its events)';
    add('batch_read', readScenario, [sum(readSizes.map(readUnits)), 0, readWhat], { sessions: readIds.length });

    // get_session with 10 events.
    const getId = id('get');
    await create(getId);
    await push(getId, 'g', 10);
    meter.reset();
    await invoke('get_session', get('/session', { session_id: getId }));
    const getSizes = await partitionSizes(getId);
    const getWhat = `one strongly consistent Query of the session's partition (${getSizes.length} items, ${sum(getSizes)} B)`;
    add('get_session', 'session with 10 events', [readUnits(sum(getSizes)), 0, getWhat]);

    // push_events: 1, 10, 100 and 1,000 new events, then the 100 again (a duplicate push).
    const pushId = id('push');
    await create(pushId);
    meter.reset();
    for (const n of [1, 10, 100, 1000]) {
      const r = await push(pushId, `p${n}`, n);
      if (r.body.accepted !== n) throw new Error(`push of ${n} accepted ${r.body.accepted}`);
      const sizes = await partitionSizes(pushId, `EVENT#p${n}-`);
      const what = `one write per event (${Math.round(sum(sizes) / sizes.length)} B each), plus one update of the session's event counter (the cap)`;
      const floor: Floor = [0, sum(sizes.map(writeUnits)), what];
      add(`push_events_${n}`, `${n} new event${n > 1 ? 's' : ''}`, floor, { accepted: n });
    }
    const dup = await push(pushId, 'p100', 100);
    if (dup.body.duplicates !== 100) throw new Error(`duplicate push reported ${dup.body.duplicates} duplicates`);
    const dupSize = sum(await partitionSizes(pushId, 'EVENT#p100-'));
    const dupFloor: Floor = [readUnits(dupSize), 0, `reading the 100 stored events back (one Query, ${dupSize} B)`];
    add('push_events_duplicate', 'the 100 events again (all duplicates)', dupFloor, { accepted: 0 });

    await invoke('mark_session_irrelevant', post('/session/irrelevant', { session_id: getId }));
    const marked = writeUnits(await sessionSize(getId));
    add('mark_session_irrelevant', 'existing session', [0, marked, 'one UpdateItem of the session item']);
    // In the route table's order; an operation's rows as measured (the sort is stable).
    const rank = (row: CapacityRow) => routes.findIndex((r) => r.operation === row.operation);
    return rows.sort((x, y) => rank(x) - rank(y));
  } finally {
    meter.detach();
  }
}
