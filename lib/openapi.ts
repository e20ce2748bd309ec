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
import { BASE_PATH, fallbackRoute, fullPath, type ApiDoc, type Operation, routes } from './routes.js';

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

/** Each operation's request schema: a body or a query string (its words are in the route table). */
const REQUESTS = {
  create_session: { body: createSessionBody },
  get_session: { query: getSessionQuery },
  push_events: { body: pushEventsBody },
  mark_session_irrelevant: { body: sessionIdBody },
  release_batch: { body: releaseBody },
  get_batch_sessions: { query: getBatchSessionsQuery },
  get_batch: { query: getBatchQuery },
  list_batches: { query: listBatchesQuery },
  start_export: { body: startExportBody },
  get_export: { query: getExportQuery },
  erase_user: { body: eraseUserBody },
  get_erasure: { query: getErasureQuery },
} satisfies Record<Operation, { body?: z.ZodMiniType; query?: z.ZodMiniObject }>;

const toSchema = (schema: z.ZodMiniType, io: 'input' | 'output') => {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', metadata: schemaDocs }) as Record<string, unknown>;
  delete out.$schema;
  return out;
};

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

function operation(route: (typeof routes)[number]) {
  const doc: ApiDoc & { body?: z.ZodMiniType; query?: z.ZodMiniObject } = { ...route, ...REQUESTS[route.operation] };
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
