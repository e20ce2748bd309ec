/**
 * Unit tests with a mocked DynamoDB document client: the exact requests the storage layer sends,
 * and how every kind of storage failure reaches the client.
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resetAllocation } from '../../functions/domain/allocation.js';
import { handler as createSession } from '../../functions/handlers/create-session.js';
import { handler as getSession } from '../../functions/handlers/get-session.js';
import { handler as markIrrelevant } from '../../functions/handlers/mark-session-irrelevant.js';
import { handler as pushEvents } from '../../functions/handlers/push-events.js';
import { resetConfig } from '../../functions/shared/config.js';
import { createSessionItems, insertSession, switchShard } from '../../functions/storage/batch-store.js';
import { documentClient, setDocumentClient } from '../../functions/storage/client.js';
import { putEventOnce } from '../../functions/storage/session-store.js';
import { context, httpEvent } from '../support/events.js';
import { emptyContent } from '../support/sessions.js';

const ddb = mockClient(DynamoDBDocumentClient);

beforeEach(() => {
  process.env.TABLE_NAME = 'unit-table';
  delete process.env.DYNAMODB_ENDPOINT;
  process.env.CLICKSTREAM_RETENTION_DAYS = '0';
  resetConfig();
  setDocumentClient(undefined);
  documentClient(); // built on the mocked class
  resetAllocation();
  ddb.reset();
});
afterEach(() => vi.restoreAllMocks());

const awsError = (name: string, status = 400, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status }, ...extra });

const event = {
  sessionId: 's1',
  eventId: 'e1',
  content: { object_id: 'o1', event_type: 'click', meta: { a: 1 } },
  createdAt: 1_700_000_000_000,
  createdAtAuto: false,
  receivedAt: 1_700_000_000_500,
};

describe('exact DynamoDB requests', () => {
  it('stores an event with a first-write-wins conditional put', async () => {
    ddb.on(PutCommand).resolves({});
    expect(await putEventOnce(event)).toEqual({ stored: true });
    expect(ddb.commandCalls(PutCommand)[0]!.args[0].input).toEqual({
      TableName: 'unit-table',
      Item: {
        pk: 'SESSION#s1',
        sk: 'EVENT#e1',
        content: '{"object_id":"o1","event_type":"click","meta":{"a":1}}',
        createdAt: 1_700_000_000_000,
        createdAtAuto: false,
        receivedAt: 1_700_000_000_500,
        expiresAt: undefined,
      },
      ConditionExpression: 'attribute_not_exists(pk)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('sets the TTL attribute when a retention is configured', async () => {
    process.env.CLICKSTREAM_RETENTION_DAYS = '30';
    resetConfig();
    ddb.on(PutCommand).resolves({});
    await putEventOnce(event);
    const item = ddb.commandCalls(PutCommand)[0]!.args[0].input.Item!;
    expect(item.expiresAt).toBe(Math.floor(event.receivedAt / 1000) + 30 * 86_400);
  });

  it('returns the stored event when the condition fails (from the failed write, no extra read)', async () => {
    const stored = {
      pk: 'SESSION#s1',
      sk: 'EVENT#e1',
      content: '{"object_id":"o2","event_type":"click","meta":null}',
      createdAt: 1,
      createdAtAuto: true,
      receivedAt: 2,
    };
    ddb
      .on(PutCommand)
      .rejects(new ConditionalCheckFailedException({ message: 'failed', $metadata: {}, Item: marshall(stored) }));
    const result = await putEventOnce(event);
    expect(result).toEqual({
      stored: false,
      existing: {
        sessionId: 's1',
        eventId: 'e1',
        content: { object_id: 'o2', event_type: 'click', meta: null },
        createdAt: 1,
        createdAtAuto: true,
        receivedAt: 2,
      },
    });
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
  });

  it("writes the request's write token with the event", async () => {
    ddb.on(PutCommand).resolves({});
    await putEventOnce({ ...event, writeToken: 'tok-A' });
    expect(ddb.commandCalls(PutCommand)[0]!.args[0].input.Item).toMatchObject({
      pk: 'SESSION#s1',
      sk: 'EVENT#e1',
      writeToken: 'tok-A',
    });
  });

  it('counts a failed condition on an item with its own write token as stored (the SDK retried a write whose answer was lost)', async () => {
    const own = {
      pk: 'SESSION#s1',
      sk: 'EVENT#e1',
      content: '{"object_id":"o1","event_type":"click","meta":{"a":1}}',
      createdAt: 1_700_000_000_000,
      createdAtAuto: false,
      receivedAt: 1_700_000_000_500,
      writeToken: 'tok-A',
    };
    ddb
      .on(PutCommand)
      .rejects(new ConditionalCheckFailedException({ message: 'failed', $metadata: {}, Item: marshall(own) }));
    expect(await putEventOnce({ ...event, writeToken: 'tok-A' })).toEqual({ stored: true });
    // Another request's token (a client's retry): the stored event, reported as it is.
    const other = await putEventOnce({ ...event, writeToken: 'tok-B' });
    expect(other).toMatchObject({ stored: false, existing: { eventId: 'e1', writeToken: 'tok-A' } });
    // Without a token (never the case for push_events) nothing is taken as its own.
    expect(await putEventOnce(event)).toMatchObject({ stored: false });
  });

  it('creates a session and its membership in one transaction of two new items (no shared item)', async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const record = {
      sessionId: 's1',
      content: emptyContent(),
      createdAt: 10,
      createdAtAuto: true,
      receivedAt: 11,
      isIrrelevant: false,
      batchId: 'B',
      sessionNumber: 3 * 2 ** 40 + 7,
    };
    expect(await insertSession(record)).toEqual({ kind: 'created' });
    const items = ddb.commandCalls(TransactWriteCommand)[0]!.args[0].input.TransactItems!;
    expect(items).toEqual(createSessionItems(record));
    expect(items).toHaveLength(2);
    expect(items[0]!.Put).toMatchObject({
      Item: { pk: 'SESSION#s1', sk: 'SESSION', batchId: 'B', sessionNumber: record.sessionNumber },
      ConditionExpression: 'attribute_not_exists(pk)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(items[1]!.Put).toEqual({
      TableName: 'unit-table',
      Item: {
        pk: 'BATCH#B#SHARD#3',
        sk: `N#${String(record.sessionNumber).padStart(16, '0')}`,
        sessionId: 's1',
        sessionNumber: record.sessionNumber,
        expiresAt: undefined,
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
  });

  it('reports a create whose number a tombstone took as sealed, and an existing session as exists', async () => {
    const record = {
      sessionId: 's1',
      content: emptyContent(),
      createdAt: 10,
      createdAtAuto: true,
      receivedAt: 11,
      isIrrelevant: false,
      batchId: 'B',
      sessionNumber: 7,
    };
    const cancelled = (reasons: object[]) =>
      Object.assign(new Error('cancelled'), {
        name: 'TransactionCanceledException',
        CancellationReasons: reasons,
        $metadata: {},
      });
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled([{ Code: 'None' }, { Code: 'ConditionalCheckFailed' }]))
      .rejectsOnce(cancelled([{ Code: 'TransactionConflict' }, { Code: 'None' }]));
    expect(await insertSession(record)).toEqual({ kind: 'sealed' });
    expect(await insertSession(record)).toEqual({ kind: 'contention' });
  });

  it("switches a shard with one conditional update that records the batch's sequence range", async () => {
    ddb.on(UpdateCommand).resolves({
      Attributes: { batchId: 'C', prevBatchId: 'B', prevFrom: 64, prevUntil: 160, since: 160, sequence: 160 },
    });
    expect(await switchShard(2, 'B', 'C')).toEqual({ from: 64, until: 160 });
    expect(ddb.commandCalls(UpdateCommand)[0]!.args[0].input).toEqual({
      TableName: 'unit-table',
      Key: { pk: 'SHARD#2', sk: 'SHARD' },
      UpdateExpression:
        'SET prevBatchId = :b, prevFrom = if_not_exists(since, :zero), prevUntil = if_not_exists(#seq, :zero), since = if_not_exists(#seq, :zero), batchId = :next',
      ConditionExpression: 'attribute_not_exists(batchId) OR batchId = :b',
      ExpressionAttributeNames: { '#seq': 'sequence' },
      ExpressionAttributeValues: { ':b': 'B', ':next': 'C', ':zero': 0 },
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('reads the range another caller recorded when the shard was already switched', async () => {
    ddb.on(UpdateCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'x',
        $metadata: {},
        Item: marshall({ batchId: 'C', prevBatchId: 'B', prevFrom: 3, prevUntil: 9 }),
      }),
    );
    expect(await switchShard(0, 'B', 'C')).toEqual({ from: 3, until: 9 });
  });

  it('retries a shard switch that meets an item held by a transaction', async () => {
    ddb
      .on(UpdateCommand)
      .rejectsOnce(Object.assign(new Error('conflict'), { name: 'TransactionConflictException', $metadata: {} }))
      .resolves({ Attributes: { prevFrom: 0, prevUntil: 5 } });
    expect(await switchShard(1, 'B', 'C')).toEqual({ from: 0, until: 5 });
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(2);
  });
});

describe('storage failures as the client sees them', () => {
  const call = (h: typeof getSession, e: ReturnType<typeof httpEvent>) => h(e, context);

  it.each([
    ['throttling', awsError('ThrottlingException')],
    ['exceeded throughput', awsError('ProvisionedThroughputExceededException')],
    ['a DynamoDB 500', awsError('InternalServerError', 500)],
    ['a timeout', awsError('TimeoutError')],
    ['a connection reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
  ])('answers 503 with Retry-After on %s', async (_name, error) => {
    ddb.on(GetCommand).rejects(error);
    ddb.on(QueryCommand).rejects(error);
    const res = await call(getSession, httpEvent({ method: 'GET', path: '/session', query: { session_id: 's1' } }));
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['retry-after']).toBe('1');
    expect(typeof JSON.parse(res.body!).detail).toBe('string');
  });

  it('answers 500 without details on an unexpected error', async () => {
    // get_session reads the session and its events with one Query of the session's partition.
    ddb.on(GetCommand).rejects(awsError('ValidationException'));
    ddb.on(QueryCommand).rejects(awsError('ValidationException'));
    const res = await call(getSession, httpEvent({ method: 'GET', path: '/session', query: { session_id: 's1' } }));
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body!)).toEqual({ detail: 'Internal Server Error' });
  });

  it('answers 503, not 200, when one event of a push cannot be written', async () => {
    ddb.on(GetCommand).resolves({ Item: { batchId: 'B', sessionNumber: 1 } });
    ddb
      .on(PutCommand)
      .resolves({})
      .on(PutCommand, { Item: { sk: 'EVENT#e3' } } as never)
      .rejects(awsError('ThrottlingException'));
    const events = ['e1', 'e2', 'e3', 'e4'].map((id) => ({ event_id: id, object_id: 'o' }));
    const res = await pushEvents(
      httpEvent({ method: 'POST', path: '/session/events', body: { session_id: 's1', events } }),
      context,
    );
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['retry-after']).toBe('1');
  });

  it('answers 404 when marking an unknown session (failed condition)', async () => {
    ddb.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'x', $metadata: {} }));
    const res = await markIrrelevant(
      httpEvent({ method: 'POST', path: '/session/irrelevant', body: { session_id: 'ghost' } }),
      context,
    );
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body!)).toEqual({ detail: 'Session with id=ghost not found' });
  });

  it('retries transaction conflicts and answers 503 once they persist', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    ddb.on(UpdateCommand).resolves({ Attributes: { batchId: 'B', sequence: 32 } });
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: 'cancelled',
        $metadata: {},
        CancellationReasons: [{ Code: 'None' }, { Code: 'None' }, { Code: 'TransactionConflict' }],
      }),
    );
    const body = { session_id: 's1', search_query: 'q', search_results: [] };
    const res = await createSession(httpEvent({ method: 'POST', path: '/session', body }), context);
    expect(res.statusCode).toBe(503);
    expect(ddb.commandCalls(TransactWriteCommand).length).toBeGreaterThan(5);
  });

  it('answers created=false for a retry and 409 for other content when the session exists', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { batchId: 'B', sequence: 32 } });
    const stored = {
      pk: 'SESSION#s1',
      sk: 'SESSION',
      sessionId: 's1',
      content: JSON.stringify(emptyContent()),
      createdAt: 1,
      createdAtAuto: true,
      receivedAt: 1,
      batchId: 'B',
      sessionNumber: 1,
    };
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: 'cancelled',
        $metadata: {},
        CancellationReasons: [
          { Code: 'ConditionalCheckFailed', Item: marshall(stored) },
          { Code: 'None' },
          { Code: 'None' },
        ],
      }),
    );
    const create = (search_query: string) =>
      createSession(
        httpEvent({ method: 'POST', path: '/session', body: { session_id: 's1', search_query, search_results: [] } }),
        context,
      );
    const retry = await create('q');
    expect(JSON.parse(retry.body!)).toEqual({ session_id: 's1', created: false });
    const other = await create('other');
    expect(other.statusCode).toBe(409);
  });
});
