import { getSession } from '../domain/sessions.js';
import { callerOf, httpHandler, json } from '../http/handler.js';
import { decodeCursor, eventView, RESPONSE_BUDGET_BYTES, responseBytes, sessionView } from '../http/views.js';
import { getSessionQuery } from '../schemas/get-session.js';

export const handler = httpHandler({ name: 'get_session', query: getSessionQuery }, async ({ query, event }) => {
  const view = await getSession(
    query.session_id,
    {
      limit: query.events_limit,
      after: decodeCursor(query.events_after),
      maxBytes: RESPONSE_BUDGET_BYTES,
      measure: (e) => responseBytes(eventView(e)),
    },
    callerOf(event),
  );
  return json(200, sessionView(view));
});
