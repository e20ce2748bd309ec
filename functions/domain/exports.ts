/**
 * Exports of a released batch into files (gzip JSON Lines plus a manifest), started and described
 * through the API. An export is recorded once per export_id (a conditional write), and then run by
 * an `ExportRunner`: the Step Functions state machine in AWS, the same workers in-process locally.
 * In AWS, the record itself starts the run: the table's stream delivers its insertion to the export
 * starter (functions/handlers/export-starter.ts, `runRecordedExport`), so start_export carries no
 * Step Functions client, and an export recorded by a call that crashed right after still starts.
 * Locally (npm start, tests) no stream runs: start_export hands the run to the installed runner.
 * The workers and the finishing step are in export-worker.ts.
 */
import { conflict, notFound } from '../shared/errors.js';
import { exportPrefix, locationOf } from '../storage/export-location.js';
import { getBatch as readBatch } from '../storage/batch-store.js';
import { createExport, getExportWithFiles } from '../storage/export-store.js';
import { releasedRanges } from './export-source.js';
import type { ExportFormat, ExportRange, ExportRecord } from './types.js';

/** What a run of an export needs; the same record always gives the same input (Step Functions compares it). */
export interface ExportRunInput {
  exportId: string;
  batchId: string;
  format: ExportFormat;
  ranges: ExportRange[];
}

/** Runs exports: starting one that already runs (or ran) starts nothing new. */
export interface ExportRunner {
  start(input: ExportRunInput): Promise<void>;
}

let localRunner: ExportRunner | undefined;

/**
 * The local server and the tests install the in-process runner, which stands in for the table's
 * stream and the state machine. In AWS none is installed: the stream starts each recorded export.
 */
export function setExportRunner(next: ExportRunner | undefined): void {
  localRunner = next;
}

export const runInputOf = (r: ExportRecord): ExportRunInput => ({
  exportId: r.exportId,
  batchId: r.batchId,
  format: r.format,
  ranges: r.ranges.map((x) => ({ shard: x.shard, after: x.after, until: x.until, sessions: x.sessions })),
});

export interface ExportStatus {
  record: ExportRecord;
  /** Files written so far (all of them once it succeeded). */
  files: number;
  /** Sessions in those files. */
  sessions: number;
  /** Sessions of the batch were erased after the export started: its files may hold them (until they expire). */
  containsErasedSessions?: boolean;
}

const exportNotFound = (id: string) => notFound(`Export with id=${id} not found`);

/**
 * Starts the export of a released batch, or joins it: the same export_id always names the same
 * export. The first call records it, and the record starts its run (AWS: through the table's
 * stream; locally, every call while it runs asks the installed runner, which starts nothing when it
 * already runs). The same export_id for another batch or format is a conflict.
 */
export async function startExport(
  input: { exportId: string; batchId: string; format: ExportFormat },
  now = Date.now(),
): Promise<ExportStatus> {
  const batch = await releasedRanges(input.batchId); // 404 for an unknown batch
  if (!batch.released) throw conflict(`Batch with id=${input.batchId} is still collecting`);
  const record: ExportRecord = {
    exportId: input.exportId,
    batchId: input.batchId,
    format: input.format,
    state: 'running',
    location: locationOf(exportPrefix(input.batchId, input.exportId)),
    createdAt: now,
    ranges: batch.ranges,
  };
  const outcome = await createExport(record);
  const stored = outcome.created ? record : outcome.existing;
  if (stored.batchId !== input.batchId || stored.format !== input.format) {
    throw conflict(
      `Export with id=${input.exportId} already exists for batch ${stored.batchId} in format ${stored.format}`,
    );
  }
  if (stored.state === 'running') await localRunner?.start(runInputOf(stored));
  return getExportStatus(input.exportId);
}

/**
 * Starts the run of a recorded export (the export starter, from the table's stream). The stream may
 * deliver a record more than once, and the runner starts nothing for an export that already runs
 * or ran; an export that has already ended starts nothing either.
 */
export async function runRecordedExport(record: ExportRecord, runner: ExportRunner): Promise<void> {
  if (record.state === 'running') await runner.start(runInputOf(record));
}

export async function getExportStatus(exportId: string): Promise<ExportStatus> {
  const { record, files } = await getExportWithFiles(exportId);
  if (!record) throw exportNotFound(exportId);
  const erased = await erasedSince(record.batchId, record.createdAt);
  if (record.totals) return { record, files: record.totals.files, sessions: record.totals.sessions, ...erased };
  return { record, files: files.length, sessions: files.reduce((n, f) => n + f.sessions, 0), ...erased };
}

/** The mark an erasure leaves on the exports of a batch: one of its sessions was erased after the export started. */
async function erasedSince(batchId: string, startedAt: number): Promise<{ containsErasedSessions?: true }> {
  const batch = await readBatch(batchId);
  return batch?.lastErasedAt !== undefined && batch.lastErasedAt >= startedAt ? { containsErasedSessions: true } : {};
}
