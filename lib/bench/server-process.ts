/**
 * The local HTTP server (lib/local/server.ts) in a process of its own, for the throughput figures
 * and the soak: the handlers get an event loop that the load generator does not share. The parent
 * sets the environment; this process reports its URL over IPC and runs until the parent says stop
 * (or disappears).
 */
import { setExportRunner } from '../../functions/domain/exports.js';
import { inProcessExportRunner } from '../local/export-runner.js';
import { startLocalServer } from '../local/server.js';

// Exports (POST /internal/batch/export) run in this process, as under npm start (EXPORT_DIR is set by the parent).
setExportRunner(inProcessExportRunner());

const server = await startLocalServer({ port: 0, host: '127.0.0.1' });
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('message', (m) => {
  if (m === 'stop') void stop();
});
process.on('disconnect', () => void stop());
process.send?.({ url: server.url });
