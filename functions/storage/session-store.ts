/** Sessions and their events: one partition per session (the session item and its event items). */
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '../shared/config.js';
import { unavailable } from '../shared/errors.js';
import type { EventRecord, SessionRecord } from '../domain/types.js';
import { documentClient, queryPages } from './client.js';
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

/** What push_events needs of a session: where its event counter is and who owns it. */
export interface SessionHead {
  batchId: string;
  sessionNumber: number;
  ownerSub?: string;
}

/** The session's head, or undefined when there is no such session (reads a few attributes). */
export async function getSessionHead(sessionId: string): Promise<SessionHead | undefined> {
  const out = await storageCall('get session', () =>
    documentClient().send(
      new GetCommand({
        TableName: table(),
        Key: keys.session(sessionId),
        ConsistentRead: true,
        ProjectionExpression: 'batchId, sessionNumber, ownerSub',
      }),
    ),
  );
  const item = out.Item;
  if (!item) return undefined;
  return {
    batchId: item.batchId as string,
    sessionNumber: item.sessionNumber as number,
    ...(typeof item.ownerSub === 'string' ? { ownerSub: item.ownerSub } : {}),
  };
}

const MAX_RESERVE_ATTEMPTS = 25;

/**
 * Reserves up to `wanted` event slots of a session whose cap is `cap`, atomically: one conditional
 * `ADD` on the session's event counter (its membership item, about 100 bytes: 1 write unit). When
 * fewer slots are left, it takes what is left (0 at the cap). The counter never counts fewer
 * events than are stored: slots are taken before any event is written and given back after.
 */
export async function reserveEventSlots(head: SessionHead, wanted: number, cap: number): Promise<number | 'expired'> {
  let want = Math.min(wanted, cap);
  for (let attempt = 0; want > 0; attempt++) {
    if (attempt >= MAX_RESERVE_ATTEMPTS) throw unavailable('Too much contention on the session; retry the request');
    try {
      await storageCall('reserve event slots', () =>
        documentClient().send(
          new UpdateCommand({
            TableName: table(),
            Key: keys.eventCounter(head.batchId, head.sessionNumber),
            UpdateExpression: 'ADD eventCount :n',
            ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(eventCount) OR eventCount <= :room)',
            ExpressionAttributeValues: { ':n': want, ':room': cap - want },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return want;
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
      const old = conditionFailedItem(err);
      // The membership item is written with the session, in one transaction; it is missing only
      // when it expired (retention) and TTL deleted it before the session's own item.
      if (!old) return 'expired';
      const left = cap - ((old.eventCount as number | undefined) ?? 0);
      if (left <= 0) return 0;
      want = Math.min(want, left);
    }
  }
  return 0;
}

/** Gives back event slots that were reserved but not used (duplicates, conflicts, failures). */
export async function releaseEventSlots(head: SessionHead, count: number): Promise<void> {
  if (count <= 0) return;
  await storageCall('release event slots', () =>
    documentClient().send(
      new UpdateCommand({
        TableName: table(),
        Key: keys.eventCounter(head.batchId, head.sessionNumber),
        UpdateExpression: 'ADD eventCount :n',
        ConditionExpression: 'attribute_exists(eventCount)',
        ExpressionAttributeValues: { ':n': -count },
      }),
    ),
  );
}

/** Items a page of a session's partition holds at most (DynamoDB stops a page at 1 MB anyway). */
export const PARTITION_PAGE_ITEMS = 1000;

export interface PartitionPage {
  /** The session item, when this page holds it (always the first item of the first page). */
  session?: SessionRecord;
  events: EventRecord[];
  /** Stored size of the page's items (DynamoDB's rules), for byte budgets. */
  bytes: number;
}

/**
 * The pages of a session's partition: the session item and its events in ONE paged Query. The
 * partition is read backwards, so the session item (sort key `SESSION`, after every `EVENT#...`)
 * comes first and a reader learns at once whether the session exists and whether it is irrelevant.
 * The first page holds at most `firstLimit` items, the others PARTITION_PAGE_ITEMS.
 */
export async function* sessionPartitionPages(
  sessionId: string,
  o: { consistent: boolean; firstLimit: number },
): AsyncGenerator<PartitionPage> {
  const pages = queryPages(
    'query session',
    {
      TableName: table(),
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.sessionPartition(sessionId) },
      ScanIndexForward: false,
      ConsistentRead: o.consistent,
    },
    storageCall,
    (page) => (page === 0 ? o.firstLimit : PARTITION_PAGE_ITEMS),
  );
  for await (const { items } of pages) {
    const page: PartitionPage = { events: [], bytes: 0 };
    for (const item of items) {
      page.bytes += itemSize(item);
      if (item.sk === SESSION_SORT_KEY) page.session = toSessionRecord(item);
      else if (typeof item.sk === 'string' && item.sk.startsWith(EVENT_PREFIX)) page.events.push(toEventRecord(item));
    }
    yield page;
  }
}

/** Sets the irrelevant flag; false when there is no such session (or, given `ownerSub`, none of that owner). */
export async function markIrrelevant(sessionId: string, ownerSub?: string): Promise<boolean> {
  try {
    await storageCall('mark session', () =>
      documentClient().send(
        new UpdateCommand({
          TableName: table(),
          Key: keys.session(sessionId),
          UpdateExpression: 'SET isIrrelevant = :true',
          ...(ownerSub === undefined
            ? { ConditionExpression: 'attribute_exists(pk)', ExpressionAttributeValues: { ':true': true } }
            : {
                ConditionExpression: 'attribute_exists(pk) AND ownerSub = :sub',
                ExpressionAttributeValues: { ':true': true, ':sub': ownerSub },
              }),
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
