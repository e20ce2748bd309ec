/**
 * The erasure routes' errors through the local HTTP server (the real handlers, DynamoDB Local): 404
 * for an unknown request, 422 for bad input (nothing recorded), 409 for a request_id of another user.
 * What an erasure does is in test/integration/erasure.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetErasureKey } from '../../functions/storage/erasure-key.js';
import { inProcessErasureRunner, type InProcessErasureRunner } from '../../lib/local/erasure-runner.js';
import { Api } from '../support/http.js';
import { useFreshTable } from '../support/table.js';

let api: Api;
let eraser: InProcessErasureRunner;
const PATH = '/internal/users/erase';

beforeAll(async () => {
  await useFreshTable({ CLICKSTREAM_ERASURE_KEY: 'routes-test-key' });
  resetErasureKey();
  eraser = inProcessErasureRunner({ settleMs: 0, sweepDelayMs: 0 });
  api = await Api.start();
});
afterAll(async () => {
  await eraser.settled();
  eraser.stop();
  await api.close();
});

describe('erasure routes', () => {
  it('answers 404 for an unknown request_id', async () => {
    const res = await api.get(PATH, { request_id: 'nope' });
    expect(res).toMatchObject({ status: 404, body: { detail: 'Erasure request with id=nope not found' } });
  });

  it.each([
    ['no request_id', {}, ['query', 'request_id']],
    ['an empty request_id', { request_id: '' }, ['query', 'request_id']],
    ['a request_id of 129 characters', { request_id: 'x'.repeat(129) }, ['query', 'request_id']],
  ])('GET with %s is 422', async (_name, query, loc) => {
    const res = await api.get(PATH, query);
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(loc);
  });

  it.each([
    ['no user_id', { request_id: 'r1' }, ['body', 'user_id']],
    ['no request_id', { user_id: 'u1' }, ['body', 'request_id']],
    ['an empty user_id', { user_id: '', request_id: 'r1' }, ['body', 'user_id']],
    ['a user_id that is a number', { user_id: 7, request_id: 'r1' }, ['body', 'user_id']],
    ['a request_id of 129 characters', { user_id: 'u1', request_id: 'x'.repeat(129) }, ['body', 'request_id']],
    ['a body that is an array', [], ['body']],
  ])('POST with %s is 422 and records nothing', async (_name, body, loc) => {
    const res = await api.post(PATH, body);
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(loc);
    expect((await api.get(PATH, { request_id: 'r1' })).status).toBe(404);
  });

  it('POST with malformed JSON is 422 and with another media type 415', async () => {
    expect((await api.post(PATH, '{"user_id":')).status).toBe(422);
    expect((await api.post(PATH, 'user_id=u1', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(
      415,
    );
    expect((await api.get(PATH, { request_id: 'r1' })).status).toBe(404);
  });

  it('answers 202 with the state, then the same request for a repeat, and 409 for another user under that request_id', async () => {
    const first = await api.post(PATH, { user_id: 'u1', request_id: 'r2' });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({
      request_id: 'r2',
      state: 'pending',
      sessions_erased: 0,
      events_erased: 0,
      batch_memberships_erased: 0,
    });
    expect(first.body.user_id_hmac).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    const conflict = await api.post(PATH, { user_id: 'u2', request_id: 'r2' });
    expect(conflict).toMatchObject({
      status: 409,
      body: { detail: 'Erasure request with id=r2 already exists for another user' },
    });
    await eraser.settled();
    const done = await api.get(PATH, { request_id: 'r2' });
    expect(done.body).toMatchObject({
      state: 'done',
      user_id_hmac: first.body.user_id_hmac,
      accepted_at: first.body.accepted_at,
    });
  });
});
