/**
 * The bench's child processes: `child.ts server` runs the local server (exports in-process, as under
 * npm start) and reports its URL; `child.ts floor` runs the floor (floor.ts), one IPC call at a time.
 */
import { setExportRunner } from '../../functions/domain/exports.js';
import { inProcessExportRunner } from '../../lib/local/export-runner.js';
import { startLocalServer } from '../../lib/local/server.js';
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

const isServer = process.argv[2] === 'server';
if (isServer) setExportRunner(inProcessExportRunner());
const server = isServer ? await startLocalServer({ port: 0, host: '127.0.0.1' }) : undefined;
const stop = async () => {
  await server?.close();
  workload?.destroy();
  process.exit(0);
};
process.send?.(server ? { url: server.url } : { ready: true });
process.on('message', (m: FloorCall | 'stop') => {
  if (m === 'stop') void stop();
  else if (!server)
    answer(m).then(
      (a) => process.send?.(a),
      (err) => process.send?.({ error: String((err as Error)?.stack ?? err) }),
    );
});
process.on('disconnect', () => void stop());
