import { getBatchSessions } from '../domain/batches.js';
import { httpHandler, json } from '../http/handler.js';
import { eventView, RESPONSE_BUDGET_BYTES, responseBytes, sessionView } from '../http/views.js';
import { getBatchSessionsQuery } from '../schemas/get-batch-sessions.js';

/** Leaves room inside API Gateway's 30 s for the answer to travel. */
const PAGE_TIME_BUDGET_MS = 15_000;

export const handler = httpHandler({ name: 'get_batch_sessions', query: getBatchSessionsQuery }, async ({ query }) => {
  const page = await getBatchSessions({
    batchId: query.batch_id,
    afterNumber: query.after_number,
    untilNumber: query.until_number,
    limit: query.limit,
    includeIrrelevant: query.include_irrelevant,
    consistent: query.consistent,
    events: { limit: query.events_limit, maxBytes: RESPONSE_BUDGET_BYTES, measure: (e) => responseBytes(eventView(e)) },
    maxBytes: RESPONSE_BUDGET_BYTES,
    measure: (v) => responseBytes(sessionView(v)),
    deadline: Date.now() + PAGE_TIME_BUDGET_MS,
  });
  return json(200, { batch_id: page.batchId, last_number: page.lastNumber, sessions: page.sessions.map(sessionView) });
});
