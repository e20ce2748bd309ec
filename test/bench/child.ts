/** The floor's process (floor.ts): one IPC call at a time. */
import { type BatchToRead, closedLoop, type FloorOptions, floorWorkload, type FloorWorkload } from './floor.js';

export type FloorCall =
  | { setup: FloorOptions }
  | { run: 'push' | 'create'; concurrency: number; maxRequests: number; maxMs: number }
  | { read: BatchToRead; maxMs: number };

let workload: FloorWorkload | undefined;
async function answer(m: FloorCall): Promise<Record<string, unknown>> {
  if ('setup' in m) return ((workload = await floorWorkload(m.setup)), { ok: true });
  if (!workload) throw new Error('floor process: run before setup');
  if ('read' in m) return { segment: await closedLoop(1, Number.MAX_SAFE_INTEGER, m.maxMs, workload.reader(m.read)) };
  return { segment: await closedLoop(m.concurrency, m.maxRequests, m.maxMs, workload[m.run]) };
}

process.send?.({ ready: true });
process.on('message', (m: FloorCall) =>
  answer(m).then(
    (a) => process.send?.(a),
    (err) => process.send?.({ error: String((err as Error)?.stack ?? err) }),
  ),
);
// The bench closes the channel when it is done.
process.on('disconnect', () => {
  workload?.destroy();
  process.exit(0);
});
