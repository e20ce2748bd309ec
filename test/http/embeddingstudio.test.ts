/**
 * EmbeddingStudio compatibility: `sort_by` carries its SortByOptions whole (`field`, `order` and
 * `force_not_payload`), through get_session and batch pages, and sessions stored before the flag
 * existed read as its default, false.
 */
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localClient } from '../../lib/local/dynamodb-local.js';
import { keys } from '../../functions/storage/keys.js';
import { Api, sessionBody } from '../support/http.js';
import { useFreshTable, type TestTable } from '../support/table.js';

let api: Api;
let table: TestTable;

beforeAll(async () => {
  table = await useFreshTable();
  api = await Api.start();
});
afterAll(() => api.close());

describe('sort_by.force_not_payload', () => {
  it('is stored and returned by get_session and batch pages', async () => {
    const forced = { field: 'price', order: 'desc', force_not_payload: true };
    expect((await api.post('/session', sessionBody('es-forced', { sort_by: forced }))).status).toBe(200);
    expect((await api.post('/session', sessionBody('es-default', { sort_by: { field: 'price' } }))).status).toBe(200);
    expect((await api.get('/session', { session_id: 'es-forced' })).body.sort_by).toEqual(forced);
    expect((await api.get('/session', { session_id: 'es-default' })).body.sort_by).toEqual({
      field: 'price',
      order: 'asc',
      force_not_payload: false,
    });

    // A retry must say the same: true is other content than the default.
    expect((await api.post('/session', sessionBody('es-forced', { sort_by: forced }))).body).toEqual({
      session_id: 'es-forced',
      created: false,
    });
    expect(
      (await api.post('/session', sessionBody('es-forced', { sort_by: { field: 'price', order: 'desc' } }))).status,
    ).toBe(409);
    expect(
      (await api.post('/session', sessionBody('es-default', { sort_by: { field: 'price', force_not_payload: false } })))
        .body.created,
    ).toBe(false);

    const released = await api.post('/internal/batch/release', { release_id: 'es-release' });
    expect(released.status).toBe(200);
    const page = await api.get('/internal/batch/sessions', { batch_id: released.body.batch_id, limit: 10 });
    const byId = Object.fromEntries(
      page.body.sessions.map((s: { session_id: string; sort_by: unknown }) => [s.session_id, s.sort_by]),
    );
    expect(byId).toEqual({
      'es-forced': forced,
      'es-default': { field: 'price', order: 'asc', force_not_payload: false },
    });
  });

  it('reads as false for a session stored before the flag existed', async () => {
    expect(
      (await api.post('/session', sessionBody('es-old', { sort_by: { field: 'rank', order: 'asc' } }))).status,
    ).toBe(200);
    // Rewrite the stored content as the previous version wrote it: sort_by without the flag.
    const client = localClient(table.endpoint);
    const k = keys.session('es-old');
    const stored = sessionBody('es-old', {});
    const content = {
      search_query: stored.search_query,
      search_results: stored.search_results.map((r: Record<string, unknown>) => ({
        object_id: r.object_id,
        rank: r.rank ?? null,
        meta: r.meta ?? null,
      })),
      search_meta: null,
      payload_filter: null,
      sort_by: { field: 'rank', order: 'asc' },
      user_id: null,
    };
    await client.send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: { pk: { S: k.pk }, sk: { S: k.sk } },
        UpdateExpression: 'SET content = :c',
        ExpressionAttributeValues: { ':c': { S: JSON.stringify(content) } },
      }),
    );
    client.destroy();
    expect((await api.get('/session', { session_id: 'es-old' })).body.sort_by).toEqual({
      field: 'rank',
      order: 'asc',
      force_not_payload: false,
    });
    expect((await api.post('/session', sessionBody('es-old', { sort_by: { field: 'rank' } }))).body).toEqual({
      session_id: 'es-old',
      created: false,
    });
  });
});
