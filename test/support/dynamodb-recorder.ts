/**
 * Records what the functions really send to DynamoDB: a middleware on the functions' own client
 * notes, for every request, the IAM action of each item it touches (a transaction's Put, Update,
 * ConditionCheck and Delete are each their own action) and that item's partition key. Calls are
 * attributed to the operation that `recordAs` runs (AsyncLocalStorage, so concurrent calls keep
 * their own operation).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface SentCall {
  operation: string;
  /** The IAM action, e.g. `dynamodb:PutItem`. */
  action: string;
  /** The partition key of the item, or of the partition a Query reads. */
  pk: string;
}

const current = new AsyncLocalStorage<string>();
/**
 * A Scan names no partition: IAM evaluates its `ForAllValues` LeadingKeys condition over an empty
 * set, which holds, so the action alone decides.
 */
export const SCAN_PK = '(no partition key: Scan)';
export const sent: SentCall[] = [];

export const recordAs = <T>(operation: string, fn: () => Promise<T>): Promise<T> => current.run(operation, fn);

const NAME = 'iamCoverageRecorder';
type AnyInput = Record<string, any>;

const pkOf = (key: AnyInput | undefined): string => {
  const v = key?.pk;
  return String(v?.S ?? v);
};

/** Partition key of a Query: the value bound to `pk = :x` in its key condition. */
function queryPk(input: AnyInput): string {
  const name = /(?:^|\s|\()pk\s*=\s*(:\w+)/.exec(String(input.KeyConditionExpression))?.[1];
  if (!name) throw new Error(`Query without a pk condition: ${String(input.KeyConditionExpression)}`);
  return pkOf({ pk: input.ExpressionAttributeValues?.[name] });
}

function callsOf(command: string, input: AnyInput): { action: string; pk: string }[] {
  switch (command) {
    case 'GetItem':
    case 'UpdateItem':
    case 'DeleteItem':
      return [{ action: `dynamodb:${command}`, pk: pkOf(input.Key) }];
    case 'PutItem':
      return [{ action: 'dynamodb:PutItem', pk: pkOf(input.Item) }];
    case 'Query':
      return [{ action: 'dynamodb:Query', pk: queryPk(input) }];
    case 'Scan':
      return [{ action: 'dynamodb:Scan', pk: SCAN_PK }];
    case 'BatchGetItem':
      return Object.values(input.RequestItems as Record<string, { Keys: AnyInput[] }>).flatMap((r) =>
        r.Keys.map((k) => ({ action: 'dynamodb:BatchGetItem', pk: pkOf(k) })),
      );
    case 'BatchWriteItem':
      return Object.values(input.RequestItems as Record<string, AnyInput[]>).flatMap((reqs) =>
        reqs.map((r) =>
          r.PutRequest
            ? { action: 'dynamodb:BatchWriteItem', pk: pkOf(r.PutRequest.Item) }
            : { action: 'dynamodb:BatchWriteItem', pk: pkOf(r.DeleteRequest?.Key) },
        ),
      );
    case 'TransactWriteItems':
      return (input.TransactItems as AnyInput[]).map((t) => {
        if (t.Put) return { action: 'dynamodb:PutItem', pk: pkOf(t.Put.Item) };
        if (t.Update) return { action: 'dynamodb:UpdateItem', pk: pkOf(t.Update.Key) };
        if (t.Delete) return { action: 'dynamodb:DeleteItem', pk: pkOf(t.Delete.Key) };
        return { action: 'dynamodb:ConditionCheckItem', pk: pkOf(t.ConditionCheck?.Key) };
      });
    case 'TransactGetItems':
      return (input.TransactItems as AnyInput[]).map((t) => ({ action: 'dynamodb:GetItem', pk: pkOf(t.Get?.Key) }));
    default:
      return [{ action: `dynamodb:${command}`, pk: '?' }];
  }
}

/** Starts recording on a client (the functions' `documentClient()`); idempotent. */
export function attachRecorder(client: DynamoDBDocumentClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = current.getStore();
      if (operation !== undefined) {
        const command = String(context.commandName ?? 'Unknown').replace(/Command$/, '');
        for (const call of callsOf(command, args.input as AnyInput)) sent.push({ operation, ...call });
      }
      return next(args);
    },
    { step: 'initialize', name: NAME, priority: 'high', override: true },
  );
}

/** `StringLike` as IAM evaluates it: `*` any run of characters, `?` any one character. */
export function stringLike(pattern: string, value: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 's').test(value);
}
