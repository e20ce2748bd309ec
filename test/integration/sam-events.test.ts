/**
 * The SAM path, proven as far as it can be here: each sample event under test/events/ goes through
 * its function's real handler, with the environment of test/events/env.json (the file given to
 * `sam local invoke --env-vars`), against DynamoDB Local.
 */
import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHandler } from '../../lib/local/server.js';
import { fallbackRoute, routes } from '../../lib/routes.js';
import { context } from '../support/events.js';
import { useFreshTable, type TestTable } from '../support/table.js';

const eventsDir = new URL('../events/', import.meta.url);
const envFile = JSON.parse(readFileSync(new URL('env.json', eventsDir), 'utf8')) as Record<
  string,
  Record<string, string>
>;
const fileOf = (entry: string) => entry.replace(/^functions\/handlers\//, '').replace(/\.ts$/, '.json');
const loadEvent = (entry: string) =>
  JSON.parse(readFileSync(new URL(fileOf(entry), eventsDir), 'utf8')) as APIGatewayProxyEventV2;

const all = [...routes, fallbackRoute];

describe('SAM sample events', () => {
  let table: TestTable;

  beforeAll(async () => {
    table = await useFreshTable();
  });

  it('has a sample event and an env-vars entry for every function', () => {
    for (const route of all) {
      expect(() => loadEvent(route.entry)).not.toThrow();
      expect(envFile[route.logicalId]).toMatchObject({
        TABLE_NAME: expect.any(String),
        DYNAMODB_ENDPOINT: expect.any(String),
      });
    }
    expect(Object.keys(envFile).sort()).toEqual(all.map((r) => r.logicalId).sort());
  });

  it('runs every sample event through its real handler', async () => {
    const order = [
      'create_session',
      'push_events',
      'get_session',
      'mark_session_irrelevant',
      'release_batch',
      'get_batch',
      'get_batch_sessions',
      'list_batches',
    ];
    let batchId = '';
    for (const operation of order) {
      const route = routes.find((r) => r.operation === operation)!;
      // The env file points at DynamoDB Local as SAM's container sees it; here it is the test's instance.
      Object.assign(process.env, envFile[route.logicalId], {
        DYNAMODB_ENDPOINT: table.endpoint,
        TABLE_NAME: table.tableName,
      });
      const event = loadEvent(route.entry);
      if (event.queryStringParameters?.batch_id === 'REPLACE_WITH_BATCH_ID')
        event.queryStringParameters.batch_id = batchId;
      const handler = await loadHandler(route.entry);
      const res = await handler(event, context);
      expect(res.statusCode, `${operation}: ${res.body}`).toBe(200);
      const body = JSON.parse(res.body!);
      if (operation === 'release_batch') batchId = body.batch_id;
      if (operation === 'get_batch_sessions') {
        expect(body.sessions.map((s: { session_id: string }) => s.session_id)).toEqual(['sam-session-1']);
        expect(body.sessions[0].events).toHaveLength(2);
      }
    }
    const fallback = await loadHandler(fallbackRoute.entry);
    expect((await fallback(loadEvent(fallbackRoute.entry), context)).statusCode).toBe(404);
  });
});
