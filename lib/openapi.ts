/**
 * The API document (OpenAPI 3.1), built from the route table and the zod schemas: the request
 * schemas the functions validate with (functions/schemas/<name>.ts, with the facts in `schemaDocs`
 * merged in) and the response schemas below, which test/http/openapi.test.ts checks every answer of
 * a full scenario against. `npm run openapi` writes docs/openapi.json; a test keeps it current.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod/mini';
import { createSessionBody } from '../functions/schemas/create-session.js';
import { getBatchQuery } from '../functions/schemas/get-batch.js';
import { getBatchSessionsQuery } from '../functions/schemas/get-batch-sessions.js';
import { getErasureQuery } from '../functions/schemas/get-erasure.js';
import { getExportQuery } from '../functions/schemas/get-export.js';
import { getSessionQuery } from '../functions/schemas/get-session.js';
import { listBatchesQuery } from '../functions/schemas/list-batches.js';
import { sessionIdBody } from '../functions/schemas/mark-session-irrelevant.js';
import { pushEventsBody } from '../functions/schemas/push-events.js';
import { releaseBody } from '../functions/schemas/release-batch.js';
import { eraseUserBody } from '../functions/schemas/request-erasure.js';
import { schemaDocs } from '../functions/schemas/shared.js';
import { startExportBody } from '../functions/schemas/start-export.js';
import { BASE_PATH, fallbackRoute, fullPath, type Operation, routes, type Route } from './routes.js';

// ---- response schemas (the wire shapes of functions/http/views.ts and the handlers) ----

const int = z.int().check(z.gte(0));
const jsonObject = z.record(z.string(), z.unknown());
const nullable = <T extends z.ZodMiniType>(s: T) => z.union([s, z.null()]);

const event = z.strictObject({
  event_id: z.string(),
  object_id: z.string(),
  event_type: z.string(),
  created_at: int,
  meta: nullable(jsonObject),
  received_at: int,
});

const session = z.strictObject({
  session_id: z.string(),
  search_query: z.union([z.string(), jsonObject]),
  search_results: z.array(
    z.strictObject({ object_id: z.string(), rank: nullable(z.number()), meta: nullable(jsonObject) }),
  ),
  search_meta: nullable(jsonObject),
  payload_filter: nullable(jsonObject),
  sort_by: nullable(
    z.strictObject({ field: z.string(), order: z.enum(['asc', 'desc']), force_not_payload: z.boolean() }),
  ),
  user_id: nullable(z.string()),
  created_at: int,
  received_at: int,
  is_irrelevant: z.boolean(),
  batch_id: z.string(),
  session_number: int,
  events: z.array(event),
  events_count: int,
  events_truncated: z.boolean(),
  events_next_cursor: z.optional(z.string()),
});

const batch = z.strictObject({
  batch_id: z.string(),
  status: z.enum(['collecting', 'released']),
  created_at: int,
  released_at: z.optional(int),
  release_id: z.optional(z.string()),
  session_count: int,
  erased_count: z.optional(int),
});

const exportState = z.strictObject({
  export_id: z.string(),
  batch_id: z.string(),
  format: z.enum(['sessions', 'pairs']),
  state: z.enum(['running', 'succeeded', 'failed']),
  location: z.string(),
  files: int,
  sessions: int,
  error: z.optional(z.string()),
  contains_erased_sessions: z.optional(z.literal(true)),
});

const erasureState = z.strictObject({
  request_id: z.string(),
  state: z.enum(['pending', 'running', 'done']),
  user_id_hmac: z.string(),
  accepted_at: int,
  started_at: nullable(int),
  finished_at: nullable(int),
  sessions_erased: int,
  events_erased: int,
  batch_memberships_erased: int,
});

export const responseSchemas = {
  create_session: z.strictObject({ session_id: z.string(), created: z.boolean() }),
  get_session: session,
  push_events: z.strictObject({
    session_id: z.string(),
    accepted: int,
    duplicates: int,
    rejected: int,
    results: z.array(
      z.strictObject({
        event_id: z.string(),
        status: z.enum(['accepted', 'duplicate', 'conflict', 'rejected']),
        detail: z.optional(z.string()),
      }),
    ),
  }),
  mark_session_irrelevant: z.strictObject({ session_id: z.string(), is_irrelevant: z.literal(true) }),
  release_batch: z.strictObject({ release_id: z.string(), batch_id: z.string(), released_at: int, session_count: int }),
  get_batch_sessions: z.strictObject({ batch_id: z.string(), last_number: nullable(int), sessions: z.array(session) }),
  get_batch: z.strictObject({
    ...batch.shape,
    ranges: z.optional(
      z.array(z.strictObject({ shard: int, after_number: int, until_number: int, session_count: int })),
    ),
  }),
  list_batches: z.strictObject({ batches: z.array(batch), next_cursor: nullable(z.string()) }),
  start_export: exportState,
  get_export: exportState,
  erase_user: erasureState,
  get_erasure: erasureState,
} as const satisfies Record<Operation, z.ZodMiniType>;

/** `{"detail": "..."}`, or for 422 the list FastAPI writes. */
export const errorSchema = z.strictObject({
  detail: z.union([
    z.string(),
    z.array(z.strictObject({ loc: z.array(z.union([z.string(), int])), msg: z.string(), type: z.string() })),
  ]),
});

// ---- the document ----

/**
 * Each operation's request schemas (body or query string), what it does, and which error statuses it
 * can answer (beyond 413/415/422/503 of every POST).
 */
const OPERATIONS: Record<
  Operation,
  { body?: z.ZodMiniType; query?: z.ZodMiniObject; summary: string; errors: Record<number, string>; status?: number }
> = {
  create_session: {
    body: createSessionBody,
    summary: 'Registers a search session (query and ranked results); a retry with the same content changes nothing.',
    errors: {
      400: 'created_at outside the allowed window: "Invalid utc timestamp: <value as sent>"',
      409: 'The session id exists with other content',
    },
  },
  get_session: {
    query: getSessionQuery,
    summary: 'A session with its events, sorted by created_at then event_id; never truncated silently.',
    errors: { 404: 'Unknown session' },
  },
  push_events: {
    body: pushEventsBody,
    summary:
      'Stores 1 to 1,000 events of a session; each is accepted, duplicate, conflict or rejected (first write wins).',
    errors: { 404: 'Unknown session' },
  },
  mark_session_irrelevant: {
    body: sessionIdBody,
    summary: 'Flags a session as irrelevant: left out of batch pages unless asked for.',
    errors: { 404: 'Unknown session' },
  },
  release_batch: {
    body: releaseBody,
    summary:
      'Releases the collecting batch under an idempotency key: the same release_id always gets the identical answer.',
    errors: { 404: 'The collecting batch has no sessions' },
  },
  get_batch_sessions: {
    query: getBatchSessionsQuery,
    summary: 'One page of a released batch, by session_number; page on with after_number = last_number.',
    errors: { 404: 'Unknown batch', 409: 'The batch is still collecting' },
  },
  get_batch: {
    query: getBatchQuery,
    summary:
      'A batch, or without batch_id the collecting one; a released batch lists one session_number range per shard (ranges) for parallel readers.',
    errors: { 404: 'Unknown batch, or no collecting batch yet' },
  },
  list_batches: {
    query: listBatchesQuery,
    summary:
      'Every batch, newest first, with its status and count: so that every released batch can be found. Page on with cursor = next_cursor.',
    errors: {},
  },
  start_export: {
    body: startExportBody,
    summary:
      'Starts (or joins) the export of a released batch into gzip JSON Lines files and a manifest under exports/<batch_id>/<export_id>/; the same export_id always names the same export.',
    errors: {
      404: 'Unknown batch',
      409: 'The batch is still collecting, or the export_id names an export of another batch or format',
    },
    status: 202,
  },
  get_export: {
    query: getExportQuery,
    summary:
      "An export's state and progress (files and sessions written so far); contains_erased_sessions: true when sessions of its batch were erased after it started (its files may hold them until they expire).",
    errors: { 404: 'Unknown export' },
  },
  erase_user: {
    body: eraseUserBody,
    summary:
      'Accepts the erasure of every session of a user_id (with its events and batch memberships), under an idempotency key: the same request_id always names the same request. Answers its state; the user appears only as an HMAC.',
    errors: { 409: 'The request_id names an erasure request of another user (the stored request is not touched)' },
    status: 202,
  },
  get_erasure: {
    query: getErasureQuery,
    summary:
      'The state of an erasure request (pending, running, done) with what it erased and when: the receipt. The user appears only as user_id_hmac = HMAC-SHA256(key, user_id) (README "Erasing a user").',
    errors: { 404: 'Unknown request_id' },
  },
};

const toSchema = (schema: z.ZodMiniType, io: 'input' | 'output') => {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', metadata: schemaDocs }) as Record<string, unknown>;
  delete out.$schema;
  return out;
};

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

function operation(route: Route & { operation: Operation }) {
  const doc = OPERATIONS[route.operation];
  const parameters = doc.query
    ? Object.entries(doc.query.shape).map(([name, schema]) => ({
        name,
        in: 'query',
        required: (schema as z.ZodMiniType)._zod.optin !== 'optional',
        schema: toSchema(schema as z.ZodMiniType, 'input'),
      }))
    : undefined;
  const errors: Record<string, unknown> = {};
  for (const [status, description] of Object.entries(doc.errors)) errors[status] = errorResponse(description);
  if (doc.body) {
    errors['413'] = errorResponse(
      'The body is over 1 MiB, or a record would not fit one DynamoDB item (400 KB); any request over the 6 MB payload limit',
    );
    errors['415'] = errorResponse('Content-Type is not application/json');
  } else {
    errors['413'] = errorResponse('The request is over the 6 MB payload limit (a body on a GET counts too)');
  }
  errors['422'] = errorResponse('Malformed JSON or a schema error: a list of {loc, msg, type}');
  errors['503'] = errorResponse(
    'Storage unavailable after retries: retry the same request (Retry-After; every write is idempotent)',
  );
  return {
    operationId: route.operation,
    summary: doc.summary,
    tags: [route.internal ? 'internal' : 'client'],
    security: [{ [route.internal ? 'iam' : 'client']: [] }],
    ...(parameters ? { parameters } : {}),
    ...(doc.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(doc.body, 'input') } } } }
      : {}),
    responses: {
      [String(doc.status ?? 200)]: {
        description: doc.status === 202 ? 'Accepted' : 'OK',
        content: { 'application/json': { schema: toSchema(responseSchemas[route.operation], 'output') } },
      },
      ...errors,
    },
  };
}

export function buildOpenApi(): Record<string, unknown> {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    name: string;
    version: string;
  };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) (paths[fullPath(route)] ??= {})[route.method.toLowerCase()] = operation(route);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Clickstream collector',
      version: pkg.version,
      description:
        `Search sessions, their clicks, and immutable batches of them for fine-tuning. Wire-compatible with EmbeddingStudio's clickstream API (${BASE_PATH}); ` +
        'the behaviour is fixed in docs/contract.md. Unknown paths answer 404 and known paths with another method 405, ' +
        `both as {"detail": ...} (the ${fallbackRoute.operation} function). Generated from lib/routes.ts and the zod schemas by \`npm run openapi\`.`,
    },
    tags: [
      {
        name: 'client',
        description: 'Search front ends: authorization per the clientAuth setting (IAM by default, JWT, or none)',
      },
      { name: 'internal', description: 'Fine-tuning jobs: always AWS IAM (SigV4)' },
    ],
    paths,
    components: {
      schemas: { Error: toSchema(errorSchema, 'output') },
      securitySchemes: {
        iam: {
          type: 'apiKey',
          name: 'Authorization',
          in: 'header',
          description: 'AWS Signature Version 4 (IAM), service execute-api',
        },
        client: {
          type: 'apiKey',
          name: 'Authorization',
          in: 'header',
          description: 'As the clientAuth setting says: SigV4 (iam), a bearer JWT (jwt), or nothing (none)',
        },
      },
    },
  };
}

export const OPENAPI_FILE = new URL('../docs/openapi.json', import.meta.url);
export const renderOpenApi = () => `${JSON.stringify(buildOpenApi(), null, 2)}\n`;
