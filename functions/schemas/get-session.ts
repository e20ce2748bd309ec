/** get_session's query string (the shared pieces: ./shared.ts). */
import * as z from 'zod/mini';
import { cursorParam, idSchema, intParam, MAX_EVENTS_LIMIT } from './shared.js';

export const getSessionQuery = z.object({
  session_id: idSchema,
  events_limit: intParam(1, MAX_EVENTS_LIMIT, MAX_EVENTS_LIMIT),
  events_after: cursorParam('The events_next_cursor of the previous answer: the events after it'),
});
