/** push_events' request body (the shared pieces: ./shared.ts). */
import * as z from 'zod/mini';
import { boundedString, idSchema, jsonObject, MAX_ID_CHARS, optional, timestamp, withDefault } from './shared.js';

export const MAX_EVENTS_PER_REQUEST = 1000;

const eventSchema = z.object({
  event_id: idSchema,
  object_id: idSchema,
  event_type: withDefault(boundedString(MAX_ID_CHARS), 'click'),
  created_at: optional(timestamp()),
  meta: optional(jsonObject()),
});

export const pushEventsBody = z.object({
  session_id: idSchema,
  events: z
    .array(eventSchema)
    .check(
      z.minLength(1, { message: 'List should have at least 1 item' }),
      z.maxLength(MAX_EVENTS_PER_REQUEST, { message: `List should have at most ${MAX_EVENTS_PER_REQUEST} items` }),
    ),
});
export type PushEventsBody = z.output<typeof pushEventsBody>;
