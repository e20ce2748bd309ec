/**
 * A fault-injecting HTTP proxy on 127.0.0.1 in front of DynamoDB Local. The SDK speaks plain HTTP
 * to it; rules pick requests by operation (the X-Amz-Target after the dot, e.g. "PutItem") and by
 * position (let the first `after` through, then fail `times` of them), and fail them the ways
 * DynamoDB and networks fail: throttling and 5xx answers, transactions cancelled for throttling,
 * no answer (timeouts), and connections cut before forwarding, after forwarding (the write landed
 * but the answer was lost) or in the middle of the answer; or slow (`delay`), to open race windows
 * deterministically. Every injected fault is counted.
 *
 * With `simulateConflicts({ holdMs })` it also applies DynamoDB's transaction conflict rule, which
 * DynamoDB Local does not (it serializes transactions): a TransactWriteItems holds each of its items
 * from its arrival until its answer, and `holdMs` longer before it is forwarded (AWS's prepare and
 * commit phases). While an item is held, another TransactWriteItems (or TransactGetItems) that
 * includes it is cancelled with `TransactionCanceledException` and the reason `TransactionConflict`
 * for that item (`None` for the others), and a PutItem, UpdateItem or DeleteItem on it is refused
 * with `TransactionConflictException`, as AWS's developer guide ("Transaction conflict handling")
 * describes and reports them. Items are told apart by table and the key attributes `pk` and `sk`.
 * A TransactWriteItems that repeats the `ClientRequestToken` of one still held (the SDK retrying a
 * transaction whose answer it gave up on) gets `TransactionInProgressException`, as in AWS; the SDK
 * retries that, and once the first attempt is done DynamoDB Local answers the repeat idempotently.
 */
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export const FAULT_KINDS = [
  'throttling',
  'provisioned-throughput',
  'request-limit',
  'http-500',
  'http-503',
  'http-502-html',
  'transaction-throttled',
  'timeout-before',
  'timeout-after',
  'cut-before',
  'cut-after',
  'cut-mid-response',
  'delay',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** The kinds that fail a request (all but `delay`). */
export const FAILURE_KINDS = FAULT_KINDS.filter((k) => k !== 'delay');

export interface FaultRule {
  kind: FaultKind;
  /** Operations to fail ("PutItem", "TransactWriteItems", ...); all when absent. */
  operation?: string | string[];
  /** Let this many matching requests through first. */
  after?: number;
  /** Fail at most this many matching requests; without it, every one after `after`. */
  times?: number;
  /** Only requests whose JSON body contains this text (e.g. a key). */
  bodyIncludes?: string;
  /** For `delay`: hold the request this long, then forward it (it reads the state of that later moment). */
  delayMs?: number;
}

/** How the conflict simulation is set: off, or on with the time a transaction holds its items. */
export interface ConflictMode {
  /** Time a transaction holds its items before it is forwarded (AWS's prepare-to-commit window). */
  holdMs: number;
}

/** Requests the conflict simulation refused. */
export interface ConflictCounts {
  /** TransactWriteItems and TransactGetItems cancelled with TransactionConflict. */
  transactions: number;
  /** PutItem, UpdateItem and DeleteItem refused with TransactionConflictException. */
  singleWrites: number;
  /** Transactions that held their items and went through. */
  held: number;
  /** Repeats of a held transaction's ClientRequestToken refused with TransactionInProgressException. */
  inProgress: number;
}

const SINGLE_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);
const TRANSACTIONS = new Set(['TransactWriteItems', 'TransactGetItems']);

type AttributeMap = Record<string, Record<string, unknown>>;

/** The item a request part addresses: its table and its key attributes (`pk`, `sk`). */
function itemId(table: unknown, key: AttributeMap | undefined): string {
  return JSON.stringify([table, key?.pk, key?.sk]);
}

/** The items a write or a transaction touches, in the order of its parts. */
export function touchedItems(operation: string, body: string): string[] {
  let request: Record<string, any>;
  try {
    request = JSON.parse(body) as Record<string, any>;
  } catch {
    return [];
  }
  if (SINGLE_WRITES.has(operation)) return [itemId(request.TableName, request.Key ?? request.Item)];
  if (!TRANSACTIONS.has(operation)) return [];
  return ((request.TransactItems ?? []) as Record<string, any>[]).map((part) => {
    const action = (part.Put ?? part.Update ?? part.Delete ?? part.ConditionCheck ?? part.Get ?? {}) as Record<
      string,
      any
    >;
    return itemId(action.TableName, action.Key ?? action.Item);
  });
}

interface ActiveRule extends FaultRule {
  matched: number;
  failed: number;
}

const DYNAMO_ERROR = (type: string, message: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message, ...extra });

export class FaultProxy {
  readonly injected = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  /** Requests that reached DynamoDB Local, by operation. */
  readonly forwarded: Record<string, number> = {};
  private rules: ActiveRule[] = [];
  private conflictMode: ConflictMode | undefined;
  /** Items held by ongoing transactions (a count: only one holder at a time, but kept safe). */
  private readonly held = new Map<string, number>();
  /** ClientRequestTokens of the transactions that hold items now. */
  private readonly heldTokens = new Set<string>();
  readonly conflicts: ConflictCounts = { transactions: 0, singleWrites: 0, held: 0, inProgress: 0 };
  private readonly sockets = new Set<Socket>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly upstream: URL,
  ) {}

  static async start(upstream: string): Promise<FaultProxy> {
    let proxy!: FaultProxy;
    const server = createServer((req, res) => {
      proxy.handle(req, res).catch(() => req.socket.destroy());
    });
    server.on('connection', (s) => {
      proxy.sockets.add(s);
      s.on('close', () => proxy.sockets.delete(s));
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    proxy = new FaultProxy(server, `http://127.0.0.1:${port}`, new URL(upstream));
    return proxy;
  }

  /** Replaces the rules (and their counters). */
  set(...rules: FaultRule[]): void {
    this.rules = rules.map((r) => ({ ...r, matched: 0, failed: 0 }));
  }

  heal(): void {
    this.rules = [];
  }

  /** Turns DynamoDB's transaction conflict rule on (with the hold window) or off. */
  simulateConflicts(mode: ConflictMode | false): void {
    this.conflictMode = mode === false ? undefined : { ...mode };
  }

  /**
   * Applies the conflict rule to a request on its arrival: the refusal to answer with, or the items
   * it now holds (to release when it is answered), or nothing to do.
   */
  private admit(operation: string, body: string): { refusal?: { type: string; text: string }; hold?: string[] } {
    if (!this.conflictMode || (!SINGLE_WRITES.has(operation) && !TRANSACTIONS.has(operation))) return {};
    const items = touchedItems(operation, body);
    const busy = items.map((id) => (this.held.get(id) ?? 0) > 0);
    if (SINGLE_WRITES.has(operation)) {
      if (!busy[0]) return {};
      this.conflicts.singleWrites++;
      return {
        refusal: {
          type: 'TransactionConflictException',
          text: DYNAMO_ERROR('TransactionConflictException', 'Transaction is ongoing for the item'),
        },
      };
    }
    if (busy.some(Boolean)) {
      this.conflicts.transactions++;
      const reasons = busy.map((b) =>
        b ? { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' } : { Code: 'None' },
      );
      const message = `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`;
      return {
        refusal: {
          type: 'TransactionCanceledException',
          text: DYNAMO_ERROR('TransactionCanceledException', message, { CancellationReasons: reasons }),
        },
      };
    }
    if (operation === 'TransactGetItems') return {};
    for (const id of items) this.held.set(id, (this.held.get(id) ?? 0) + 1);
    this.conflicts.held++;
    return { hold: items };
  }

  /** The ClientRequestToken of a TransactWriteItems, if it has one. */
  private static tokenOf(operation: string, body: string): string | undefined {
    if (operation !== 'TransactWriteItems') return undefined;
    try {
      const token = (JSON.parse(body) as { ClientRequestToken?: unknown }).ClientRequestToken;
      return typeof token === 'string' ? token : undefined;
    } catch {
      return undefined;
    }
  }

  private release(items: string[] | undefined): void {
    for (const id of items ?? []) {
      const n = (this.held.get(id) ?? 1) - 1;
      if (n > 0) this.held.set(id, n);
      else this.held.delete(id);
    }
  }

  get totalInjected(): number {
    return Object.values(this.injected).reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pick(operation: string, body: string): ActiveRule | undefined {
    for (const rule of this.rules) {
      const ops =
        rule.operation === undefined ? undefined : Array.isArray(rule.operation) ? rule.operation : [rule.operation];
      if (ops && !ops.includes(operation)) continue;
      if (rule.bodyIncludes !== undefined && !body.includes(rule.bodyIncludes)) continue;
      rule.matched++;
      if (rule.matched <= (rule.after ?? 0)) return undefined;
      if (rule.times !== undefined && rule.failed >= rule.times) return undefined;
      rule.failed++;
      this.injected[rule.kind]++;
      return rule;
    }
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const operation =
      String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() ?? '';
    const text = body.toString('utf8');
    const token = this.conflictMode ? FaultProxy.tokenOf(operation, text) : undefined;
    if (token !== undefined && this.heldTokens.has(token)) {
      this.conflicts.inProgress++;
      const refusal = DYNAMO_ERROR(
        'TransactionInProgressException',
        'The transaction with the given request token is already in progress.',
      );
      res.writeHead(400, {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-requestid': 'fault-proxy',
        'content-length': Buffer.byteLength(refusal),
      });
      res.end(refusal);
      return;
    }
    const admitted = this.admit(operation, text);
    if (admitted.refusal) {
      res.writeHead(400, {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-requestid': 'fault-proxy',
        'content-length': Buffer.byteLength(admitted.refusal.text),
      });
      res.end(admitted.refusal.text);
      return;
    }
    const holdsToken = admitted.hold !== undefined && token !== undefined;
    if (holdsToken) this.heldTokens.add(token);
    try {
      if (admitted.hold) await new Promise((r) => setTimeout(r, this.conflictMode?.holdMs ?? 0));
      await this.respond(req, res, body, operation, text);
    } finally {
      this.release(admitted.hold);
      if (holdsToken) this.heldTokens.delete(token);
    }
  }

  private async respond(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    operation: string,
    text: string,
  ): Promise<void> {
    const rule = this.pick(operation, text);
    const fault = rule?.kind;
    if (fault === 'delay') await new Promise((r) => setTimeout(r, rule!.delayMs ?? 1_000));
    const answer = (status: number, text: string, type = 'application/x-amz-json-1.0') => {
      res.writeHead(status, {
        'content-type': type,
        'x-amzn-requestid': 'fault-proxy',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    };
    switch (fault) {
      case 'throttling':
        return answer(400, DYNAMO_ERROR('ThrottlingException', 'Rate of requests exceeds the allowed throughput.'));
      case 'provisioned-throughput':
        return answer(
          400,
          DYNAMO_ERROR(
            'ProvisionedThroughputExceededException',
            'The level of configured provisioned throughput for the table was exceeded.',
          ),
        );
      case 'request-limit':
        return answer(
          400,
          DYNAMO_ERROR('RequestLimitExceeded', 'Throughput exceeds the current throughput limit for your account.'),
        );
      case 'http-500':
        return answer(500, DYNAMO_ERROR('InternalServerError', 'Internal server error'));
      case 'http-503':
        return answer(503, DYNAMO_ERROR('ServiceUnavailable', 'Service unavailable'));
      case 'http-502-html':
        return answer(502, '<html><body><h1>502 Bad Gateway</h1></body></html>', 'text/html');
      case 'transaction-throttled': {
        if (operation !== 'TransactWriteItems')
          return answer(400, DYNAMO_ERROR('ThrottlingException', 'Rate of requests exceeds the allowed throughput.'));
        const items = (JSON.parse(body.toString('utf8')) as { TransactItems?: unknown[] }).TransactItems ?? [];
        const reasons = items.map((_, i) =>
          i === items.length - 1
            ? { Code: 'ThrottlingError', Message: 'Throughput exceeds the current capacity of your table or index.' }
            : { Code: 'None' },
        );
        return answer(
          400,
          DYNAMO_ERROR(
            'TransactionCanceledException',
            `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
            { CancellationReasons: reasons },
          ),
        );
      }
      case 'timeout-before':
        return; // never answered: the client gives up and closes the connection
      case 'cut-before':
        req.socket.destroy();
        return;
      default:
        break;
    }
    const upstream = await this.forward(req, body, operation);
    switch (fault) {
      case 'timeout-after':
        return; // the request reached DynamoDB, the answer never comes back
      case 'cut-after':
        req.socket.destroy();
        return;
      case 'cut-mid-response': {
        res.writeHead(upstream.status, { ...upstream.headers, 'content-length': upstream.body.length });
        res.write(upstream.body.subarray(0, Math.floor(upstream.body.length / 2)));
        setTimeout(() => req.socket.destroy(), 5);
        return;
      }
      default:
        res.writeHead(upstream.status, upstream.headers);
        res.end(upstream.body);
    }
  }

  private forward(
    req: IncomingMessage,
    body: Buffer,
    operation: string,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    this.forwarded[operation] = (this.forwarded[operation] ?? 0) + 1;
    return new Promise((resolve, reject) => {
      const out = httpRequest(
        {
          host: this.upstream.hostname,
          port: this.upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent: this.agent,
        },
        (up) => {
          const parts: Buffer[] = [];
          up.on('data', (d: Buffer) => parts.push(d));
          up.on('end', () => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(up.headers))
              if (v !== undefined && k !== 'transfer-encoding' && k !== 'connection') headers[k] = String(v);
            resolve({ status: up.statusCode ?? 502, headers, body: Buffer.concat(parts) });
          });
          up.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });
  }
}
