/** create_session's request body (the shared pieces: ./shared.ts). */
import * as z from 'zod/mini';
import { boundedString, idSchema, jsonObject, optional, timestamp, withDefault } from './shared.js';

export const MAX_SEARCH_RESULTS = 1000;
export const MAX_SHORT_TEXT_CHARS = 1024;

const object = jsonObject();

const searchResult = z.object({
  object_id: idSchema,
  rank: optional(z.number()),
  meta: optional(object),
});

export const createSessionBody = z.object({
  session_id: idSchema,
  search_query: z.union([z.string(), object], {
    message: 'Input should be a valid string or dictionary',
  }),
  search_results: z
    .array(searchResult)
    .check(z.maxLength(MAX_SEARCH_RESULTS, { message: `List should have at most ${MAX_SEARCH_RESULTS} items` })),
  search_meta: optional(object),
  payload_filter: optional(object),
  sort_by: optional(
    z.object({
      field: boundedString(MAX_SHORT_TEXT_CHARS),
      order: withDefault(z.enum(['asc', 'desc']), 'asc' as const),
      // EmbeddingStudio's SortByOptions: whether to sort outside the payload filter.
      force_not_payload: withDefault(z.boolean(), false),
    }),
  ),
  user_id: optional(idSchema),
  created_at: optional(timestamp()),
});
export type CreateSessionBody = z.output<typeof createSessionBody>;
