import { getErasure } from '../domain/erasure.js';
import { httpHandler, json } from '../http/handler.js';
import { erasureView } from '../http/views.js';
import { getErasureQuery } from '../schemas/get-erasure.js';

export const handler = httpHandler({ name: 'get_erasure', query: getErasureQuery }, async ({ query }) => {
  return json(200, erasureView(await getErasure(query.request_id)));
});
