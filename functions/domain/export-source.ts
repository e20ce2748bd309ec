/**
 * What an export reads, from the batch read path of part 1 (functions/domain/batches.ts): the
 * ranges of a released batch (one per shard, with the number of sessions the release counted on it)
 * and a range read in session_number order, each session whole with all of its events.
 */
import { getBatch, readRange } from './batches.js';
import type { SessionView } from './sessions.js';
import type { ExportRange } from './types.js';

/** The ranges of a batch, every shard included (an empty one costs one read and writes no file). */
export async function releasedRanges(batchId: string): Promise<{ released: boolean; ranges: ExportRange[] }> {
  const batch = await getBatch(batchId, { finishAbandoned: false }); // its role writes only export records
  return {
    released: batch.status === 'released',
    ranges: (batch.ranges ?? []).map((r) => ({
      shard: r.shard,
      after: r.afterNumber,
      until: r.untilNumber,
      sessions: r.sessionCount,
    })),
  };
}

/** Up to `limit` sessions of the range after `after` (strongly consistent); `end` when none follow. */
export async function readRangePage(
  batchId: string,
  range: ExportRange,
  after: number,
  limit: number,
): Promise<{ sessions: SessionView[]; end: boolean }> {
  const page = await readRange({ batchId, afterNumber: after, untilNumber: range.until, limit });
  return { sessions: page.sessions, end: page.next === null };
}
