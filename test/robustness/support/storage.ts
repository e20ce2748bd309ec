/**
 * Direct access to the test table in DynamoDB Local (not through the service): full scans to check
 * what is really stored, and a document client like the functions' own that records every write
 * DynamoDB acknowledged, so a test can tell which request wrote what.
 */
import {
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  ScanCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { LOCAL_CREDENTIALS, LOCAL_REGION, localClient } from '../../../lib/local/dynamodb-local.js';
import { itemOf, keys } from '../../../functions/storage/keys.js';

export type RawItem = Record<string, unknown> & { pk: string; sk: string };

/** Runs `read` with a DynamoDB Local client of its own, destroyed afterwards. */
async function withClient<T>(endpoint: string, read: (client: DynamoDBClient) => Promise<T>): Promise<T> {
  const client = localClient(endpoint);
  try {
    return await read(client);
  } finally {
    client.destroy();
  }
}

type Page = { Items?: Record<string, AttributeValue>[]; LastEvaluatedKey?: Record<string, AttributeValue> };

/** Every item of a Scan or Query, page after page, unmarshalled. */
async function allPages(
  page: (start: Record<string, AttributeValue> | undefined) => Promise<Page>,
): Promise<RawItem[]> {
  const items: RawItem[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await page(start);
    for (const item of out.Items ?? []) items.push(unmarshall(item) as RawItem);
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/** Every item of the table (strongly consistent), unmarshalled. */
export const scanAll = (endpoint: string, tableName: string): Promise<RawItem[]> =>
  withClient(endpoint, (client) =>
    allPages((start) =>
      client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: start })),
    ),
  );

/** One item by key (strongly consistent), or undefined. */
export const getRaw = (endpoint: string, tableName: string, pk: string, sk: string): Promise<RawItem | undefined> =>
  withClient(endpoint, async (client) => {
    const out = await client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: pk }, sk: { S: sk } }, ConsistentRead: true }),
    );
    return out.Item ? (unmarshall(out.Item) as RawItem) : undefined;
  });

/** Every item of one partition (strongly consistent). */
export const queryRaw = (endpoint: string, tableName: string, pk: string): Promise<RawItem[]> =>
  withClient(endpoint, (client) =>
    allPages((start) =>
      client.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: pk } },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      ),
    ),
  );

/** The stored records of the service, by kind, as found in the table. */
export interface StoredState {
  sessions: Map<string, RawItem>;
  /** session id -> event id -> item */
  events: Map<string, Map<string, RawItem>>;
  /** batch id -> member items */
  members: Map<string, RawItem[]>;
  /** batch id -> tombstones (numbers of a released batch no session took; not members) */
  tombstones: Map<string, RawItem[]>;
  batches: Map<string, RawItem>;
  releases: Map<string, RawItem>;
  other: RawItem[];
}

export function classify(items: RawItem[]): StoredState {
  const state: StoredState = {
    sessions: new Map(),
    events: new Map(),
    members: new Map(),
    tombstones: new Map(),
    batches: new Map(),
    releases: new Map(),
    other: [],
  };
  for (const item of items) {
    const found = itemOf(item);
    if (found?.kind === 'session') state.sessions.set(found.id, item);
    else if (found?.kind === 'event') {
      if (!state.events.has(found.id)) state.events.set(found.id, new Map());
      state.events.get(found.id)!.set(keys.eventIdOf(item.sk), item);
    } else if (found?.kind === 'batch') state.batches.set(found.id, item);
    else if (found?.kind === 'member') {
      const kind = item.tombstone === true ? state.tombstones : state.members;
      if (!kind.has(found.id)) kind.set(found.id, []);
      kind.get(found.id)!.push(item);
    } else if (found?.kind === 'release') state.releases.set(found.id, item);
    else state.other.push(item);
  }
  return state;
}

export const readState = async (endpoint: string, tableName: string) => classify(await scanAll(endpoint, tableName));

/** A write DynamoDB acknowledged: the operation and the keys of the items it wrote. */
export interface AckedWrite {
  operation: string;
  keys: { pk: string; sk: string }[];
}

const WRITE_OPERATIONS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'TransactWriteItems', 'BatchWriteItem']);

function keysOf(operation: string, input: Record<string, any>): { pk: string; sk: string }[] {
  const key = (k: Record<string, any> | undefined) => ({
    pk: String(k?.pk?.S ?? k?.pk),
    sk: String(k?.sk?.S ?? k?.sk),
  });
  switch (operation) {
    case 'PutItem':
      return [key(input.Item)];
    case 'UpdateItem':
    case 'DeleteItem':
      return [key(input.Key)];
    case 'TransactWriteItems':
      return (input.TransactItems ?? []).flatMap((t: Record<string, any>) =>
        t.Put ? [key(t.Put.Item)] : t.Update ? [key(t.Update.Key)] : t.Delete ? [key(t.Delete.Key)] : [],
      );
    case 'BatchWriteItem':
      return Object.values(input.RequestItems ?? {}).flatMap((reqs: any) =>
        reqs.map((r: Record<string, any>) => key(r.PutRequest?.Item ?? r.DeleteRequest?.Key)),
      );
    default:
      return [];
  }
}

export interface ClientOptions {
  endpoint: string;
  /** The functions use 4 s; timeout tests shorten it so that four attempts do not take 16 s. */
  requestTimeoutMs?: number;
  /** The SDK's retry decisions (which errors, how many attempts) with 5 ms instead of 0.1-20 s between attempts. */
  quickRetries?: boolean;
  onWrite?: (write: AckedWrite) => void;
}

interface Token {
  getRetryCount(): number;
  getRetryDelay(): number;
}

/**
 * The standard strategy's decisions without its waiting: retries throttling and transient errors
 * (5xx, timeouts, network) up to `maxAttempts`, refuses the rest, 5 ms apart. The errors the functions
 * finally see are the same; fault tests just do not sleep for seconds.
 */
export class QuickRetryStrategy {
  readonly mode = 'standard';
  constructor(private readonly maxAttempts: number) {}
  private token(count: number): Token {
    return { getRetryCount: () => count, getRetryDelay: () => (count === 0 ? 0 : 5) };
  }
  async acquireInitialRetryToken(): Promise<Token> {
    return this.token(0);
  }
  async refreshRetryTokenForRetry(token: Token, info: { errorType: string }): Promise<Token> {
    const next = token.getRetryCount() + 1;
    if (next >= this.maxAttempts || !['THROTTLING', 'TRANSIENT'].includes(info.errorType))
      throw new Error('No retry token available');
    return this.token(next);
  }
  recordSuccess(): void {}
}

/** A document client built as functions/storage/client.ts builds it, optionally recording acknowledged writes. */
export function serviceClient(options: ClientOptions): DynamoDBDocumentClient {
  const base = new DynamoDBClient({
    endpoint: options.endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 4,
    requestHandler: {
      connectionTimeout: 1_000,
      requestTimeout: options.requestTimeoutMs ?? 4_000,
      throwOnRequestTimeout: true,
    },
    ...(options.quickRetries ? { retryStrategy: new QuickRetryStrategy(4) as never } : {}),
  });
  const onWrite = options.onWrite;
  if (onWrite) {
    base.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        const request = args.request as { headers?: Record<string, string>; body?: string | Uint8Array };
        const operation =
          String(request.headers?.['x-amz-target'] ?? '')
            .split('.')
            .pop() ?? '';
        if (WRITE_OPERATIONS.has(operation)) {
          const body =
            typeof request.body === 'string'
              ? request.body
              : request.body
                ? new TextDecoder().decode(request.body)
                : '{}';
          onWrite({ operation, keys: keysOf(operation, JSON.parse(body)) });
        }
        return out;
      },
      { step: 'build', name: 'robustnessWriteRecorder' },
    );
  }
  return DynamoDBDocumentClient.from(base, { marshallOptions: { removeUndefinedValues: true } });
}
