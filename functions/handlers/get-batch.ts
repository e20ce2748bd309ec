import { getBatch } from '../domain/batches.js';
import { httpHandler, json } from '../http/handler.js';
import { batchView, rangeView } from '../http/views.js';
import { getBatchQuery } from '../schemas/get-batch.js';

export const handler = httpHandler({ name: 'get_batch', query: getBatchQuery }, async ({ query }) => {
  const batch = await getBatch(query.batch_id);
  return json(200, { ...batchView(batch), ...(batch.ranges ? { ranges: batch.ranges.map(rangeView) } : {}) });
});
