import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { backoff } from '../shared/concurrency.js';
import { config } from '../shared/config.js';

let client: DynamoDBDocumentClient | undefined;

/** One document client per process, built on first use (and reused across invocations). */
export function documentClient(): DynamoDBDocumentClient {
  if (!client) {
    const { endpoint } = config();
    const base = new DynamoDBClient({
      ...(endpoint ? { endpoint } : {}),
      maxAttempts: 4,
      // Without throwOnRequestTimeout the SDK only logs a warning when requestTimeout passes and
      // keeps waiting: a DynamoDB call that never answers would hang the invocation.
      requestHandler: { connectionTimeout: 1_000, requestTimeout: 4_000, throwOnRequestTimeout: true },
    });
    client = DynamoDBDocumentClient.from(base, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }
  return client;
}

/** Tests replace the client (or reset it after changing the environment). */
export function setDocumentClient(next: DynamoDBDocumentClient | undefined): void {
  client = next;
}

/** Reads items by key, strongly consistent, 100 keys a call, until none is left unprocessed. */
export async function batchGetConsistent(
  tableName: string,
  keys: Record<string, unknown>[],
  call: <T>(what: string, fn: () => Promise<T>) => Promise<T>,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for (let i = 0; i < keys.length; i += 100) {
    let pending: Record<string, unknown>[] = keys.slice(i, i + 100);
    for (let attempt = 0; pending.length > 0; attempt++) {
      const request = pending;
      const out = await call('batch get', () =>
        documentClient().send(
          new BatchGetCommand({ RequestItems: { [tableName]: { Keys: request, ConsistentRead: true } } }),
        ),
      );
      items.push(...(out.Responses?.[tableName] ?? []));
      pending = out.UnprocessedKeys?.[tableName]?.Keys ?? [];
      if (pending.length > 0) await backoff(attempt);
    }
  }
  return items;
}

/**
 * The pages of one Query, each sent from where the previous one stopped (LastEvaluatedKey), until
 * DynamoDB has no more or the caller stops iterating. `limit(page)` is the Limit of the page-th
 * page (from 0); without it DynamoDB's 1 MB alone ends a page.
 */
/** One page of a Query: its items (none with `Select: 'COUNT'`) and how many matched. */
export interface QueryPage {
  items: Record<string, unknown>[];
  count: number;
}

export async function* queryPages(
  what: string,
  input: Omit<QueryCommandInput, 'ExclusiveStartKey' | 'Limit'>,
  call: <T>(what: string, fn: () => Promise<T>) => Promise<T>,
  limit?: (page: number) => number,
): AsyncGenerator<QueryPage> {
  let start: Record<string, unknown> | undefined;
  for (let page = 0; ; page++) {
    const request: QueryCommandInput = {
      ...input,
      ...(limit ? { Limit: limit(page) } : {}),
      ...(start ? { ExclusiveStartKey: start } : {}),
    };
    const out = await call(what, () => documentClient().send(new QueryCommand(request)));
    yield { items: out.Items ?? [], count: out.Count ?? 0 };
    start = out.LastEvaluatedKey;
    if (!start) return;
  }
}
