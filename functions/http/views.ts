/** Domain records in the contract's wire shapes. */
import type { BatchInfo, ShardRange } from '../domain/batches.js';
import type { ErasureRecord } from '../domain/erasure.js';
import type { ExportStatus } from '../domain/exports.js';
import type { EventPosition, SessionView } from '../domain/sessions.js';
import type { BatchLogPosition } from '../storage/batch-store.js';
import type { EventRecord } from '../domain/types.js';
import { validationError } from './errors.js';

export function eventView(e: EventRecord) {
  return {
    event_id: e.eventId,
    object_id: e.content.object_id,
    event_type: e.content.event_type,
    created_at: e.createdAt,
    meta: e.content.meta,
    received_at: e.receivedAt,
  };
}

export function sessionView(v: SessionView) {
  const s = v.session;
  return {
    session_id: s.sessionId,
    ...s.content,
    created_at: s.createdAt,
    received_at: s.receivedAt,
    is_irrelevant: s.isIrrelevant,
    batch_id: s.batchId,
    session_number: s.sessionNumber,
    events: v.events.map(eventView),
    events_count: v.eventCount,
    events_truncated: v.next !== undefined,
    ...(v.next ? { events_next_cursor: encodeCursor(v.next) } : {}),
  };
}

/** Bytes a value adds to a Lambda response (its JSON, escaped once more inside the envelope). */
export const responseBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(JSON.stringify(value)));

/** Lambda answers at most 6 MB; pages stop adding sessions or events at this many bytes. */
export const RESPONSE_BUDGET_BYTES = 4_500_000;

/** A position in a list (a time and an id) as an opaque cursor: base64url of `[createdAt, id]`. */
const encodePosition = (createdAt: number, id: string) =>
  Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');

/** The `[createdAt, id]` of a cursor this API made and `valid` accepts; 422 at the query parameter otherwise. */
function decodePosition(
  cursor: string,
  param: string,
  what: string,
  valid: (createdAt: number, id: string) => boolean,
): [number, string] {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (Number.isSafeInteger(createdAt) && typeof id === 'string' && valid(createdAt as number, id))
      return [createdAt as number, id];
  } catch {
    // fall through
  }
  throw validationError([{ loc: ['query', param], msg: `Invalid ${what} cursor`, type: 'value_error' }]);
}

export const encodeCursor = (p: EventPosition) => encodePosition(p.createdAt, p.eventId);

export function decodeCursor(cursor: string | undefined): EventPosition | undefined {
  if (cursor === undefined) return undefined;
  const [createdAt, eventId] = decodePosition(cursor, 'events_after', 'events', () => true);
  return { createdAt, eventId };
}

export function batchView(b: BatchInfo) {
  return {
    batch_id: b.batchId,
    status: b.status,
    created_at: b.createdAt,
    ...(b.releasedAt !== undefined ? { released_at: b.releasedAt } : {}),
    ...(b.releaseId !== undefined ? { release_id: b.releaseId } : {}),
    session_count: b.sessionCount,
    ...(b.erasedCount ? { erased_count: b.erasedCount } : {}),
  };
}

export function rangeView(r: ShardRange) {
  return { shard: r.shard, after_number: r.afterNumber, until_number: r.untilNumber, session_count: r.sessionCount };
}

export const encodeBatchCursor = (p: BatchLogPosition) => encodePosition(p.createdAt, p.batchId);

export function decodeBatchCursor(cursor: string | undefined): BatchLogPosition | undefined {
  if (cursor === undefined) return undefined;
  // As the batch log keys them: a time of at most 13 digits (ms) and a batch id (1..128 characters).
  const [createdAt, batchId] = decodePosition(
    cursor,
    'cursor',
    'batches',
    (t, id) => t >= 0 && t < 1e13 && id.length > 0 && [...id].length <= 128,
  );
  return { createdAt, batchId };
}
/** An export's state: `files`/`sessions` count what is written so far (all of it once it succeeded). */
export function exportView(s: ExportStatus) {
  const r = s.record;
  return {
    export_id: r.exportId,
    batch_id: r.batchId,
    format: r.format,
    state: r.state,
    location: r.location,
    files: s.files,
    sessions: s.sessions,
    ...(r.state === 'failed' ? { error: r.error ?? 'The export failed' } : {}),
    ...(s.containsErasedSessions ? { contains_erased_sessions: true } : {}),
  };
}

/** An erasure request's state: the receipt (the user only as an HMAC). */
export function erasureView(r: ErasureRecord) {
  return {
    request_id: r.requestId,
    state: r.state,
    user_id_hmac: r.userHmac,
    accepted_at: r.acceptedAt,
    started_at: r.startedAt ?? null,
    finished_at: r.finishedAt ?? null,
    sessions_erased: r.sessions,
    events_erased: r.events,
    batch_memberships_erased: r.memberships,
  };
}
