/**
 * Runs exports in-process, for npm start and the tests: the very task handlers the state machine
 * invokes in AWS, in the same order, with the same retry policy and bounded concurrency over the
 * ranges (lib/export-policy.ts), but no Step Functions. Starting an export that this process runs
 * or ran starts nothing new (as Step Functions does for an execution name it knows).
 */
import type { Context } from 'aws-lambda';
import type { ExportRunInput, ExportRunner } from '../../functions/domain/exports.js';
import type { RangeTask, RangeTaskResult } from '../../functions/domain/export-worker.js';
import { mapLimited } from '../../functions/shared/concurrency.js';
import { EXPORT_FINISH_TIMEOUT_SECONDS, EXPORT_RETRY, EXPORT_WORKER_TIMEOUT_SECONDS } from '../export-policy.js';
import { exportTasks } from '../routes.js';
import { DEFAULT_SETTINGS } from '../settings.js';
import { lambdaContext } from './lambda-events.js';
import { inInvocation } from './lambda-logs.js';
import { loadHandler } from './server.js';

type TaskHandler<I, O> = (event: I, context: Context) => Promise<O>;

export interface InProcessRunnerOptions {
  /** Ranges exported at once (the state machine's map concurrency). */
  concurrency?: number;
  /** Time a worker gets (default: the Lambda timeout); it hands its cursor on before it ends. */
  workerTimeoutMs?: number;
  /** Milliseconds before the first retry (doubles each time); default as in AWS. */
  retryDelayMs?: number;
  /**
   * Called before each task invocation. A test can make the attempt fail at once (throw), or in the
   * middle of its file: the returned function replaces the time left that the worker reads after
   * each page, and may throw (a worker killed while writing).
   */
  beforeTask?: (task: RangeTask, attempt: number) => void | (() => number) | Promise<void>;
}

export interface InProcessRunner extends ExportRunner {
  /** Resolves when the run of this export (started by this process) has ended. */
  settled(exportId: string): Promise<void>;
}

export function inProcessExportRunner(options: InProcessRunnerOptions = {}): InProcessRunner {
  const running = new Map<string, Promise<void>>();
  const concurrency = options.concurrency ?? DEFAULT_SETTINGS.exportConcurrency;
  const workerMs = options.workerTimeoutMs ?? EXPORT_WORKER_TIMEOUT_SECONDS * 1000;
  const firstDelay = options.retryDelayMs ?? EXPORT_RETRY.intervalSeconds * 1000;
  let handlers:
    Promise<{ range: TaskHandler<RangeTask, RangeTaskResult>; finish: TaskHandler<unknown, unknown> }> | undefined;
  const load = () =>
    (handlers ??= Promise.all([loadHandler(exportTasks.range.entry), loadHandler(exportTasks.finish.entry)]).then(
      ([range, finish]) => ({
        range: range as unknown as TaskHandler<RangeTask, RangeTaskResult>,
        finish: finish as unknown as TaskHandler<unknown, unknown>,
      }),
    ));

  async function withRetry<T>(fn: (attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(attempt);
      } catch (err) {
        if (attempt > EXPORT_RETRY.retries) throw err;
        const delay = Math.min(
          firstDelay * EXPORT_RETRY.backoffRate ** (attempt - 1),
          EXPORT_RETRY.maxDelaySeconds * 1000,
        );
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async function run(input: ExportRunInput): Promise<void> {
    const { range: rangeHandler, finish } = await load();
    const finishWith = (event: unknown) => {
      const context = lambdaContext(exportTasks.finish.logicalId, { timeoutMs: EXPORT_FINISH_TIMEOUT_SECONDS * 1000 });
      return inInvocation(context.awsRequestId, () => finish(event, context));
    };
    try {
      await mapLimited(input.ranges, concurrency, async (range) => {
        let task: RangeTask = {
          exportId: input.exportId,
          batchId: input.batchId,
          format: input.format,
          range,
          cursor: range.after,
          part: 0,
        };
        for (;;) {
          const current = task;
          const result = await withRetry(async (attempt) => {
            const remaining = await options.beforeTask?.(current, attempt);
            const context = lambdaContext(exportTasks.range.logicalId, { timeoutMs: workerMs });
            if (remaining) context.getRemainingTimeInMillis = remaining;
            return inInvocation(context.awsRequestId, () => rangeHandler(current, context));
          });
          if (result.done) return;
          const { done: _done, ...next } = result;
          task = next;
        }
      });
      await withRetry(() => finishWith({ exportId: input.exportId }));
    } catch (err) {
      const e = err as Error;
      await withRetry(() => finishWith({ exportId: input.exportId, failure: { Error: e.name, Cause: e.message } }));
    }
  }

  return {
    async start(input) {
      if (running.has(input.exportId)) return;
      const done = run(input).catch((err: unknown) =>
        console.error(`Export ${input.exportId} could not record its end:`, err),
      );
      running.set(input.exportId, done);
    },
    settled: (exportId) => running.get(exportId) ?? Promise.resolve(),
  };
}
