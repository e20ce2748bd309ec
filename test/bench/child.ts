/**
 * The bench's child processes: `child.ts server` runs the local server (exports in-process, as under
 * npm start) and reports its URL; `child.ts floor` runs the floor (floor.ts), one IPC call at a time.
 */ import { setExportRunner } from '../../functions/domain/exports.js';
import { inProcessExportRunner } from '../../lib/local/export-runner.js';
import { startLocalServer } from '../../lib/local/server.js';
import { type BatchToRead, closedLoop, type FloorOptions, floorWorkload, type FloorWorkload } from './floor.js';

type Message =
  | { setup: FloorOptions }
  | { run: 'push' | 'create'; concurrency: number; maxRequests: number; maxMs: number }
  | { read: BatchToRead; maxMs: number }
  | 'stop';

let stop = async () => process.exit(0);
let workload: FloorWorkload | undefined;

async function answer(m: Exclude<Message, 'stop'>): Promise<Record<string, unknown>> {
  if ('setup' in m) {
    workload = await floorWorkload(m.setup);
    return { ok: true };
  }
  if (!workload) throw new Error('floor process: run before setup');
  if ('read' in m) return { segment: await closedLoop(1, Number.MAX_SAFE_INTEGER, m.maxMs, workload.reader(m.read)) };
  return {
    segment: await closedLoop(
      m.concurrency,
      m.maxRequests,
      m.maxMs,
      m.run === 'push' ? workload.push : workload.create,
    ),
  };
}

if (process.argv[2] === 'server') {
  setExportRunner(inProcessExportRunner());
  const server = await startLocalServer({ port: 0, host: '127.0.0.1' });
  stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.send?.({ url: server.url });
} else {
  stop = async () => {
    workload?.destroy();
    process.exit(0);
  };
  process.send?.({ ready: true });
}
process.on('message', (m: Message) => {
  if (m === 'stop') void stop();
  else if (process.argv[2] === 'floor') {
    answer(m).then(
      (a) => process.send?.(a),
      (err) => process.send?.({ error: String((err as Error)?.stack ?? err) }),
    );
  }
});
process.on('disconnect', () => void stop());
