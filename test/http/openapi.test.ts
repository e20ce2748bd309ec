/**
 * The API document (docs/openapi.json) is current, covers the route table, and says the truth: every
 * answer of a full scenario through the local server matches the documented schema of its
 * operation and status (strict objects: no undocumented field, none missing).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { errorSchema, OPENAPI_FILE, renderOpenApi, responseSchemas } from '../../lib/openapi.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setExportRunner } from '../../functions/domain/exports.js';
import { resetErasureKey } from '../../functions/storage/erasure-key.js';
import { inProcessErasureRunner } from '../../lib/local/erasure-runner.js';
import { inProcessExportRunner } from '../../lib/local/export-runner.js';
import { fullPath, routes } from '../../lib/routes.js';
import { Api, nowSeconds, sessionBody, type Reply } from '../support/http.js';
import { useFreshTable } from '../support/table.js';

type Operation = keyof typeof responseSchemas;

const doc = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as {
  paths: Record<
    string,
    Record<
      string,
      { operationId: string; tags: string[]; security: Record<string, unknown>[]; responses: Record<string, unknown> }
    >
  >;
};

describe('docs/openapi.json', () => {
  it('is what `npm run openapi` writes from the code today', () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8'), 'run `npm run openapi` and commit docs/openapi.json').toBe(
      renderOpenApi(),
    );
  });

  it('has every operation of the route table, internal ones under IAM', () => {
    for (const route of routes) {
      const op = doc.paths[fullPath(route)]?.[route.method.toLowerCase()];
      expect(op, `${route.method} ${fullPath(route)}`).toBeDefined();
      expect(op!.operationId).toBe(route.operation);
      expect(op!.tags).toEqual([route.internal ? 'internal' : 'client']);
      expect(op!.security).toEqual([{ [route.internal ? 'iam' : 'client']: [] }]);
      // start_export and erase_user answer 202 (the work runs on), every other operation 200.
      expect(Object.keys(op!.responses)).toEqual(
        expect.arrayContaining([
          ['start_export', 'erase_user'].includes(route.operation) ? '202' : '200',
          '422',
          '503',
        ]),
      );
    }
    const documented = Object.values(doc.paths).flatMap((p) => Object.keys(p)).length;
    expect(documented).toBe(routes.length);
  });
});

describe('every answer matches the document', () => {
  let api: Api;
  const seen = new Map<string, number>();

  const runner = inProcessExportRunner();

  beforeAll(async () => {
    await useFreshTable({
      EXPORT_DIR: mkdtempSync(join(tmpdir(), 'doc-exports-')),
      CLICKSTREAM_ERASURE_KEY: 'doc-key',
    });
    resetErasureKey();
    setExportRunner(runner);
    api = await Api.start();
  });
  afterAll(async () => {
    setExportRunner(undefined);
    await api.close();
  });

  /** Checks an answer against its operation's 200 schema or the error schema, and documents the status. */
  function conforms(operation: Operation, reply: Reply, status: number): Reply {
    expect(reply.status, JSON.stringify(reply.body)).toBe(status);
    const schema = status < 300 ? responseSchemas[operation] : errorSchema;
    const result = z.safeParse(schema as z.ZodMiniType, reply.body);
    expect(
      result.success,
      `${operation} ${status}: ${JSON.stringify(reply.body).slice(0, 300)}\n${result.error?.message ?? ''}`,
    ).toBe(true);
    const route = routes.find((r) => r.operation === operation)!;
    expect(
      Object.keys(doc.paths[fullPath(route)]![route.method.toLowerCase()]!.responses),
      `${operation} documents ${status}`,
    ).toContain(String(status));
    seen.set(operation, (seen.get(operation) ?? 0) + 1);
    return reply;
  }

  it('for a full scenario: sessions, events, batches, and the errors of each operation', async () => {
    const t = nowSeconds();
    const doc1 = sessionBody('doc-1', {
      created_at: t,
      user_id: 'u1',
      sort_by: { field: 'price' },
      search_meta: { page: 1 },
    });
    conforms('get_batch', await api.get('/internal/batch'), 404); // nothing collects yet
    conforms('create_session', await api.post('/session', doc1), 200);
    conforms(
      'create_session',
      await api.post('/session', sessionBody('doc-2', { search_query: { text: 'shoes', filters: { color: 'red' } } })),
      200,
    );
    conforms('create_session', await api.post('/session', doc1), 200); // the same create again
    conforms('create_session', await api.post('/session', sessionBody('doc-1', { user_id: 'other' })), 409);
    conforms('create_session', await api.post('/session', sessionBody('doc-3', { created_at: t - 100_000 })), 400);
    conforms('create_session', await api.post('/session', { session_id: '' }), 422);
    conforms('create_session', await api.post('/session', 'x', { 'content-type': 'text/plain' }), 415);

    const events = [
      { event_id: 'e1', object_id: 'o1' },
      { event_id: 'e2', object_id: 'o2', event_type: 'add_to_cart', meta: { qty: 2 }, created_at: t },
      { event_id: 'e3', object_id: 'o3', created_at: t - 100_000 },
    ];
    conforms('push_events', await api.post('/session/events', { session_id: 'doc-1', events }), 200);
    conforms(
      'push_events',
      await api.post('/session/events', {
        session_id: 'doc-1',
        events: [events[0], { ...events[1], object_id: 'changed' }],
      }),
      200,
    );
    conforms('push_events', await api.post('/session/events', { session_id: 'nobody', events }), 404);
    conforms('push_events', await api.post('/session/events', { session_id: 'doc-1', events: [] }), 422);

    const one = conforms('get_session', await api.get('/session', { session_id: 'doc-1', events_limit: 1 }), 200);
    expect(one.body.events_next_cursor).toEqual(expect.any(String));
    conforms(
      'get_session',
      await api.get('/session', { session_id: 'doc-1', events_after: one.body.events_next_cursor }),
      200,
    );
    conforms('get_session', await api.get('/session', { session_id: 'doc-2' }), 200);
    conforms('get_session', await api.get('/session', { session_id: 'nobody' }), 404);
    conforms('get_session', await api.get('/session'), 422);

    conforms('mark_session_irrelevant', await api.post('/session/irrelevant', { session_id: 'doc-2' }), 200);
    conforms('mark_session_irrelevant', await api.post('/session/irrelevant', { session_id: 'nobody' }), 404);

    const collecting = conforms('get_batch', await api.get('/internal/batch'), 200);
    expect(collecting.body.status).toBe('collecting');
    conforms(
      'get_batch_sessions',
      await api.get('/internal/batch/sessions', { batch_id: collecting.body.batch_id }),
      409,
    );
    const released = conforms(
      'release_batch',
      await api.post('/internal/batch/release', { release_id: 'doc-r1' }),
      200,
    );
    conforms('release_batch', await api.post('/internal/batch/release', { release_id: 'doc-r1' }), 200);
    conforms('release_batch', await api.post('/internal/batch/release', { release_id: 'doc-r2' }), 404);
    conforms('get_batch', await api.get('/internal/batch', { batch_id: released.body.batch_id }), 200);
    conforms('get_batch', await api.get('/internal/batch', { batch_id: 'nobody' }), 404);
    const page = conforms(
      'get_batch_sessions',
      await api.get('/internal/batch/sessions', {
        batch_id: released.body.batch_id,
        include_irrelevant: true,
        limit: 1,
        events_limit: 1,
      }),
      200,
    );
    expect(page.body.sessions).toHaveLength(1);
    conforms(
      'get_batch_sessions',
      await api.get('/internal/batch/sessions', {
        batch_id: released.body.batch_id,
        after_number: page.body.last_number,
      }),
      200,
    );
    conforms(
      'get_batch_sessions',
      await api.get('/internal/batch/sessions', { batch_id: released.body.batch_id, limit: 0 }),
      422,
    );
    conforms('get_batch_sessions', await api.get('/internal/batch/sessions', { batch_id: 'nobody' }), 404);
    const list = conforms('list_batches', await api.get('/internal/batches', { limit: 1 }), 200);
    expect(list.body.next_cursor).toEqual(expect.any(String)); // the new collecting batch, then the released one
    const rest = conforms('list_batches', await api.get('/internal/batches', { cursor: list.body.next_cursor }), 200);
    expect(rest.body.batches.map((b: { batch_id: string }) => b.batch_id)).toEqual([released.body.batch_id]);
    conforms('list_batches', await api.get('/internal/batches', { cursor: 'not-a-cursor' }), 422);
    // Forged cursors that the batch log could never have made: a 14-digit time, an id over 128 characters.
    const forged = (t: number, id: string) => Buffer.from(JSON.stringify([t, id])).toString('base64url');
    conforms('list_batches', await api.get('/internal/batches', { cursor: forged(17959507462720, 'x') }), 422);
    conforms(
      'list_batches',
      await api.get('/internal/batches', { cursor: forged(1795950746272, 'z'.repeat(129)) }),
      422,
    );

    const exported = { batch_id: released.body.batch_id, export_id: 'doc-x1' };
    conforms('start_export', await api.post('/internal/batch/export', exported), 202);
    conforms('start_export', await api.post('/internal/batch/export', { ...exported, format: 'pairs' }), 409);
    conforms(
      'start_export',
      await api.post('/internal/batch/export', { batch_id: 'nobody', export_id: 'doc-x2' }),
      404,
    );
    conforms('start_export', await api.post('/internal/batch/export', { ...exported, export_id: '../up' }), 422);
    await runner.settled('doc-x1');
    expect(
      conforms('get_export', await api.get('/internal/batch/export', { export_id: 'doc-x1' }), 200).body.state,
    ).toBe('succeeded');
    conforms('get_export', await api.get('/internal/batch/export', { export_id: 'nobody' }), 404);
    conforms('get_export', await api.get('/internal/batch/export'), 422);

    // Erasure of a user (with erased_count on the batch, and the mark on an export written before).
    const eraser = inProcessErasureRunner({ settleMs: 0, sweepDelayMs: 0 });
    try {
      const erasedSession = conforms(
        'create_session',
        await api.post('/session', sessionBody('doc-erased', { user_id: 'doc-user' })),
        200,
      );
      expect(erasedSession.body.created).toBe(true);
      const erase = { user_id: 'doc-user', request_id: 'doc-q1' };
      expect(conforms('erase_user', await api.post('/internal/users/erase', erase), 202).body.state).toBe('pending');
      conforms('erase_user', await api.post('/internal/users/erase', { ...erase, user_id: 'someone-else' }), 409);
      conforms('erase_user', await api.post('/internal/users/erase', { user_id: 'doc-user' }), 422);
      await eraser.settled();
      expect(
        conforms('get_erasure', await api.get('/internal/users/erase', { request_id: 'doc-q1' }), 200).body.state,
      ).toBe('done');
      conforms('get_erasure', await api.get('/internal/users/erase', { request_id: 'nobody' }), 404);
      conforms('get_erasure', await api.get('/internal/users/erase'), 422);
      expect(conforms('get_batch', await api.get('/internal/batch'), 200).body.erased_count).toBe(1);
    } finally {
      eraser.stop();
    }

    expect([...seen.keys()].sort()).toEqual(routes.map((r) => r.operation).sort());
  }, 120_000);
});
