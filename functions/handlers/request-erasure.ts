import { requestErasure } from '../domain/erasure.js';
import { httpHandler, json } from '../http/handler.js';
import { erasureView } from '../http/views.js';
import { eraseUserBody } from '../schemas/request-erasure.js';

export const handler = httpHandler({ name: 'erase_user', body: eraseUserBody }, async ({ body }) => {
  return json(202, erasureView(await requestErasure({ requestId: body.request_id, userId: body.user_id })));
});
