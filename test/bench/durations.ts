/**
 * Handler durations for the cost figures: warm invocations of the real handlers, one at a time (as a
 * Lambda execution environment serves them), against DynamoDB Local. Each gives wall time and CPU
 * time; the Lambda estimate stretches the CPU part to the CPU share Lambda gives the configured memory
 * size (a full vCPU at 1,769 MB; 512 MB gets about 29%), a first-order model stated in the docs.
 */
import { events, sessionBody } from './events.js';
import type { Invoker } from './invoke.js';
import { lambdaCpuShare } from './prices.js';
import { median, quantile, round } from './stats.js';

export interface DurationRow {
  key: string;
  operation: string;
  scenario: string;
  /** Events per request (push_events), sessions per request (create_session): 1. */
  items: number;
  count: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  cpuMeanMs: number;
  /** Estimated Lambda duration at the configured memory size (mean), ms. */
  lambdaMs: number;
  /** Estimated billed duration (each invocation rounded up to 1 ms), mean, ms. */
  billedMs: number;
  logBytes: number;
}

export interface DurationOptions {
  invoker: Invoker;
  memoryMb: number;
  runId: string;
  /** How many invocations per scenario (scaled down for the large pushes), and a time bound each. */
  count: number;
  maxMsPerScenario: number;
}

export async function measureDurations(o: DurationOptions): Promise<DurationRow[]> {
  const stretch = 1 / lambdaCpuShare(o.memoryMb);
  const rows: DurationRow[] = [];
  const post = (path: string, body: unknown) => ({ method: 'POST' as const, path, body });
  const run = async (key: string, operation: string, scenario: string, items: number, count: number, call: (i: number) => Promise<{ ms: number; cpuMs: number; logBytes: number }>) => {
    const samples: { ms: number; cpuMs: number; logBytes: number }[] = [];
    const deadline = performance.now() + o.maxMsPerScenario;
    // Two untimed calls first: the first call of a handler in a process is a cold start, measured apart.
    await call(-1);
    await call(-2);
    for (let i = 0; i < count && performance.now() < deadline; i++) samples.push(await call(i));
    const lambda = samples.map((s) => s.ms + s.cpuMs * (stretch - 1));
    rows.push({
      key,
      operation,
      scenario,
      items,
      count: samples.length,
      p50Ms: round(median(samples.map((s) => s.ms))),
      p99Ms: round(quantile(samples.map((s) => s.ms), 0.99)),
      meanMs: round(samples.reduce((a, s) => a + s.ms, 0) / samples.length),
      cpuMeanMs: round(samples.reduce((a, s) => a + s.cpuMs, 0) / samples.length),
      lambdaMs: round(lambda.reduce((a, b) => a + b, 0) / lambda.length),
      billedMs: round(lambda.reduce((a, b) => a + Math.ceil(b), 0) / lambda.length),
      logBytes: Math.round(samples.reduce((a, s) => a + s.logBytes, 0) / samples.length),
    });
  };

  const sid = (s: string) => `${o.runId}-d-${s}`;
  await run('create_session', 'create_session', 'new session', 1, o.count, (i) =>
    o.invoker.expect('create_session', post('/session', sessionBody(sid(`c${i}`)))),
  );
  for (const n of [1, 10, 100, 1000]) {
    const count = Math.max(5, Math.round(o.count / Math.sqrt(Math.max(1, n / 10))));
    await run(`push_events_${n}`, 'push_events', `${n} new event${n > 1 ? 's' : ''}`, n, count, async (i) => {
      // A session per push (created untimed): each stays far under the cap on events per session.
      const pushSession = sid(`push-${n}-${i}`);
      await o.invoker.expect('create_session', post('/session', sessionBody(pushSession)));
      const r = await o.invoker.expect('push_events', post('/session/events', { session_id: pushSession, events: events(`d${n}-${i}`, n) }));
      if (r.body.accepted !== n) throw new Error(`push of ${n} accepted ${r.body.accepted}`);
      return r;
    });
  }
  return rows;
}
