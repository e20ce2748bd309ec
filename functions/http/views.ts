/** Domain records in the contract's wire shapes. */
import type { BatchInfo, ShardRange } from '../domain/batches.js';
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

export function encodeCursor(p: EventPosition): string {
  return Buffer.from(JSON.stringify([p.createdAt, p.eventId])).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): EventPosition | undefined {
  if (cursor === undefined) return undefined;
  try {
    const [createdAt, eventId] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (Number.isSafeInteger(createdAt) && typeof eventId === 'string') return { createdAt: createdAt as number, eventId };
  } catch {
    // fall through
  }
  throw validationError([{ loc: ['query', 'events_after'], msg: 'Invalid events cursor', type: 'value_error' }]);
}

export function batchView(b: BatchInfo) {
  return {
    batch_id: b.batchId,
    status: b.status,
    created_at: b.createdAt,
    ...(b.releasedAt !== undefined ? { released_at: b.releasedAt } : {}),
    ...(b.releaseId !== undefined ? { release_id: b.releaseId } : {}),
    session_count: b.sessionCount,
  };
}

export function rangeView(r: ShardRange) {
  return { shard: r.shard, after_number: r.afterNumber, until_number: r.untilNumber, session_count: r.sessionCount };
}

export function encodeBatchCursor(p: BatchLogPosition): string {
  return Buffer.from(JSON.stringify([p.createdAt, p.batchId])).toString('base64url');
}

export function decodeBatchCursor(cursor: string | undefined): BatchLogPosition | undefined {
  if (cursor === undefined) return undefined;
  try {
    const [createdAt, batchId] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (Number.isSafeInteger(createdAt) && (createdAt as number) >= 0 && typeof batchId === 'string' && batchId.length > 0) {
      return { createdAt: createdAt as number, batchId };
    }
  } catch {
    // fall through
  }
  throw validationError([{ loc: ['query', 'cursor'], msg: 'Invalid batches cursor', type: 'value_error' }]);
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
  };
}
