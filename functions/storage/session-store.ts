/** Sessions and their events: one partition per session (the session item and its event items). */
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '../shared/config.js';
import type { EventRecord, SessionRecord } from '../domain/types.js';
import { batchGetConsistent, documentClient } from './client.js';
import { conditionFailedItem, isConditionFailed, storageCall } from './errors.js';
import { assertFits, eventItem, type Item, toEventRecord, toSessionRecord } from './items.js';
import { EVENT_PREFIX, keys } from './keys.js';

const table = () => config().tableName;

export async function getSession(sessionId: string): Promise<SessionRecord | undefined> {
  const out = await storageCall('get session', () =>
    documentClient().send(new GetCommand({ TableName: table(), Key: keys.session(sessionId), ConsistentRead: true })),
  );
  return out.Item ? toSessionRecord(out.Item) : undefined;
}

/** True when the session exists (reads only its key). */
export async function sessionExists(sessionId: string): Promise<boolean> {
  const out = await storageCall('get session', () =>
    documentClient().send(
      new GetCommand({
        TableName: table(),
        Key: keys.session(sessionId),
        ConsistentRead: true,
        ProjectionExpression: 'pk',
      }),
    ),
  );
  return out.Item !== undefined;
}

/** Reads sessions by id (strongly consistent); missing ones are left out. */
export async function getSessions(sessionIds: string[]): Promise<Map<string, SessionRecord>> {
  const items = await batchGetConsistent(table(), sessionIds.map((id) => keys.session(id)), storageCall);
  return new Map(items.map((item) => [item.sessionId as string, toSessionRecord(item)]));
}

/** Every event of a session, in storage order (by event id). */
export async function getSessionEvents(sessionId: string): Promise<EventRecord[]> {
  const events: EventRecord[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await storageCall('query events', () =>
      documentClient().send(
        new QueryCommand({
          TableName: table(),
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': keys.sessionPartition(sessionId), ':prefix': EVENT_PREFIX },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      ),
    );
    for (const item of out.Items ?? []) events.push(toEventRecord(item));
    start = out.LastEvaluatedKey;
  } while (start);
  return events;
}

/** Sets the irrelevant flag; false when there is no such session. */
export async function markIrrelevant(sessionId: string): Promise<boolean> {
  try {
    await storageCall('mark session', () =>
      documentClient().send(
        new UpdateCommand({
          TableName: table(),
          Key: keys.session(sessionId),
          UpdateExpression: 'SET isIrrelevant = :true',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':true': true },
        }),
      ),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}

/** Refuses up front an event that could not be stored whole. */
export function assertEventFits(record: EventRecord): Item {
  const item = eventItem(record);
  assertFits(item, `Event ${record.eventId}`);
  return item;
}

export type PutEventResult = { stored: true } | { stored: false; existing: EventRecord };

/** Stores an event unless its (session_id, event_id) is stored already: first write wins. */
export async function putEventOnce(record: EventRecord): Promise<PutEventResult> {
  const item = assertEventFits(record);
  try {
    await storageCall('put event', () =>
      documentClient().send(
        new PutCommand({
          TableName: table(),
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      ),
    );
    return { stored: true };
  } catch (err) {
    if (isConditionFailed(err)) {
      const old = conditionFailedItem(err);
      const existing = old ? toEventRecord(old) : await getEvent(record.sessionId, record.eventId);
      if (existing) {
        // Our own write, whose answer was lost and which the SDK retried: stored, by this request.
        if (record.writeToken !== undefined && existing.writeToken === record.writeToken) return { stored: true };
        return { stored: false, existing };
      }
    }
    throw err;
  }
}

export async function getEvent(sessionId: string, eventId: string): Promise<EventRecord | undefined> {
  const out = await storageCall('get event', () =>
    documentClient().send(
      new GetCommand({ TableName: table(), Key: keys.event(sessionId, eventId), ConsistentRead: true }),
    ),
  );
  return out.Item ? toEventRecord(out.Item) : undefined;
}

