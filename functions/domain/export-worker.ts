/**
 * The two steps an export runs, in AWS as Lambda tasks of the state machine, locally in-process:
 *
 * - `exportRange` writes the next file of one range: from `cursor` (the last session number already
 *   in a file) it reads sessions in number order, with all of their events, and streams them as gzip
 *   JSON Lines to `<format>-s<shard>-p<part>.jsonl.gz`. It stops after `sessionsPerFile` sessions or
 *   when its time nears its end, records the file, and hands `cursor` and `part + 1` on to the next
 *   iteration, so a range of any size finishes. The file's name is a function of the task's input,
 *   and its content of the batch (which no longer changes) and the split rule: a retried task starts
 *   from the same cursor and replaces the same file whole, then its record. A session is in no file
 *   twice and in none not at all.
 * - `finishExport` checks the files against the batch (every session exactly once), writes
 *   `manifest.json` last, and marks the export succeeded; or, on a failure, marks it failed.
 */
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { byteMeter } from '../shared/byte-meter.js';
import { config } from '../shared/config.js';
import { DomainError } from '../shared/errors.js';
import { exportFiles } from '../storage/export-files.js';
import { exportPrefix, MANIFEST_FILE } from '../storage/export-location.js';
import { getBatch as readBatch } from '../storage/batch-store.js';
import { endExport, getExportWithFiles, putExportFile } from '../storage/export-store.js';
import { readRangePage } from './export-source.js';
import type { SessionView } from './sessions.js';
import type { ExportFileEntry, ExportFormat, ExportRange, ExportTotals } from './types.js';

/** One iteration of a range: where it starts and which file it writes. */
export interface RangeTask {
  exportId: string;
  batchId: string;
  format: ExportFormat;
  range: ExportRange;
  /** The last session number already written; the range starts after `range.after`. */
  cursor: number;
  /** Index of the file this iteration writes (0, 1, ...). */
  part: number;
}

export interface RangeTaskResult extends RangeTask {
  /** True when the range is complete; otherwise run the returned task next. */
  done: boolean;
}

/** Stop reading once less than this time is left: enough to finish the file and its upload. */
export const HANDOFF_MARGIN_MS = 60_000;
/** Sessions read per storage round trip. */
const PAGE_SESSIONS = 100;
/** Schema version of manifest.json. */
export const MANIFEST_VERSION = 1;

export const fileNameOf = (format: ExportFormat, shard: number, part: number) =>
  `${format}-s${String(shard).padStart(4, '0')}-p${String(part).padStart(5, '0')}.jsonl.gz`;

/** A session's line in a format (functions/domain/training-lines.ts on its wire shape), without the newline. */
export type LineWriter = (format: ExportFormat, view: SessionView) => string;

export async function exportRange(
  task: RangeTask,
  io: { remainingMs(): number; line: LineWriter },
  sessionsPerFile = config().exportSessionsPerFile,
): Promise<RangeTaskResult> {
  const { range } = task;
  let cursor = Math.max(task.cursor, range.after);
  let page = await readRangePage(task.batchId, range, cursor, Math.min(PAGE_SESSIONS, sessionsPerFile));
  if (page.sessions.length === 0) return { ...task, cursor, done: true };

  const path = fileNameOf(task.format, range.shard, task.part);
  const sink = exportFiles().create(`${exportPrefix(task.batchId, task.exportId)}${path}`, 'application/gzip');
  const gzip = createGzip();
  const measured = byteMeter();
  const piped = pipeline(gzip, measured.stream, sink.stream);
  piped.catch(() => undefined); // awaited below; a failure also shows on the next write
  let sessions = 0;
  let events = 0;
  let done = false;
  try {
    for (;;) {
      for (const view of page.sessions) {
        if (!gzip.write(`${io.line(task.format, view)}\n`)) await Promise.race([once(gzip, 'drain'), piped]);
        sessions++;
        events += view.events.length;
        cursor = view.session.sessionNumber;
      }
      if (page.end) {
        done = true;
        break;
      }
      if (sessions >= sessionsPerFile || io.remainingMs() < HANDOFF_MARGIN_MS) break;
      page = await readRangePage(task.batchId, range, cursor, Math.min(PAGE_SESSIONS, sessionsPerFile - sessions));
      if (page.sessions.length === 0) {
        done = true;
        break;
      }
    }
    gzip.end();
    await piped;
    await sink.done();
  } catch (err) {
    gzip.destroy();
    await sink.abort(err as Error);
    throw err;
  }
  await putExportFile(task.exportId, { path, sessions, events, ...measured.result() });
  return { ...task, cursor, part: task.part + 1, done };
}

/** The export's manifest: written last, so a reader that finds it knows every file is complete. */
export interface Manifest {
  schema_version: number;
  export_id: string;
  batch_id: string;
  format: ExportFormat;
  exported_at: string;
  files: ExportFileEntry[];
  totals: ExportTotals;
}

/** The check of a finished export failed: its files do not hold the batch. Not retried. */
export class ExportCheckFailed extends DomainError {
  constructor(message: string) {
    super('conflict', message);
    this.name = 'ExportCheckFailed';
  }
}

export async function finishExport(input: { exportId: string; error?: string }, now = Date.now()): Promise<void> {
  if (input.error !== undefined) {
    await endExport(input.exportId, { state: 'failed', error: input.error, now });
    return;
  }
  const { record, files } = await getExportWithFiles(input.exportId);
  if (!record) throw new Error(`Export ${input.exportId} is not recorded`);
  if (record.state !== 'running') return; // already ended: a repeated finish changes nothing
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const totals: ExportTotals = {
    files: files.length,
    sessions: files.reduce((n, f) => n + f.sessions, 0),
    events: files.reduce((n, f) => n + f.events, 0),
    bytes: files.reduce((n, f) => n + f.bytes, 0),
  };
  const expected = record.ranges.reduce((n, r) => n + r.sessions, 0);
  // Sessions may expire through the table's TTL (retentionDays); then fewer is no error. Sessions
  // erased from the batch (README "Erasing a user") are left out: fewer by at most their count.
  const retention = config().retentionDays > 0;
  const erased = totals.sessions < expected && !retention ? ((await readBatch(record.batchId))?.erasedCount ?? 0) : 0;
  if (
    record.ranges.every((r) => r.sessions >= 0) &&
    (totals.sessions > expected || (totals.sessions < expected - erased && !retention))
  ) {
    throw new ExportCheckFailed(`The files hold ${totals.sessions} sessions; the batch has ${expected}`);
  }
  const manifest: Manifest = {
    schema_version: MANIFEST_VERSION,
    export_id: record.exportId,
    batch_id: record.batchId,
    format: record.format,
    exported_at: new Date(now).toISOString(),
    files,
    totals,
  };
  await exportFiles().put(
    `${exportPrefix(record.batchId, record.exportId)}${MANIFEST_FILE}`,
    `${JSON.stringify(manifest, null, 2)}\n`,
    'application/json',
  );
  await endExport(record.exportId, { state: 'succeeded', totals, now });
}
