import { listBatches } from '../domain/batches.js';
import { httpHandler, json } from '../http/handler.js';
import { batchView, decodeBatchCursor, encodeBatchCursor } from '../http/views.js';
import { listBatchesQuery } from '../schemas/list-batches.js';

export const handler = httpHandler({ name: 'list_batches', query: listBatchesQuery }, async ({ query }) => {
  const page = await listBatches(query.limit, decodeBatchCursor(query.cursor));
  return json(200, {
    batches: page.batches.map(batchView),
    next_cursor: page.next ? encodeBatchCursor(page.next) : null,
  });
});
