/**
 * Erasure of a user's data (issue 12): every key and expression it uses. Items (keys.ts):
 *   - the request, `ERASURE#<request_id>` / `REQUEST`: the receipt (the user only as an HMAC, the
 *     counts and times), never deleted;
 *   - the queue entry, `ERASURES` / `PENDING#<request_id>`, until the request is done;
 *   - the pass, `ERASURES` / `PASS`, and one cursor per Scan segment, `ERASURES` / `SEGMENT#<n>`, while
 *     a pass runs;
 *   - a note per erased session, `ERASURE#<request_id>` / `SESSION#<session_id>` (its member key and
 *     when it was erased), until the second sweep of its partition.
 * And the deletes of a session's items (session, events, batch membership with the batch's
 * `erasedCount`).
 */
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { backoff } from '../shared/concurrency.js';
import { config } from '../shared/config.js';
import { unavailable } from '../shared/errors.js';
import { documentClient } from './client.js';
import { cancellationReasons, isConditionFailed, storageCall } from './errors.js';
import { ERASED_SESSION_PREFIX, ERASURE_PENDING_PREFIX, keys, SESSION_SORT_KEY } from './keys.js';

const table = () => config().tableName;
const send = documentClient;

export type ErasureState = 'pending' | 'running' | 'done';

export interface ErasureRecord {
  requestId: string;
  /** `hmac-sha256:<hex>` of the user id; the user id itself is never stored. */
  userHmac: string;
  state: ErasureState;
  acceptedAt: number;
  startedAt?: number;
  finishedAt?: number;
  sessions: number;
  events: number;
  memberships: number;
}

function toErasureRecord(i: Record<string, unknown>): ErasureRecord {
  return {
    requestId: i.requestId as string,
    userHmac: i.userHmac as string,
    state: i.state as ErasureState,
    acceptedAt: i.acceptedAt as number,
    ...(typeof i.startedAt === 'number' ? { startedAt: i.startedAt } : {}),
    ...(typeof i.finishedAt === 'number' ? { finishedAt: i.finishedAt } : {}),
    sessions: (i.sessions as number | undefined) ?? 0,
    events: (i.events as number | undefined) ?? 0,
    memberships: (i.memberships as number | undefined) ?? 0,
  };
}

/**
 * Records a new request and queues it, in one transaction, unless the request_id is taken: then the
 * stored request is answered (the caller compares its user).
 */
export async function createErasure(
  r: ErasureRecord,
): Promise<{ created: true } | { created: false; existing: ErasureRecord }> {
  for (let attempt = 0; ; attempt++) {
    try {
      await storageCall('record erasure', () =>
        send().send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: table(),
                  Item: { ...keys.erasure(r.requestId), ...r },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              {
                Put: {
                  TableName: table(),
                  Item: {
                    ...keys.erasureQueued(r.requestId),
                    requestId: r.requestId,
                    userHmac: r.userHmac,
                    acceptedAt: r.acceptedAt,
                  },
                },
              },
            ],
          }),
        ),
      );
      return { created: true };
    } catch (err) {
      const reasons = cancellationReasons(err);
      if (!reasons) throw err;
      if (reasons[0]?.Code === 'ConditionalCheckFailed' || reasons.some((x) => x.Code === 'TransactionConflict')) {
        const existing = await getErasure(r.requestId);
        if (existing) return { created: false, existing };
        if (attempt < 10) {
          await backoff(attempt);
          continue;
        }
      }
      throw unavailable('Storage is unavailable (record erasure); retry the request');
    }
  }
}

export async function getErasure(requestId: string): Promise<ErasureRecord | undefined> {
  const out = await storageCall('get erasure', () =>
    send().send(new GetCommand({ TableName: table(), Key: keys.erasure(requestId), ConsistentRead: true })),
  );
  return out.Item ? toErasureRecord(out.Item) : undefined;
}

/** A queued request: what a pass needs to find the user's sessions. */
export interface QueuedErasure {
  requestId: string;
  userHmac: string;
  acceptedAt: number;
}

/** Every request not done yet, oldest first by request id order of the queue (all of them; the queue is short). */
export async function queuedErasures(): Promise<QueuedErasure[]> {
  const queued: QueuedErasure[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await storageCall('query erasure queue', () =>
      send().send(
        new QueryCommand({
          TableName: table(),
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :pending)',
          ExpressionAttributeValues: { ':pk': keys.erasureQueuePartition(), ':pending': ERASURE_PENDING_PREFIX },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      ),
    );
    for (const i of out.Items ?? [])
      queued.push({
        requestId: i.requestId as string,
        userHmac: i.userHmac as string,
        acceptedAt: i.acceptedAt as number,
      });
    start = out.LastEvaluatedKey;
  } while (start);
  return queued.sort((a, b) => a.acceptedAt - b.acceptedAt);
}

// ---------------------------------------------------------------- the pass

export interface ErasurePass {
  passId: string;
  requests: QueuedErasure[];
  segments: number;
  phase: 'scan' | 'sweep';
  startedAt: number;
  /** When the last segment was scanned (every session of the pass was erased by then). */
  scannedAt?: number;
}

export async function getPass(): Promise<ErasurePass | undefined> {
  const out = await storageCall('get erasure pass', () =>
    send().send(new GetCommand({ TableName: table(), Key: keys.erasurePass(), ConsistentRead: true })),
  );
  const i = out.Item;
  if (!i) return undefined;
  return {
    passId: i.passId as string,
    requests: i.requests as QueuedErasure[],
    segments: i.segments as number,
    phase: i.phase as ErasurePass['phase'],
    startedAt: i.startedAt as number,
    ...(typeof i.scannedAt === 'number' ? { scannedAt: i.scannedAt } : {}),
  };
}

/** Starts a pass unless one runs; false when another worker started one first. */
export async function createPass(pass: ErasurePass): Promise<boolean> {
  try {
    await storageCall('start erasure pass', () =>
      send().send(
        new PutCommand({
          TableName: table(),
          Item: { ...keys.erasurePass(), ...pass },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}

/** The pass has scanned every segment: from now on only its sweep is left. */
export async function passScanned(passId: string, now: number): Promise<void> {
  try {
    await storageCall('end erasure scan', () =>
      send().send(
        new UpdateCommand({
          TableName: table(),
          Key: keys.erasurePass(),
          UpdateExpression: 'SET phase = :sweep, scannedAt = :now',
          ConditionExpression: 'passId = :id AND phase = :scan',
          ExpressionAttributeValues: { ':sweep': 'sweep', ':scan': 'scan', ':now': now, ':id': passId },
        }),
      ),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}

export async function deletePass(passId: string): Promise<void> {
  try {
    await storageCall('end erasure pass', () =>
      send().send(
        new DeleteCommand({
          TableName: table(),
          Key: keys.erasurePass(),
          ConditionExpression: 'passId = :id',
          ExpressionAttributeValues: { ':id': passId },
        }),
      ),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}

const segmentKey = (segment: number) => ({
  pk: keys.erasureQueuePartition(),
  sk: `SEGMENT#${String(segment).padStart(4, '0')}`,
});

/** Where a segment of the pass's Scan stands: not started (undefined cursor), at a key, or done. */
export interface SegmentState {
  cursor?: Record<string, unknown>;
  done: boolean;
}

export async function getSegment(passId: string, segment: number): Promise<SegmentState> {
  const out = await storageCall('get erasure segment', () =>
    send().send(new GetCommand({ TableName: table(), Key: segmentKey(segment), ConsistentRead: true })),
  );
  const i = out.Item;
  if (!i || i.passId !== passId) return { done: false };
  return {
    done: i.done === true,
    ...(typeof i.cursor === 'string' ? { cursor: JSON.parse(i.cursor) as Record<string, unknown> } : {}),
  };
}

export async function putSegment(passId: string, segment: number, state: SegmentState): Promise<void> {
  await storageCall('record erasure segment', () =>
    send().send(
      new PutCommand({
        TableName: table(),
        Item: {
          ...segmentKey(segment),
          passId,
          done: state.done,
          ...(state.cursor ? { cursor: JSON.stringify(state.cursor) } : {}),
        },
      }),
    ),
  );
}

export async function deleteSegment(segment: number): Promise<void> {
  await storageCall('delete erasure segment', () =>
    send().send(new DeleteCommand({ TableName: table(), Key: segmentKey(segment) })),
  );
}

/** A session item as the Scan sees it: enough to decide whether it is the user's and to erase it. */
export interface ScannedSession {
  sessionId: string;
  /** The session's content as stored (JSON text); its `user_id` names the user. */
  content: string;
  receivedAt: number;
  batchId: string;
  sessionNumber: number;
}

/**
 * One page of one segment of a parallel Scan of the whole table, keeping only session items (the
 * filter saves transfer, not read units: a Scan pays for every item it reads). Eventually
 * consistent (half the read units): a pass only looks for sessions stored well before it started.
 */
export async function scanSessions(
  segment: number,
  segments: number,
  start?: Record<string, unknown>,
): Promise<{ sessions: ScannedSession[]; next?: Record<string, unknown> }> {
  const out = await storageCall('scan sessions', () =>
    send().send(
      new ScanCommand({
        TableName: table(),
        Segment: segment,
        TotalSegments: segments,
        FilterExpression: 'sk = :session',
        ProjectionExpression: 'sessionId, content, receivedAt, batchId, sessionNumber',
        ExpressionAttributeValues: { ':session': SESSION_SORT_KEY },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    ),
  );
  return {
    sessions: (out.Items ?? []).map((i) => ({
      sessionId: i.sessionId as string,
      content: i.content as string,
      receivedAt: i.receivedAt as number,
      batchId: i.batchId as string,
      sessionNumber: i.sessionNumber as number,
    })),
    ...(out.LastEvaluatedKey ? { next: out.LastEvaluatedKey } : {}),
  };
}

/** Marks the pass's requests running (those still pending). */
export async function markRunning(requestId: string, passId: string, now: number): Promise<void> {
  try {
    await storageCall('start erasure', () =>
      send().send(
        new UpdateCommand({
          TableName: table(),
          Key: keys.erasure(requestId),
          UpdateExpression: 'SET #state = :running, startedAt = :now, passId = :pass',
          ConditionExpression: '#state = :pending',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':running': 'running', ':pending': 'pending', ':now': now, ':pass': passId },
        }),
      ),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}

/** Adds what was erased to the request's counts. */
export async function addCounts(
  requestId: string,
  c: { sessions: number; events: number; memberships: number },
): Promise<void> {
  if (c.sessions + c.events + c.memberships === 0) return;
  await storageCall('count erasure', () =>
    send().send(
      new UpdateCommand({
        TableName: table(),
        Key: keys.erasure(requestId),
        UpdateExpression: 'ADD sessions :s, events :e, memberships :m',
        ExpressionAttributeValues: { ':s': c.sessions, ':e': c.events, ':m': c.memberships },
      }),
    ),
  );
}

/** The request is done: its receipt is final, and it leaves the queue. */
export async function markDone(requestId: string, now: number): Promise<void> {
  try {
    await storageCall('end erasure', () =>
      send().send(
        new UpdateCommand({
          TableName: table(),
          Key: keys.erasure(requestId),
          // Also from pending: a worker that crashed after starting the pass may not have marked it running.
          UpdateExpression:
            'SET #state = :done, finishedAt = :now, startedAt = if_not_exists(startedAt, :now) REMOVE passId',
          ConditionExpression: '#state <> :done',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':done': 'done', ':now': now },
        }),
      ),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
  await storageCall('dequeue erasure', () =>
    send().send(new DeleteCommand({ TableName: table(), Key: keys.erasureQueued(requestId) })),
  );
}

// ---------------------------------------------------------------- erasing one session

/** What the second sweep needs of an erased session: where its membership was and when it was erased. */
export interface ErasedSessionNote {
  sessionId: string;
  batchId: string;
  sessionNumber: number;
  erasedAt: number;
}

export async function putErasedNote(requestId: string, n: ErasedSessionNote): Promise<void> {
  await storageCall('note erased session', () =>
    send().send(new PutCommand({ TableName: table(), Item: { ...keys.erasedSession(requestId, n.sessionId), ...n } })),
  );
}

export async function erasedNotes(requestId: string): Promise<ErasedSessionNote[]> {
  const notes: ErasedSessionNote[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await storageCall('query erased sessions', () =>
      send().send(
        new QueryCommand({
          TableName: table(),
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :s)',
          ExpressionAttributeValues: { ':pk': keys.erasurePartition(requestId), ':s': ERASED_SESSION_PREFIX },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      ),
    );
    for (const i of out.Items ?? []) {
      notes.push({
        sessionId: i.sessionId as string,
        batchId: i.batchId as string,
        sessionNumber: i.sessionNumber as number,
        erasedAt: i.erasedAt as number,
      });
    }
    start = out.LastEvaluatedKey;
  } while (start);
  return notes;
}

export async function deleteErasedNote(requestId: string, sessionId: string): Promise<void> {
  await storageCall('delete erased note', () =>
    send().send(new DeleteCommand({ TableName: table(), Key: keys.erasedSession(requestId, sessionId) })),
  );
}

/**
 * Deletes a session's batch membership and counts it on its batch (`erasedCount`, `lastErasedAt`), in
 * one transaction: true when this call deleted it, false when it was gone already. With the
 * membership gone, a push that has not reserved its event slots yet finds no counter and answers 404.
 */
export async function deleteMembership(batchId: string, sessionNumber: number, now: number): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      await storageCall('erase membership', () =>
        send().send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Delete: {
                  TableName: table(),
                  Key: keys.eventCounter(batchId, sessionNumber),
                  ConditionExpression: 'attribute_exists(pk)',
                },
              },
              {
                Update: {
                  TableName: table(),
                  Key: keys.batch(batchId),
                  UpdateExpression: 'ADD erasedCount :one SET lastErasedAt = :now',
                  ConditionExpression: 'attribute_exists(pk)',
                  ExpressionAttributeValues: { ':one': 1, ':now': now },
                },
              },
            ],
          }),
        ),
      );
      return true;
    } catch (err) {
      const reasons = cancellationReasons(err);
      if (!reasons) throw err;
      if (reasons[0]?.Code === 'ConditionalCheckFailed') return false;
      if (reasons[1]?.Code === 'ConditionalCheckFailed') {
        // No batch item (never the case for a stored session): delete the membership alone.
        const out = await storageCall('erase membership', () =>
          send().send(
            new DeleteCommand({
              TableName: table(),
              Key: keys.eventCounter(batchId, sessionNumber),
              ReturnValues: 'ALL_OLD',
            }),
          ),
        );
        return out.Attributes !== undefined;
      }
      if (attempt < 20) {
        await backoff(attempt); // a conflicting transaction (a release finalizing this batch, a create)
        continue;
      }
      throw unavailable('Storage is unavailable (erase membership); retry');
    }
  }
}

/** Keys and receipt time of the items of a session's partition, a page at a time. */
export async function partitionItems(
  sessionId: string,
  start?: Record<string, unknown>,
): Promise<{ items: { pk: string; sk: string; receivedAt?: number }[]; next?: Record<string, unknown> }> {
  const out = await storageCall('query erased partition', () =>
    send().send(
      new QueryCommand({
        TableName: table(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.sessionPartition(sessionId) },
        ProjectionExpression: 'pk, sk, receivedAt',
        ConsistentRead: true,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    ),
  );
  return {
    items: (out.Items ?? []).map((i) => ({
      pk: i.pk as string,
      sk: i.sk as string,
      ...(typeof i.receivedAt === 'number' ? { receivedAt: i.receivedAt } : {}),
    })),
    ...(out.LastEvaluatedKey ? { next: out.LastEvaluatedKey } : {}),
  };
}

/** Deletes one item of a session's partition; true when it was there. */
export async function deleteItem(key: { pk: string; sk: string }): Promise<boolean> {
  const out = await storageCall('erase item', () =>
    send().send(new DeleteCommand({ TableName: table(), Key: key, ReturnValues: 'ALL_OLD' })),
  );
  return out.Attributes !== undefined;
}

export const isSessionItem = (sk: string) => sk === SESSION_SORT_KEY;
