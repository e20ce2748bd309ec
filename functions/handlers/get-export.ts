import { getExportStatus } from '../domain/exports.js';
import { httpHandler, json } from '../http/handler.js';
import { exportView } from '../http/views.js';
import { getExportQuery } from '../schemas/get-export.js';

export const handler = httpHandler({ name: 'get_export', query: getExportQuery }, async ({ query }) => {
  return json(200, exportView(await getExportStatus(query.export_id)));
});
