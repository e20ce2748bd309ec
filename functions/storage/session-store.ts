/** Sessions and their events: one partition per session (the session item and its event items). */
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '../shared/config.js';
import type { EventRecord, SessionRecord } from '../domain/types.js';
import { documentClient } from './client.js';
import { conditionFailedItem, isConditionFailed, storageCall } from './errors.js';
import { assertFits, eventItem, type Item, itemSize, toEventRecord, toSessionRecord } from './items.js';
import { EVENT_PREFIX, keys, SESSION_SORT_KEY } from './keys.js';

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

/** Items a page of a session's partition holds at most (DynamoDB stops a page at 1 MB anyway). */
export const PARTITION_PAGE_ITEMS = 1000;

export interface PartitionPage {
  /** The session item, when this page holds it (always the first item of the first page). */
  session?: SessionRecord;
  events: EventRecord[];
  /** Stored size of the page's items (DynamoDB's rules), for byte budgets. */
  bytes: number;
  /** Where the next page starts; absent on the last page. */
  next?: Record<string, unknown>;
}

/**
 * One page of a session's partition: the session item and its events in ONE Query. The partition is
 * read backwards, so the session item (sort key `SESSION`, after every `EVENT#...`) comes first and
 * a reader learns at once whether the session exists and whether it is irrelevant.
 */
export async function querySessionPartition(
  sessionId: string,
  o: { consistent: boolean; limit: number; start?: Record<string, unknown> },
): Promise<PartitionPage> {
  const out = await storageCall('query session', () =>
    documentClient().send(
      new QueryCommand({
        TableName: table(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.sessionPartition(sessionId) },
        ScanIndexForward: false,
        ConsistentRead: o.consistent,
        Limit: o.limit,
        ...(o.start ? { ExclusiveStartKey: o.start } : {}),
      }),
    ),
  );
  const page: PartitionPage = { events: [], bytes: 0 };
  for (const item of out.Items ?? []) {
    page.bytes += itemSize(item);
    if (item.sk === SESSION_SORT_KEY) page.session = toSessionRecord(item);
    else if (typeof item.sk === 'string' && item.sk.startsWith(EVENT_PREFIX)) page.events.push(toEventRecord(item));
  }
  if (out.LastEvaluatedKey) page.next = out.LastEvaluatedKey;
  return page;
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

