/**
 * Request schemas (zod): the pieces that more than one function uses. They describe the wire format
 * of the contract; normalization to the domain's shapes happens here too, so that handlers pass
 * typed, normalized input to the domain.
 *
 * Layout: each function's own schemas live in `functions/schemas/<name>.ts`, named after its handler
 * (`functions/handlers/<name>.ts` imports only `../schemas/<name>.js`); everything they share is in
 * this module. A function's bundle then builds only its own schemas at start-up: a module's top-level
 * zod calls are side effects that esbuild cannot drop, so one module of every schema made every
 * function build all of them (README, "Start-up: where the functions' init time goes"). So this
 * module builds at its top level only what every function needs (`idSchema`); pieces that only
 * some functions use are exported as builders (functions), which cost nothing until called.
 * lib/openapi.ts imports every function's schemas for the API document. A new route adds its own
 * `functions/schemas/<name>.ts`.
 *
 * Written with `zod/mini`, zod's tree-shakable form (functions instead of methods): the same
 * parser core and issues as the full `zod`, at a fraction of its bundle size and start-up time
 * (docs/benchmarks.md). English messages are configured explicitly, as the full zod does by default.
 */
import * as z from 'zod/mini';
import { en } from 'zod/locales';
import { toMillis, WrittenNumber } from '../shared/timestamps.js';

// jitless: zod parses with its plain code path instead of compiling a parser per object schema with
// `new Function` on first use; the answers are the same, and a cold start saves the compilation.
z.config({ ...en(), jitless: true });

export const MAX_ID_CHARS = 128;

/**
 * JSON Schema facts that zod cannot derive from refinements (lengths in code points, timestamps,
 * query integers): lib/openapi.ts builds the API document from the schemas with these merged in.
 */
export const schemaDocs = z.registry<Record<string, unknown>>();
export const documented = <T extends z.ZodMiniType>(schema: T, meta: Record<string, unknown>): T => {
  schemaDocs.add(schema, meta);
  return schema;
};

const codePoints = (s: string) => {
  let count = 0;
  for (const _ of s) count++;
  return count;
};

/** A string of 1..max characters (Unicode code points, as Python counts them). */
export const boundedString = (max: number) =>
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
export const jsonObject = () =>
  documented(
    z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
      message: 'Input should be a valid dictionary',
      params: { type: 'dict_type' },
    }),
    { type: 'object', description: 'Any JSON object (nesting up to 64 levels), stored and returned verbatim' },
  );

/** Optional field: absent and null both mean "not given". */
export const optional = <T extends z.ZodMiniType>(schema: T) => {
  const inner = z.optional(z.union([schema, z.null()]));
  return z.pipe(
    inner,
    z.transform((v: z.output<typeof inner>) => (v === null ? undefined : v)),
  );
};

/** Field with a default: absent and null both mean "not given", so both take the default. */
export const withDefault = <T extends z.ZodMiniType>(schema: T, fallback: z.output<T>) => {
  const inner = optional(schema);
  return documented(
    z.pipe(
      inner,
      z.transform((v: z.output<typeof inner>) => (v === undefined ? fallback : v)),
    ),
    {
      description: `Absent or null: ${JSON.stringify(fallback)}`,
    },
  );
};

export interface Timestamp {
  ms: number;
  /** The value as the client sent it, for error messages. */
  raw: string | number;
}

/** A client's timestamp: Unix seconds or milliseconds, or an ISO-8601 string. */
export const timestamp = () =>
  documented(
    z.pipe(
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
      z.transform((value): Timestamp => ({
        ms: toMillis(value)!,
        raw: value instanceof WrittenNumber ? value.lexeme : (value as string | number),
      })),
    ),
    {
      anyOf: [
        {
          type: 'integer',
          minimum: 0,
          description:
            'Unix seconds (below 100,000,000,000) or milliseconds (from 100,000,000,000), written as an integer',
        },
        { type: 'string', description: 'ISO-8601 date or date-time; no offset means UTC' },
      ],
      description:
        'Stored as integer milliseconds; absent or null means the time the server received it. Floats, booleans, numeric strings and negatives: 422.',
    },
  );

// ---- query strings: every value arrives as a string ----

export const MAX_EVENTS_LIMIT = 10_000;

export const intParam = (min: number, max: number, fallback: number, description = `Default ${fallback}`) =>
  documented(
    z.pipe(
      z.optional(
        z.string().check(
          z.superRefine((raw, ctx) => {
            // An optional sign and decimal digits, leading zeros allowed ("007" is 7).
            const m = /^([+-]?)0*(\d+)$/.exec(raw);
            if (!m) {
              ctx.addIssue({
                code: 'custom',
                message: 'Input should be a valid integer',
                params: { type: 'int_parsing' },
              });
              return;
            }
            // More than 16 significant digits is past 2^53 whatever they are: out of range, not rounded.
            const value = m[2]!.length > 16 ? (m[1] === '-' ? -Infinity : Infinity) : Number(m[1]! + m[2]);
            if (value < min || value > max) {
              ctx.addIssue({
                code: 'custom',
                message:
                  value < min
                    ? `Input should be greater than or equal to ${min}`
                    : `Input should be less than or equal to ${max}`,
                params: { type: value < min ? 'greater_than_equal' : 'less_than_equal' },
              });
            }
          }),
        ),
      ),
      z.transform((raw: string | undefined) => (raw === undefined ? fallback : Number(raw) + 0)),
    ),
    { type: 'integer', minimum: min, maximum: max, description },
  );

const TRUE = ['true', '1', 'yes', 'on', 't', 'y'];
const FALSE = ['false', '0', 'no', 'off', 'f', 'n'];

export const boolParamWithDefault = (fallback: boolean, description = `Default ${fallback}`) =>
  documented(
    z.pipe(
      z.optional(
        z.string().check(
          z.superRefine((raw, ctx) => {
            const v = raw.toLowerCase();
            if (!TRUE.includes(v) && !FALSE.includes(v)) {
              ctx.addIssue({
                code: 'custom',
                message: 'Input should be a valid boolean',
                params: { type: 'bool_parsing' },
              });
            }
          }),
        ),
      ),
      z.transform((raw: string | undefined) => (raw === undefined ? fallback : TRUE.includes(raw.toLowerCase()))),
    ),
    { type: 'boolean', description: `${TRUE.join('/')} or ${FALSE.join('/')}, any case. ${description}` },
  );

/** A paging cursor: the opaque string of the previous answer. */
export const cursorParam = (description: string) =>
  documented(
    z.optional(z.string().check(z.maxLength(1024, { message: 'String should have at most 1024 characters' }))),
    { description },
  );

// ---- exports ----

export const EXPORT_FORMATS = ['sessions', 'pairs'] as const;
/** An export_id names a folder (`exports/<batch_id>/<export_id>/`): letters, digits, `.`, `_`, `-`, not starting with `.`. */
export const EXPORT_ID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

export const exportId = () =>
  documented(
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
