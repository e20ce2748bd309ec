import { startExport } from '../domain/exports.js';
import { httpHandler, json } from '../http/handler.js';
import { exportView } from '../http/views.js';
import { startExportBody } from '../schemas/start-export.js';

export const handler = httpHandler({ name: 'start_export', body: startExportBody }, async ({ body }) => {
  const status = await startExport({ exportId: body.export_id, batchId: body.batch_id, format: body.format });
  return json(202, exportView(status));
});
