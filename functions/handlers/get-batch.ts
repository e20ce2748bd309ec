import { getBatch } from '../domain/batches.js';
import { httpHandler, json } from '../http/handler.js';
import { batchView } from '../http/views.js';
import { getBatchQuery } from '../shared/schemas.js';

export const handler = httpHandler({ name: 'get_batch', query: getBatchQuery }, async ({ query }) =>
  json(200, batchView(await getBatch(query.batch_id))),
);
