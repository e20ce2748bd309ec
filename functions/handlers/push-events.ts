import { pushEvents } from '../domain/sessions.js';
import { eventContent } from '../domain/types.js';
import { callerOf, httpHandler, json } from '../http/handler.js';
import { pushEventsBody } from '../schemas/push-events.js';

export const handler = httpHandler({ name: 'push_events', body: pushEventsBody }, async ({ body, event, count }) => {
  const result = await pushEvents(
    body.session_id,
    body.events.map((e) => ({
      eventId: e.event_id,
      createdAt: e.created_at,
      content: eventContent(e),
    })),
    Date.now(),
    callerOf(event),
  );
  const statuses = { accepted: 0, duplicate: 0, conflict: 0, rejected: 0 };
  for (const r of result.results) statuses[r.status]++;
  count(statuses);
  return json(200, { session_id: body.session_id, ...result });
});
