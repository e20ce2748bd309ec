import { createSession } from '../domain/sessions.js';
import { sessionContent } from '../domain/types.js';
import { callerOf, httpHandler, json } from '../http/handler.js';
import { createSessionBody } from '../schemas/create-session.js';

export const handler = httpHandler(
  { name: 'create_session', body: createSessionBody },
  async ({ body, event, count }) => {
    const { created } = await createSession({
      sessionId: body.session_id,
      caller: callerOf(event),
      createdAt: body.created_at,
      content: sessionContent(body),
    });
    count({ created });
    return json(200, { session_id: body.session_id, created });
  },
);
