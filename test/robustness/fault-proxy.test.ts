/**
 * The fault proxy's conflict simulation on its own: DynamoDB's rule that an item held by an ongoing
 * transaction cancels any other transaction that includes it and refuses single writes to it, with
 * the error shapes AWS reports, and nothing else.
 */
import {
  DynamoDBClient,
  PutItemCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { useFreshTable } from '../support/table.js';
import { FaultProxy } from './support/fault-proxy.js';

let proxy: FaultProxy;
let client: DynamoDBClient;
let tableName: string;

beforeAll(async () => {
  const table = await useFreshTable();
  tableName = table.tableName;
  proxy = await FaultProxy.start(table.endpoint);
  client = new DynamoDBClient({
    endpoint: proxy.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1, // the SDK must not retry conflicts away: the test looks at each answer
  });
});
afterAll(async () => {
  client.destroy();
  await proxy.close();
});
beforeEach(() => proxy.simulateConflicts({ holdMs: 150 }));

const key = (pk: string) => ({ pk: { S: pk }, sk: { S: 'X' } });
const add = (pk: string): TransactWriteItem => ({
  Update: {
    TableName: tableName,
    Key: key(pk),
    UpdateExpression: 'ADD n :one',
    ExpressionAttributeValues: { ':one': { N: '1' } },
  },
});
const transact = (...items: TransactWriteItem[]) =>
  client.send(new TransactWriteItemsCommand({ TransactItems: items }));
const settle = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({
      ok: false as const,
      error: error as Error & { CancellationReasons?: { Code?: string }[]; $metadata?: { httpStatusCode?: number } },
    }),
  );
const started = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('conflict simulation', () => {
  it('cancels a transaction that includes an item held by an ongoing one, as AWS reports it', async () => {
    const before = proxy.conflicts.transactions;
    const first = settle(transact(add('shared-1'), add('own-a')));
    await started(30);
    const second = await settle(transact(add('own-b'), add('shared-1')));
    expect((await first).ok).toBe(true);
    expect(second.ok).toBe(false);
    if (second.ok) return;
    expect(second.error.name).toBe('TransactionCanceledException');
    expect(second.error.$metadata?.httpStatusCode).toBe(400);
    expect(second.error.message).toBe(
      'Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]',
    );
    expect(second.error.CancellationReasons?.map((r) => r.Code)).toEqual(['None', 'TransactionConflict']);
    expect(proxy.conflicts.transactions - before).toBe(1);
  });

  it('lets transactions on disjoint items overlap', async () => {
    const answers = await Promise.all(
      ['d-1', 'd-2', 'd-3', 'd-4'].map((pk) => settle(transact(add(pk), add(`${pk}-other`)))),
    );
    expect(answers.map((a) => a.ok)).toEqual([true, true, true, true]);
  });

  it('refuses a single write to a held item with TransactionConflictException, and lets it through once the transaction answered', async () => {
    const before = proxy.conflicts.singleWrites;
    const txn = settle(transact(add('single-1')));
    await started(30);
    const put = await settle(
      client.send(new PutItemCommand({ TableName: tableName, Item: { ...key('single-1'), v: { S: 'x' } } })),
    );
    const update = await settle(
      client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: key('single-2'),
          UpdateExpression: 'SET v = :v',
          ExpressionAttributeValues: { ':v': { S: 'free' } },
        }),
      ),
    );
    expect((await txn).ok).toBe(true);
    expect(put.ok).toBe(false);
    if (!put.ok) {
      expect(put.error.name).toBe('TransactionConflictException');
      expect(put.error.message).toBe('Transaction is ongoing for the item');
    }
    expect(update.ok, 'an item no transaction holds').toBe(true);
    expect(proxy.conflicts.singleWrites - before).toBe(1);
    expect(
      (
        await settle(
          client.send(new PutItemCommand({ TableName: tableName, Item: { ...key('single-1'), v: { S: 'y' } } })),
        )
      ).ok,
    ).toBe(true);
  });

  it("answers a repeat of a held transaction's ClientRequestToken with TransactionInProgressException, then idempotently", async () => {
    const same = () =>
      client.send(new TransactWriteItemsCommand({ ClientRequestToken: 'token-1', TransactItems: [add('token-item')] }));
    const first = settle(same());
    await started(30);
    const repeat = await settle(same());
    expect((await first).ok).toBe(true);
    expect(repeat.ok).toBe(false);
    if (!repeat.ok) expect(repeat.error.name).toBe('TransactionInProgressException');
    expect((await settle(same())).ok, 'the same token once the first attempt is done').toBe(true);
  });

  it('conflicts with nothing when the mode is off', async () => {
    proxy.simulateConflicts(false);
    const answers = await Promise.all(Array.from({ length: 6 }, () => settle(transact(add('off-1')))));
    expect(answers.map((a) => a.ok)).toEqual(Array(6).fill(true));
  });
});
