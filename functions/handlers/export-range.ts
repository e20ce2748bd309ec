/**
 * A task of the export state machine (not an HTTP route): writes the next file of one range and
 * answers the task for the next iteration (functions/domain/export-worker.ts). Its input is
 * validated like a request; a bad input fails the task (and, after the retries, the export).
 */
import type { Context } from 'aws-lambda';
import { exportRange, type RangeTaskResult } from '../domain/export-worker.js';
import { lineOf } from '../domain/training-lines.js';
import { log } from '../http/observability.js';
import { sessionView } from '../http/views.js';
import { rangeTaskSchema } from '../schemas/export-range.js';

export const handler = async (event: unknown, context: Context): Promise<RangeTaskResult> => {
  const task = rangeTaskSchema.parse(event);
  const started = Date.now();
  const result = await exportRange(task, {
    remainingMs: () => context.getRemainingTimeInMillis(),
    line: (format, view) => lineOf(format, sessionView(view)),
  });
  log.info('export range', {
    shard: task.range.shard,
    part: task.part,
    done: result.done,
    durationMs: Date.now() - started,
  });
  return result;
};
