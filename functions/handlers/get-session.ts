import { getSession } from '../domain/sessions.js';
import { httpHandler, json } from '../http/handler.js';
import { decodeCursor, eventView, RESPONSE_BUDGET_BYTES, responseBytes, sessionView } from '../http/views.js';
import { getSessionQuery } from '../shared/schemas.js';

export const handler = httpHandler({ name: 'get_session', query: getSessionQuery }, async ({ query }) => {
  const view = await getSession(query.session_id, {
    limit: query.events_limit,
    after: decodeCursor(query.events_after),
    maxBytes: RESPONSE_BUDGET_BYTES,
    measure: (e) => responseBytes(eventView(e)),
  });
  return json(200, sessionView(view));
});
