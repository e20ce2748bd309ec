/**
 * Request schemas (zod). They describe the wire format of the contract; normalization to the
 * domain's shapes happens here too, so that handlers pass typed, normalized input to the domain.
 *
 * Written with `zod/mini`, zod's tree-shakable form (functions instead of methods): the same
 * parser core and issues as the full `zod`, at a fraction of its bundle size and start-up time
 * (docs/benchmarks.md). English messages are configured explicitly, as the full zod does by default.
 */
import * as z from 'zod/mini';
import { en } from 'zod/locales';
import { toMillis, WrittenNumber } from './timestamps.js';

// jitless: zod parses with its plain code path instead of compiling a parser per object schema with
// `new Function` on first use; the answers are the same, and a cold start saves the compilation.
z.config({ ...en(), jitless: true });

export const MAX_ID_CHARS = 128;
export const MAX_EVENTS_PER_REQUEST = 1000;
export const MAX_SEARCH_RESULTS = 1000;
export const MAX_SHORT_TEXT_CHARS = 1024;

/**
 * JSON Schema facts that zod cannot derive from refinements (lengths in code points, timestamps,
 * query integers): lib/openapi.ts builds the API document from the schemas with these merged in.
 */
export const schemaDocs = z.registry<Record<string, unknown>>();
const documented = <T extends z.ZodMiniType>(schema: T, meta: Record<string, unknown>): T => {
  schemaDocs.add(schema, meta);
  return schema;
};

const codePoints = (s: string) => {
  let count = 0;
  for (const _ of s) count++;
  return count;
};

/** A string of 1..max characters (Unicode code points, as Python counts them). */
const boundedString = (max: number) =>
  documented(
    z.string().check(
    z.minLength(1, { message: 'String should have at least 1 character' }),
    z.superRefine((value, ctx) => {
      if (value.length > max && codePoints(value) > max) {
        ctx.addIssue({
          code: 'custom',
          message: `String should have at most ${max} characters`,
          params: { type: 'string_too_long' },
        });
      }
    }),
    ),
    { maxLength: max, description: `1 to ${max} characters (Unicode code points)` },
  );

export const idSchema = boundedString(MAX_ID_CHARS);

/** A JSON object (not an array, not null), kept as the very value that was sent. */
export const jsonObject = documented(
  z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
    message: 'Input should be a valid dictionary',
    params: { type: 'dict_type' },
  }),
  { type: 'object', description: 'Any JSON object (nesting up to 64 levels), stored and returned verbatim' },
);

/** Optional field: absent and null both mean "not given". */
const optional = <T extends z.ZodMiniType>(schema: T) => {
  const inner = z.optional(z.union([schema, z.null()]));
  return z.pipe(inner, z.transform((v: z.output<typeof inner>) => (v === null ? undefined : v)));
};

/** Field with a default: absent and null both mean "not given", so both take the default. */
const withDefault = <T extends z.ZodMiniType>(schema: T, fallback: z.output<T>) => {
  const inner = optional(schema);
  return documented(z.pipe(inner, z.transform((v: z.output<typeof inner>) => (v === undefined ? fallback : v))), {
    description: `Absent or null: ${JSON.stringify(fallback)}`,
  });
};

export interface Timestamp {
  ms: number;
  /** The value as the client sent it, for error messages. */
  raw: string | number;
}

export const timestampSchema = documented(z.pipe(
  z.unknown().check(
    z.superRefine((value, ctx) => {
      if (toMillis(value) === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: 'Input should be an integer of Unix seconds or milliseconds, or an ISO-8601 date-time string',
          params: { type: 'timestamp_type' },
        });
      }
    }),
  ),
  z.transform((value): Timestamp => ({ ms: toMillis(value)!, raw: value instanceof WrittenNumber ? value.lexeme : (value as string | number) })),
), {
  anyOf: [
    { type: 'integer', minimum: 0, description: 'Unix seconds (below 100,000,000,000) or milliseconds (from 100,000,000,000), written as an integer' },
    { type: 'string', description: 'ISO-8601 date or date-time; no offset means UTC' },
  ],
  description: 'Stored as integer milliseconds; absent or null means the time the server received it. Floats, booleans, numeric strings and negatives: 422.',
});

const searchResult = z.object({
  object_id: idSchema,
  rank: optional(z.number()),
  meta: optional(jsonObject),
});

export const createSessionBody = z.object({
  session_id: idSchema,
  search_query: z.union([z.string(), jsonObject], {
    message: 'Input should be a valid string or dictionary',
  }),
  search_results: z.array(searchResult).check(
    z.maxLength(MAX_SEARCH_RESULTS, { message: `List should have at most ${MAX_SEARCH_RESULTS} items` }),
  ),
  search_meta: optional(jsonObject),
  payload_filter: optional(jsonObject),
  sort_by: optional(
    z.object({
      field: boundedString(MAX_SHORT_TEXT_CHARS),
      order: withDefault(z.enum(['asc', 'desc']), 'asc' as const),
      // EmbeddingStudio's SortByOptions: whether to sort outside the payload filter.
      force_not_payload: withDefault(z.boolean(), false),
    }),
  ),
  user_id: optional(idSchema),
  created_at: optional(timestampSchema),
});
export type CreateSessionBody = z.output<typeof createSessionBody>;

const eventSchema = z.object({
  event_id: idSchema,
  object_id: idSchema,
  event_type: withDefault(boundedString(MAX_ID_CHARS), 'click'),
  created_at: optional(timestampSchema),
  meta: optional(jsonObject),
});

export const pushEventsBody = z.object({
  session_id: idSchema,
  events: z.array(eventSchema).check(
    z.minLength(1, { message: 'List should have at least 1 item' }),
    z.maxLength(MAX_EVENTS_PER_REQUEST, { message: `List should have at most ${MAX_EVENTS_PER_REQUEST} items` }),
  ),
});
export type PushEventsBody = z.output<typeof pushEventsBody>;

export const sessionIdBody = z.object({ session_id: idSchema });
export const releaseBody = z.object({ release_id: idSchema });

// ---- query strings: every value arrives as a string ----

const intParam = (min: number, max: number, fallback: number, description = `Default ${fallback}`) =>
  documented(z.pipe(
    z.optional(
      z.string().check(
        z.superRefine((raw, ctx) => {
          // An optional sign and decimal digits, leading zeros allowed ("007" is 7).
          const m = /^([+-]?)0*(\d+)$/.exec(raw);
          if (!m) {
            ctx.addIssue({ code: 'custom', message: 'Input should be a valid integer', params: { type: 'int_parsing' } });
            return;
          }
          // More than 16 significant digits is past 2^53 whatever they are: out of range, not rounded.
          const value = m[2]!.length > 16 ? (m[1] === '-' ? -Infinity : Infinity) : Number(m[1]! + m[2]);
          if (value < min || value > max) {
            ctx.addIssue({
              code: 'custom',
              message: value < min ? `Input should be greater than or equal to ${min}` : `Input should be less than or equal to ${max}`,
              params: { type: value < min ? 'greater_than_equal' : 'less_than_equal' },
            });
          }
        }),
      ),
    ),
    z.transform((raw: string | undefined) => (raw === undefined ? fallback : Number(raw) + 0)),
  ), { type: 'integer', minimum: min, maximum: max, description });

const TRUE = ['true', '1', 'yes', 'on', 't', 'y'];
const FALSE = ['false', '0', 'no', 'off', 'f', 'n'];

const boolParamWithDefault = (fallback: boolean, description = `Default ${fallback}`) =>
  documented(z.pipe(
    z.optional(
      z.string().check(
        z.superRefine((raw, ctx) => {
          const v = raw.toLowerCase();
          if (!TRUE.includes(v) && !FALSE.includes(v)) {
            ctx.addIssue({ code: 'custom', message: 'Input should be a valid boolean', params: { type: 'bool_parsing' } });
          }
        }),
      ),
    ),
    z.transform((raw: string | undefined) => (raw === undefined ? fallback : TRUE.includes(raw.toLowerCase()))),
  ), { type: 'boolean', description: `${TRUE.join('/')} or ${FALSE.join('/')}, any case. ${description}` });

const boolParam = boolParamWithDefault(false);

export const MAX_EVENTS_LIMIT = 10_000;
export const MAX_PAGE_LIMIT = 1000;

export const getSessionQuery = z.object({
  session_id: idSchema,
  events_limit: intParam(1, MAX_EVENTS_LIMIT, MAX_EVENTS_LIMIT),
  events_after: documented(z.optional(z.string().check(z.maxLength(1024, { message: 'String should have at most 1024 characters' }))), {
    description: 'The events_next_cursor of the previous answer: the events after it',
  }),
});

export const getBatchSessionsQuery = z.object({
  batch_id: idSchema,
  after_number: intParam(0, Number.MAX_SAFE_INTEGER, 0),
  limit: intParam(1, MAX_PAGE_LIMIT, 10),
  events_limit: intParam(1, MAX_EVENTS_LIMIT, 1000),
  include_irrelevant: boolParam,
  until_number: intParam(0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'Inclusive upper bound on session_number; default: none. get_batch gives one range per shard'),
  consistent: boolParamWithDefault(true, 'Default true; false reads eventually consistent, at half the read units (README)'),
});

export const getBatchQuery = z.object({ batch_id: optional(idSchema) });

export const MAX_BATCH_LIST_LIMIT = 100;

export const listBatchesQuery = z.object({
  cursor: documented(z.optional(z.string().check(z.maxLength(1024, { message: 'String should have at most 1024 characters' }))), {
    description: 'The next_cursor of the previous answer: the batches opened before the last one it listed',
  }),
  limit: intParam(1, MAX_BATCH_LIST_LIMIT, 20),
});

// ---- exports ----

export const EXPORT_FORMATS = ['sessions', 'pairs'] as const;
/** An export_id names a folder (`exports/<batch_id>/<export_id>/`): letters, digits, `.`, `_`, `-`, not starting with `.`. */
export const EXPORT_ID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

export const exportIdSchema = documented(
  z.string().check(
    z.superRefine((value, ctx) => {
      if (!EXPORT_ID_PATTERN.test(value)) {
        ctx.addIssue({
          code: 'custom',
          message: 'String should be 1 to 128 letters, digits, ".", "_" or "-", not starting with "."',
          params: { type: 'string_pattern_mismatch' },
        });
      }
    }),
  ),
  { pattern: EXPORT_ID_PATTERN.source, description: 'The idempotency key of the export and the name of its folder' },
);

export const startExportBody = z.object({
  batch_id: idSchema,
  export_id: exportIdSchema,
  format: withDefault(z.enum(EXPORT_FORMATS), 'sessions' as const),
});

export const getExportQuery = z.object({ export_id: exportIdSchema });

// ---- the export's internal tasks (Step Functions input; not HTTP) ----

const safeInt = z.int().check(z.gte(-1), z.lte(Number.MAX_SAFE_INTEGER));

export const exportRangeSchema = z.object({
  shard: z.int().check(z.gte(0)),
  after: safeInt,
  until: safeInt,
  sessions: safeInt,
});

export const rangeTaskSchema = z.object({
  exportId: exportIdSchema,
  batchId: idSchema,
  format: z.enum(EXPORT_FORMATS),
  range: exportRangeSchema,
  cursor: safeInt,
  part: z.int().check(z.gte(0)),
});

export const finishExportInput = z.object({
  exportId: exportIdSchema,
  /** Set by the state machine's Catch: the failure to record (Step Functions' Error and Cause). */
  failure: z.optional(z.object({ Error: z.optional(z.string()), Cause: z.optional(z.string()) })),
});

// ---- erasure of a user (issue 12) ----

/** `user_id`: as sessions carry it; `request_id`: the idempotency key (the same id always names the same request). */
export const eraseUserBody = z.object({ user_id: idSchema, request_id: idSchema });

export const getErasureQuery = z.object({ request_id: idSchema });
