/**
 * The throughput floor (floor.ts) in a process of its own, driven over IPC by throughput.ts:
 * `{ setup }` once, then `{ run: 'push' | 'create', concurrency, maxRequests, maxMs }` per segment,
 * each answered with the segment's figures; `stop` ends it (so does the parent going away).
 */
import { type BatchToRead, closedLoop, type FloorOptions, floorWorkload, type FloorWorkload } from './floor.js';

let workload: FloorWorkload | undefined;

type Message =
  | { id: number; setup: FloorOptions }
  | { id: number; run: 'push' | 'create'; concurrency: number; maxRequests: number; maxMs: number }
  | { id: number; read: BatchToRead; maxMs: number }
  | 'stop';

process.on('message', (m: Message) => {
  if (m === 'stop') {
    workload?.destroy();
    process.exit(0);
  }
  void (async () => {
    try {
      if ('setup' in m) {
        workload = await floorWorkload(m.setup);
        process.send?.({ id: m.id, ok: true });
        return;
      }
      if (!workload) throw new Error('floor process: run before setup');
      if ('read' in m) {
        process.send?.({ id: m.id, segment: await workload.read(m.read, m.maxMs) });
        return;
      }
      const call = m.run === 'push' ? workload.push : workload.create;
      const segment = await closedLoop(m.concurrency, m.maxRequests, m.maxMs, call);
      process.send?.({ id: m.id, segment });
    } catch (err) {
      process.send?.({ id: m.id, error: String((err as Error)?.stack ?? err) });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
