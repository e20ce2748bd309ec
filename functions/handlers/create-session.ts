import { createSession } from '../domain/sessions.js';
import { sessionContent } from '../domain/types.js';
import { callerOf, httpHandler, json } from '../http/handler.js';
import { metrics, MetricUnit } from '../http/observability.js';
import { createSessionBody } from '../schemas/create-session.js';

export const handler = httpHandler({ name: 'create_session', body: createSessionBody }, async ({ body, event }) => {
  const { created } = await createSession({
    sessionId: body.session_id,
    caller: callerOf(event),
    createdAt: body.created_at,
    content: sessionContent(body),
  });
  if (created) metrics.addMetric('SessionsCreated', MetricUnit.Count, 1);
  return json(200, { session_id: body.session_id, created });
});
