/**
 * Runs erasures in-process, for npm start and the tests: the worker of functions/domain/erasure.ts,
 * started as soon as a request is accepted (instead of the stack's schedule) with short waits, so that
 * an erasure completes within seconds. One loop at a time; a kick while it runs makes it look again.
 */
import { type ErasurePolicy, setErasureKicker, workOnErasures } from '../../functions/domain/erasure.js';

/** Locally: a few seconds of settle and sweep delay (local creates and pushes take milliseconds), no batching. */
export const LOCAL_ERASURE_POLICY: ErasurePolicy = {
  segments: 4,
  concurrency: 4,
  settleMs: 2_000,
  sweepDelayMs: 2_000,
  batchWaitMs: 0,
};

export interface InProcessErasureRunner {
  /** Resolves when the worker has nothing left to do (every queued request done). */
  settled(): Promise<void>;
  /** Uninstalls it. */
  stop(): void;
}

export function inProcessErasureRunner(policy: Partial<ErasurePolicy> = {}): InProcessErasureRunner {
  const p: ErasurePolicy = { ...LOCAL_ERASURE_POLICY, ...policy };
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  async function loop(): Promise<void> {
    for (;;) {
      again = false;
      const step = await workOnErasures(p, Number.POSITIVE_INFINITY);
      if (stopped) return;
      if (step.kind === 'more') continue;
      if (step.kind === 'wait') {
        await new Promise((r) => setTimeout(r, Math.max(10, step.until - Date.now())));
        continue;
      }
      if (!again) return;
    }
  }

  const kick = () => {
    again = true;
    running ??= loop()
      .catch((err: unknown) => console.error('Erasure worker failed (it runs again on the next request):', err))
      .finally(() => {
        running = undefined;
      });
  };
  setErasureKicker({ kick });
  return {
    settled: async () => {
      while (running) await running;
    },
    stop: () => {
      stopped = true;
      setErasureKicker(undefined);
    },
  };
}
