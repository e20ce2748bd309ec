/**
 * The events cap with a mocked document client: the exact reservation and give-back requests, and
 * what a failed give-back means for the client (nothing: the answer stands, the counter may only
 * count too many).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler as pushEvents } from '../../functions/handlers/push-events.js';
import { resetConfig } from '../../functions/shared/config.js';
import { documentClient, setDocumentClient } from '../../functions/storage/client.js';
import { context, httpEvent } from '../support/events.js';

const ddb = mockClient(DynamoDBDocumentClient);
const HEAD = { batchId: 'B', sessionNumber: 2 ** 40 * 3 + 7 }; // shard 3
const COUNTER_KEY = { pk: 'BATCH#B#SHARD#3', sk: `N#${String(HEAD.sessionNumber).padStart(16, '0')}` };

beforeEach(() => {
  process.env.TABLE_NAME = 'unit-table';
  delete process.env.DYNAMODB_ENDPOINT;
  process.env.CLICKSTREAM_MAX_EVENTS_PER_SESSION = '100';
  resetConfig();
  setDocumentClient(undefined);
  documentClient();
  ddb.reset();
});

const push = async (ids: string[]) => {
  const events = ids.map((id) => ({ event_id: id, object_id: 'o' }));
  const res = await pushEvents(
    httpEvent({ method: 'POST', path: '/session/events', body: { session_id: 's1', events } }),
    context,
  );
  return { status: res.statusCode, body: JSON.parse(res.body!) };
};

describe('events cap requests', () => {
  it('reserves one slot per distinct event id on the membership item, conditionally, before writing', async () => {
    ddb.on(GetCommand).resolves({ Item: HEAD });
    ddb.on(UpdateCommand).resolves({});
    ddb.on(PutCommand).resolves({});
    const res = await push(['e1', 'e2', 'e1']);
    expect(res.body).toMatchObject({ accepted: 2, duplicates: 1 });
    const updates = ddb.commandCalls(UpdateCommand);
    expect(updates).toHaveLength(1); // all slots used: nothing to give back
    expect(updates[0]!.args[0].input).toEqual({
      TableName: 'unit-table',
      Key: COUNTER_KEY,
      UpdateExpression: 'ADD eventCount :n',
      ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(eventCount) OR eventCount <= :room)',
      ExpressionAttributeValues: { ':n': 2, ':room': 98 },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(ddb.commandCalls(GetCommand)[0]!.args[0].input.ProjectionExpression).toBe(
      'batchId, sessionNumber, ownerSub',
    );
  });

  it('gives back the slots of duplicates; a failed give-back does not change the answer', async () => {
    const stored = {
      pk: 'SESSION#s1',
      sk: 'EVENT#e1',
      content: '{"object_id":"o","event_type":"click","meta":null}',
      createdAt: 1,
      createdAtAuto: true,
      receivedAt: 1,
    };
    ddb.on(GetCommand).resolves({ Item: HEAD });
    ddb.on(UpdateCommand, { ExpressionAttributeValues: { ':n': 2, ':room': 98 } } as never).resolves({});
    ddb
      .on(UpdateCommand, { ExpressionAttributeValues: { ':n': -1 } } as never)
      .rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException', $metadata: {} }));
    ddb
      .on(PutCommand)
      .resolves({})
      .on(PutCommand, { Item: { sk: 'EVENT#e1' } } as never)
      .rejects(new ConditionalCheckFailedException({ message: 'exists', $metadata: {}, Item: marshall(stored) }));
    const res = await push(['e1', 'e2']);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accepted: 1, duplicates: 1 });
    const giveBack = ddb
      .commandCalls(UpdateCommand)
      .map((c) => c.args[0].input)
      .find((i) => i.ExpressionAttributeValues?.[':n'] === -1);
    expect(giveBack).toMatchObject({
      Key: COUNTER_KEY,
      UpdateExpression: 'ADD eventCount :n',
      ConditionExpression: 'attribute_exists(eventCount)',
    });
  });

  it('at the cap: no write at all for a new event, and a lookup instead of a put', async () => {
    ddb.on(GetCommand, { Key: { pk: 'SESSION#s1', sk: 'SESSION' } } as never).resolves({ Item: HEAD });
    ddb.on(GetCommand, { Key: { pk: 'SESSION#s1', sk: 'EVENT#e9' } } as never).resolves({});
    ddb.on(UpdateCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'full',
        $metadata: {},
        Item: marshall({ ...COUNTER_KEY, eventCount: 100 }),
      }),
    );
    const res = await push(['e9']);
    expect(res.body.results).toEqual([
      {
        event_id: 'e9',
        status: 'rejected',
        detail: 'Session s1 holds its maximum of 100 events; the event was not stored',
      },
    ]);
    expect(ddb.commandCalls(PutCommand)).toHaveLength(0);
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(1); // the refused reservation; nothing to give back
  });

  it('an unknown session: 404 before any write', async () => {
    ddb.on(GetCommand).resolves({});
    expect((await push(['e1'])).status).toBe(404);
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
    expect(ddb.commandCalls(PutCommand)).toHaveLength(0);
  });
});
