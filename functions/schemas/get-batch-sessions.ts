/** get_batch_sessions' query string (the shared pieces: ./shared.ts). */
import * as z from 'zod/mini';
import { boolParamWithDefault, idSchema, intParam, MAX_EVENTS_LIMIT } from './shared.js';

export const MAX_PAGE_LIMIT = 1000;

export const getBatchSessionsQuery = z.object({
  batch_id: idSchema,
  after_number: intParam(0, Number.MAX_SAFE_INTEGER, 0),
  limit: intParam(1, MAX_PAGE_LIMIT, 10),
  events_limit: intParam(1, MAX_EVENTS_LIMIT, 1000),
  include_irrelevant: boolParamWithDefault(false),
  until_number: intParam(
    0,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER,
    'Inclusive upper bound on session_number; default: none. get_batch gives one range per shard',
  ),
  consistent: boolParamWithDefault(
    true,
    'Default true; false reads eventually consistent, at half the read units (README)',
  ),
});
