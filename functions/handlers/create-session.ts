import { createSession } from '../domain/sessions.js';
import { callerOf, httpHandler, json } from '../http/handler.js';
import { metrics, MetricUnit } from '../http/observability.js';
import { createSessionBody } from '../shared/schemas.js';

export const handler = httpHandler({ name: 'create_session', body: createSessionBody }, async ({ body, event }) => {
  const { created } = await createSession({
    sessionId: body.session_id,
    caller: callerOf(event),
    createdAt: body.created_at,
    content: {
      search_query: body.search_query,
      search_results: body.search_results.map((r) => ({ object_id: r.object_id, rank: r.rank ?? null, meta: r.meta ?? null })),
      search_meta: body.search_meta ?? null,
      payload_filter: body.payload_filter ?? null,
      sort_by: body.sort_by ?? null,
      user_id: body.user_id ?? null,
    },
  });
  if (created) metrics.addMetric('SessionsCreated', MetricUnit.Count, 1);
  return json(200, { session_id: body.session_id, created });
});
