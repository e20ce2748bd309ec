/**
 * Handler durations for the cost figures: warm invocations of the real handlers, one at a time (as a
 * Lambda execution environment serves them), against DynamoDB Local. The Lambda estimate stretches the
 * CPU time to the CPU share Lambda gives the configured memory size (a full vCPU at 1,769 MB).
 */
import { events, sessionBody } from './events.js';
import { post } from '../robustness/support/invoke.js';
import { type Invocation, invokeTimed as invoke } from './invoke.js';
import { lambdaCpuShare } from './prices.js';
import { median, quantile, round } from './stats.js';

export type DurationRow = Awaited<ReturnType<typeof measureDurations>>[number];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** `durationCount` invocations per scenario (fewer for the large pushes), each bounded by `durationMaxMs`. */
export async function measureDurations(
  o: Record<'memoryMb' | 'durationCount' | 'durationMaxMs', number> & { runId: string },
) {
  const stretch = 1 / lambdaCpuShare(o.memoryMb);
  const run = async (key: string, scenario: string, count: number, call: (i: number) => Promise<Invocation>) => {
    // Two untimed calls first: the first call of a handler in a process is a cold start, measured apart.
    for (const i of [-1, -2]) await call(i);
    const samples: Invocation[] = [];
    const deadline = performance.now() + o.durationMaxMs;
    for (let i = 0; i < count && performance.now() < deadline; i++) samples.push(await call(i));
    const [ms, lambda] = [samples.map((s) => s.ms), samples.map((s) => s.ms + s.cpuMs * (stretch - 1))];
    return {
      ...{ key, operation: key.replace(/_\d+$/, ''), scenario, count: samples.length },
      ...{ p50Ms: round(median(ms)), p99Ms: round(quantile(ms, 0.99)), meanMs: round(mean(ms)) },
      cpuMeanMs: round(mean(samples.map((s) => s.cpuMs))),
      /** Estimated Lambda duration at the configured memory size, and billed (each call rounded up to 1 ms), means. */
      ...{ lambdaMs: round(mean(lambda)), billedMs: round(mean(lambda.map(Math.ceil))) },
      logBytes: Math.round(mean(samples.map((s) => s.logBytes))),
    };
  };
  const sid = (s: string) => `${o.runId}-d-${s}`;
  const create = (id: string) => invoke('create_session', post('/session', sessionBody(id)));
  const rows = [await run('create_session', 'new session', o.durationCount, (i) => create(sid(`c${i}`)))];
  for (const n of [1, 10, 100, 1000]) {
    const count = Math.max(5, Math.round(o.durationCount / Math.sqrt(Math.max(1, n / 10))));
    const push = async (i: number) => {
      // A session per push (created untimed): each stays far under the cap on events per session.
      await create(sid(`push-${n}-${i}`));
      const body = { session_id: sid(`push-${n}-${i}`), events: events(`d${n}-${i}`, n) };
      const r = await invoke('push_events', post('/session/events', body));
      if (r.body.accepted !== n) throw new Error(`push of ${n} accepted ${r.body.accepted}`);
      return r;
    };
    rows.push(await run(`push_events_${n}`, `${n} new event${n > 1 ? 's' : ''}`, count, push));
  }
  return rows;
}
