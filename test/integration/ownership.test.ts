/**
 * Session ownership with clientAuth=jwt (CLICKSTREAM_CLIENT_AUTH=jwt), through the real handlers
 * with the JWT claims API Gateway puts in the request context: a session belongs to the `sub` that
 * created it; any other `sub` gets the very 404 of a session that does not exist, on read, push and
 * mark, and changes nothing.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler as createSession } from '../../functions/handlers/create-session.js';
import { handler as getSession } from '../../functions/handlers/get-session.js';
import { handler as markIrrelevant } from '../../functions/handlers/mark-session-irrelevant.js';
import { handler as pushEvents } from '../../functions/handlers/push-events.js';
import { context, httpEvent } from '../support/events.js';
import { useFreshTable } from '../support/table.js';

type Opts = Parameters<typeof httpEvent>[0];

/** An API Gateway event as a JWT authorizer passes it: the token's claims in the request context. */
function asUser(sub: string | undefined, opts: Opts): APIGatewayProxyEventV2 {
  const event = httpEvent(opts);
  const claims = sub === undefined ? { iss: 'https://auth.example.com' } : { sub, iss: 'https://auth.example.com' };
  (event.requestContext as unknown as Record<string, unknown>).authorizer = { jwt: { claims, scopes: null } };
  return event;
}

const answer = (res: APIGatewayProxyStructuredResultV2) => ({
  status: res.statusCode,
  body: JSON.parse(res.body ?? 'null'),
});
const body = (id: string) => ({ session_id: id, search_query: 'q', search_results: [{ object_id: 'o1', rank: 1 }] });

const as = (sub: string | undefined) => ({
  create: async (id: string) =>
    answer(await createSession(asUser(sub, { method: 'POST', path: '/session', body: body(id) }), context)),
  read: async (id: string) =>
    answer(await getSession(asUser(sub, { method: 'GET', path: '/session', query: { session_id: id } }), context)),
  push: async (id: string, eventId = 'e1') =>
    answer(
      await pushEvents(
        asUser(sub, {
          method: 'POST',
          path: '/session/events',
          body: { session_id: id, events: [{ event_id: eventId, object_id: 'o1' }] },
        }),
        context,
      ),
    ),
  mark: async (id: string) =>
    answer(
      await markIrrelevant(
        asUser(sub, { method: 'POST', path: '/session/irrelevant', body: { session_id: id } }),
        context,
      ),
    ),
});

const alice = as('alice-sub');
const bob = as('bob-sub');

describe('clientAuth=jwt: a session belongs to the sub that created it', () => {
  beforeEach(async () => {
    await useFreshTable({ CLICKSTREAM_CLIENT_AUTH: 'jwt' });
  });

  it('its creator reads it, pushes to it and marks it', async () => {
    expect(await alice.create('s1')).toEqual({ status: 200, body: { session_id: 's1', created: true } });
    expect((await alice.push('s1')).body).toMatchObject({ accepted: 1 });
    expect(await alice.mark('s1')).toEqual({ status: 200, body: { session_id: 's1', is_irrelevant: true } });
    const read = await alice.read('s1');
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ session_id: 's1', is_irrelevant: true, events_count: 1 });
  });

  it('another sub gets exactly the 404 of a session that does not exist, on read, push and mark, and changes nothing', async () => {
    await alice.create('s1');
    await alice.push('s1', 'e1');
    for (const [name, op] of [
      ['read', bob.read],
      ['push', bob.push],
      ['mark', bob.mark],
    ] as const) {
      const theirs = await op('s1');
      const missing = await op('no-such-session');
      expect(theirs, name).toEqual({ status: 404, body: { detail: 'Session with id=s1 not found' } });
      expect(missing.body.detail.replace('no-such-session', 's1'), name).toBe(theirs.body.detail);
    }
    const read = await alice.read('s1');
    expect(read.body).toMatchObject({ is_irrelevant: false, events_count: 1 });
    expect(read.body.events.map((e: { event_id: string }) => e.event_id)).toEqual(['e1']);
  });

  it('another sub cannot take over an id: a create with the same content is a conflict, not a retry', async () => {
    await alice.create('s1');
    expect((await bob.create('s1')).status).toBe(409);
    expect(await alice.create('s1')).toEqual({ status: 200, body: { session_id: 's1', created: false } });
  });

  it('a token without sub is refused (403) before anything is read or written', async () => {
    expect(await as(undefined).create('s2')).toEqual({
      status: 403,
      body: { detail: 'Forbidden: the token has no sub claim' },
    });
    expect((await alice.read('s2')).status).toBe(404);
  });
});

describe('clientAuth=iam or none: sessions have no owner', () => {
  it('claims are ignored: any caller reads and pushes', async () => {
    await useFreshTable({ CLICKSTREAM_CLIENT_AUTH: 'iam' });
    await alice.create('s1');
    expect((await bob.read('s1')).status).toBe(200);
    expect((await bob.push('s1')).status).toBe(200);
  });
});
