/**
 * Counts the DynamoDB capacity that the functions' own document client consumes, without touching
 * function code: a middleware on the client asks every command for ReturnConsumedCapacity=TOTAL and
 * adds up what comes back. Where DynamoDB Local does not report what DynamoDB bills (transactions,
 * failed conditional writes, cancelled transactions, empty Queries, BatchGetItem keys without an item),
 * it applies DynamoDB's pricing rules itself and says so (`modelled`; docs/benchmarks.md, section 2).
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';

/** `modelled`: the units were computed from DynamoDB's pricing rules rather than taken as reported. */
type CapacityRecord = { op: string; kind: 'read' | 'write'; units: number; modelled?: string };

export interface CapacityTotals {
  reads: number;
  writes: number;
  calls: number;
  modelledCalls: number;
  byOp: Record<string, { calls: number; units: number }>;
  notes: string[];
}

const READ_OPS = new Set([
  'GetItem',
  'Get',
  'Query',
  'Scan',
  'BatchGetItem',
  'BatchGet',
  'TransactGetItems',
  'TransactGet',
]);
const MIDDLEWARE_NAME = 'benchConsumedCapacity';

type Capacity = { CapacityUnits?: number } | undefined;
const sumCapacity = (c: Capacity | Capacity[] | undefined): number | undefined => {
  if (c === undefined) return undefined;
  const list = Array.isArray(c) ? c : [c];
  return list.reduce((n, x) => n + (x?.CapacityUnits ?? 0), 0);
};

/** Size of a number as DynamoDB counts it: 1 byte per two significant digits, plus 1. */
function numberSize(n: string): number {
  const digits = n.replace(/^-/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** Size of an attribute value in DynamoDB's item-size rules. */
export function attributeValueSize(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S);
  if (v.N !== undefined) return numberSize(v.N);
  if (v.B !== undefined) return v.B.length;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.SS) return v.SS.reduce((n, s) => n + Buffer.byteLength(s), 0);
  if (v.NS) return v.NS.reduce((n, s) => n + numberSize(s), 0);
  if (v.BS) return v.BS.reduce((n, b) => n + b.length, 0);
  if (v.L) return 3 + v.L.reduce((n, x) => n + 1 + attributeValueSize(x), 0);
  if (v.M)
    return 3 + Object.entries(v.M).reduce((n, [k, x]) => n + 1 + Buffer.byteLength(k) + attributeValueSize(x), 0);
  return 0;
}

/** Size of an item in DynamoDB's rules: attribute names plus values. */
export function attributeMapSize(item: Record<string, AttributeValue>): number {
  return Object.entries(item).reduce((n, [k, v]) => n + Buffer.byteLength(k) + attributeValueSize(v), 0);
}

/** Size of a native (unmarshalled) item. */
export function nativeItemSize(item: Record<string, unknown>): number {
  return attributeMapSize(marshall(item, { removeUndefinedValues: true, convertClassInstanceToMap: true }));
}

export const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));
export const readUnits = (bytes: number, consistent = true) =>
  Math.max(1, Math.ceil(bytes / 4096)) * (consistent ? 1 : 0.5);

/** Whatever the input holds as an item: native when it comes from the document client, marshalled otherwise. */
function itemSize(item: unknown): number | undefined {
  if (!item || typeof item !== 'object') return undefined;
  const values = Object.values(item as Record<string, unknown>);
  const looksMarshalled =
    values.length > 0 &&
    values.every(
      (v) =>
        v !== null &&
        typeof v === 'object' &&
        Object.keys(v as object).length === 1 &&
        /^(S|N|B|BOOL|NULL|SS|NS|BS|L|M)$/.test(Object.keys(v as object)[0]!),
    );
  return looksMarshalled
    ? attributeMapSize(item as Record<string, AttributeValue>)
    : nativeItemSize(item as Record<string, unknown>);
}

/** Reads the stored size of an item (undefined: no such item); must not go through a metered client. */
export type ItemSizer = (tableName: string, key: Record<string, unknown>) => Promise<number | undefined>;

export class CapacityMeter {
  records: CapacityRecord[] = [];
  private attached = new Set<DynamoDBDocumentClient>();

  constructor(private readonly sizeOf: ItemSizer) {}

  attach(client: DynamoDBDocumentClient): void {
    if (this.attached.has(client)) return;
    this.attached.add(client);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const op = String(context.commandName ?? 'Unknown').replace(/Command$/, '');
        const input = { ...(args.input as Record<string, unknown>), ReturnConsumedCapacity: 'TOTAL' };
        try {
          const out = await next({ ...args, input });
          await this.recordSuccess(op, input, (out.output ?? {}) as Record<string, unknown>);
          return out;
        } catch (err) {
          this.recordFailure(op, input, err);
          throw err;
        }
      },
      { step: 'initialize', name: MIDDLEWARE_NAME, priority: 'high', override: true },
    );
  }

  detach(): void {
    for (const client of this.attached) client.middlewareStack.remove(MIDDLEWARE_NAME);
    this.attached.clear();
  }

  reset(): void {
    this.records = [];
  }

  /** Totals since the last reset (and resets). */
  take(): CapacityTotals {
    const records = this.records;
    this.records = [];
    const byOp: CapacityTotals['byOp'] = {};
    const notes = new Set<string>();
    for (const r of records) {
      const o = (byOp[r.op] ??= { calls: 0, units: 0 });
      o.calls++;
      o.units += r.units;
      if (r.modelled) notes.add(r.modelled);
    }
    return {
      reads: records.filter((r) => r.kind === 'read').reduce((n, r) => n + r.units, 0),
      writes: records.filter((r) => r.kind === 'write').reduce((n, r) => n + r.units, 0),
      calls: records.length,
      modelledCalls: records.filter((r) => r.modelled).length,
      byOp,
      notes: [...notes],
    };
  }

  private async transactionUnits(input: Record<string, unknown>): Promise<number> {
    let units = 0;
    for (const part of (input.TransactItems ?? []) as Record<
      string,
      { TableName?: string; Item?: unknown; Key?: Record<string, unknown> }
    >[]) {
      const [action, spec] = Object.entries(part)[0] ?? [];
      if (!spec) continue;
      let bytes = 0;
      if (action === 'Put') bytes = itemSize(spec.Item) ?? 0;
      else if (spec.Key && spec.TableName) bytes = (await this.sizeOf(spec.TableName, spec.Key)) ?? 0;
      units += 2 * writeUnits(bytes);
    }
    return units;
  }

  private async recordSuccess(
    op: string,
    input: Record<string, unknown>,
    output: Record<string, unknown>,
  ): Promise<void> {
    const kind = READ_OPS.has(op) ? 'read' : 'write';
    let units = sumCapacity(output.ConsumedCapacity as Capacity | Capacity[] | undefined) ?? 0;
    let modelled: string | undefined;
    const consistent = input.ConsistentRead === true;
    if (op === 'TransactWriteItems' || op === 'TransactWrite') {
      units = await this.transactionUnits(input);
      modelled = 'transactions computed from item sizes (2 units per KB per item)';
    } else if ((op === 'Query' || op === 'Scan') && units === 0) {
      units = consistent ? 1 : 0.5;
      modelled = 'empty Query billed at the minimum read';
    } else if (op === 'BatchGetItem' || op === 'BatchGet') {
      const requestItems = (input.RequestItems ?? {}) as Record<string, { Keys?: unknown[]; ConsistentRead?: boolean }>;
      const responses = (output.Responses ?? {}) as Record<string, unknown[]>;
      const unprocessed = (output.UnprocessedKeys ?? {}) as Record<string, { Keys?: unknown[] }>;
      for (const [table, req] of Object.entries(requestItems)) {
        const missing =
          (req.Keys?.length ?? 0) - (responses[table]?.length ?? 0) - (unprocessed[table]?.Keys?.length ?? 0);
        if (missing > 0) {
          units += missing * (req.ConsistentRead ? 1 : 0.5);
          modelled = 'BatchGetItem keys without an item billed at the minimum read';
        }
      }
    }
    this.records.push({ op, kind, units, ...(modelled ? { modelled } : {}) });
  }

  private recordFailure(op: string, input: Record<string, unknown>, err: unknown): void {
    const name = (err as { name?: string }).name;
    if (name === 'ConditionalCheckFailedException') {
      const old = (err as { Item?: Record<string, AttributeValue> }).Item;
      const bytes = old ? attributeMapSize(old) : (itemSize(input.Item) ?? 0);
      this.records.push({
        op,
        kind: 'write',
        units: writeUnits(bytes),
        modelled: 'failed conditional writes billed by item size',
      });
    } else if (name === 'TransactionCanceledException') {
      const items = (input.TransactItems ?? []) as Record<string, { Item?: unknown }>[];
      const units = items.reduce((n, t) => {
        const part = Object.values(t)[0];
        return n + 2 * writeUnits(itemSize(part?.Item) ?? 0);
      }, 0);
      this.records.push({
        op,
        kind: 'write',
        units,
        modelled: 'cancelled transactions counted as if written (upper bound)',
      });
    }
  }
}
