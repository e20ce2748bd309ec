/**
 * What an export reads and writes per session, from the batch read path of part 1: the ranges of a
 * released batch (one per shard), a range read in session_number order with every event of each
 * session, and the two line formats of `clickstream export`.
 *
 * INTERIM (until the issue-9 branch is merged): a minimal reader on the existing storage calls.
 */
import { mapLimited } from '../shared/concurrency.js';
import { queryMembers } from '../storage/batch-store.js';
import { SHARD_STRIDE } from '../storage/keys.js';
import * as sessions from '../storage/session-store.js';
import { compareEvents, type SessionView } from './sessions.js';
import type { BatchRecord, ExportFormat, ExportRange } from './types.js';

export function rangesOf(batch: BatchRecord): ExportRange[] {
  return Array.from({ length: batch.shardCount ?? 0 }, (_, shard) => ({
    shard,
    after: shard * SHARD_STRIDE,
    until: (shard + 1) * SHARD_STRIDE - 1,
    sessions: -1,
  }));
}

/** Up to `limit` sessions of the range after `after`, each with all of its events; `end` when none follow. */
export async function readRangePage(
  batchId: string,
  range: ExportRange,
  after: number,
  limit: number,
): Promise<{ sessions: SessionView[]; end: boolean }> {
  const members = (await queryMembers(batchId, range.shard, after, limit)).filter((m) => m.sessionNumber <= range.until);
  const found = await sessions.getSessions(members.map((m) => m.sessionId));
  const views = await mapLimited(members, 16, async (m) => {
    const events = (await sessions.getSessionEvents(m.sessionId)).sort(compareEvents);
    return { session: found.get(m.sessionId)!, events, eventCount: events.length };
  });
  return { sessions: views, end: members.length < limit };
}

export function lineOf(format: ExportFormat, v: SessionView): string {
  return JSON.stringify({ session_id: v.session.sessionId, session_number: v.session.sessionNumber, format, events: v.events.map((e) => ({ event_id: e.eventId })) });
}
