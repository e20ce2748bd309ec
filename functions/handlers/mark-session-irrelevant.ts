import { markIrrelevant } from '../domain/sessions.js';
import { callerOf, httpHandler, json } from '../http/handler.js';
import { sessionIdBody } from '../schemas/mark-session-irrelevant.js';

export const handler = httpHandler(
  { name: 'mark_session_irrelevant', body: sessionIdBody },
  async ({ body, event }) => {
    await markIrrelevant(body.session_id, callerOf(event));
    return json(200, { session_id: body.session_id, is_irrelevant: true });
  },
);
