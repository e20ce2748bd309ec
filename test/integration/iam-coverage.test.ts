/**
 * IAM coverage: every DynamoDB call each function really sends is allowed by its role in the
 * synthesized template. The real handlers run a scenario that reaches every storage path (first
 * create with registry bootstrap, retries, conflicts, late timestamps, the events cap, unknown
 * sessions, releases and their repeats, batch pages) against DynamoDB Local, with a recorder on the
 * functions' own client. Then each recorded (action, partition key) must be granted to that
 * function: the action in its DynamoDB statement and the key inside its `dynamodb:LeadingKeys`
 * patterns. A handler that starts sending a new command, or touching a new kind of item, fails here
 * and not with AccessDenied in AWS. (`dynamodb:Attributes` is not modelled: DynamoDB Local has no IAM.)
 * The export starter, driven with the stream record of the scenario's export, must be allowed the
 * Step Functions call it sends (mocked), and no other function may use Step Functions.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { type ExportRunInput, setExportRunner } from '../../functions/domain/exports.js';
import { setSfnClient } from '../../functions/orchestration/step-functions.js';
import { resetConfig } from '../../functions/shared/config.js';
import { documentClient } from '../../functions/storage/client.js';
import { erasureWorker, exportTasks, fallbackRoute, routes, taskFunctions } from '../../lib/routes.js';
import { synthApp, type CfnTemplate, resourcesOf, STREAM_READ } from '../cdk/ops-app.js';
import { attachRecorder, recordAs, SCAN_PK, sent, stringLike } from '../support/dynamodb-recorder.js';
import { workOnErasures } from '../../functions/domain/erasure.js';
import { resetErasureKey } from '../../functions/storage/erasure-key.js';
import { context, httpEvent } from '../support/events.js';
import { useFreshTable } from '../support/table.js';

const sfn = mockClient(SFNClient);
type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;
const handlers: Record<string, Handler> = {};
let template: CfnTemplate;

async function call(
  operation: string,
  method: string,
  path: string,
  opts: { body?: unknown; query?: Record<string, string> } = {},
) {
  const res = await recordAs(operation, () => handlers[operation]!(httpEvent({ method, path, ...opts }), context));
  return { status: res.statusCode, body: JSON.parse(res.body ?? 'null') };
}

const session = (id: string, extra: Record<string, unknown> = {}) => ({
  session_id: id,
  search_query: 'q',
  search_results: [{ object_id: 'o1', rank: 1 }],
  ...extra,
});
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  await useFreshTable({
    CLICKSTREAM_MAX_EVENTS_PER_SESSION: '3',
    CLICKSTREAM_BATCH_SHARDS: '2',
    EXPORT_DIR: mkdtempSync(join(tmpdir(), 'iam-coverage-exports-')),
    CLICKSTREAM_ERASURE_KEY: 'iam-coverage-key',
  });
  resetErasureKey();
  attachRecorder(documentClient());
  // Exports: the runner only records what it was asked to run; the tasks run below, each as itself.
  const runs: ExportRunInput[] = [];
  setExportRunner({ start: async (input) => void runs.push(input) });
  for (const r of [...routes, fallbackRoute, ...taskFunctions]) {
    handlers[r.operation] = ((await import(`../../${r.entry}`)) as { handler: Handler }).handler;
  }
  template = synthApp({}).json;

  const s = '/session';
  const expectStatus = async (p: ReturnType<typeof call>, status: number) => expect((await p).status).toBe(status);
  // create_session: bootstrap, retry, conflict, a late created_at (read back), a second session.
  await expectStatus(call('create_session', 'POST', s, { body: session('s1') }), 200);
  await expectStatus(call('create_session', 'POST', s, { body: session('s1') }), 200);
  await expectStatus(call('create_session', 'POST', s, { body: session('s1', { search_query: 'other' }) }), 409);
  await expectStatus(
    call('create_session', 'POST', s, { body: session('s1', { created_at: now() - 10 * 86_400 }) }),
    400,
  );
  await expectStatus(call('create_session', 'POST', s, { body: session('s2') }), 200);
  // push_events: new, duplicate, conflict, late, past the cap (3), unknown session.
  const ev = (id: string, extra: Record<string, unknown> = {}) => ({ event_id: id, object_id: 'o1', ...extra });
  await expectStatus(
    call('push_events', 'POST', `${s}/events`, { body: { session_id: 's1', events: [ev('e1'), ev('e2')] } }),
    200,
  );
  const mixed = [
    ev('e1'),
    ev('e2', { object_id: 'x' }),
    ev('e3'),
    ev('e4'),
    ev('e5', { created_at: now() - 10 * 86_400 }),
  ];
  const capped = await call('push_events', 'POST', `${s}/events`, { body: { session_id: 's1', events: mixed } });
  expect(capped.body.results.map((r: { status: string }) => r.status)).toEqual([
    'duplicate',
    'conflict',
    'accepted',
    'rejected',
    'rejected',
  ]);
  await expectStatus(
    call('push_events', 'POST', `${s}/events`, { body: { session_id: 's2', events: [ev('e1'), ev('e1')] } }),
    200,
  );
  await expectStatus(
    call('push_events', 'POST', `${s}/events`, { body: { session_id: 'ghost', events: [ev('e1')] } }),
    404,
  );
  // get_session, mark_session_irrelevant: known and unknown.
  await expectStatus(call('get_session', 'GET', s, { query: { session_id: 's1' } }), 200);
  await expectStatus(call('get_session', 'GET', s, { query: { session_id: 'ghost' } }), 404);
  await expectStatus(call('mark_session_irrelevant', 'POST', `${s}/irrelevant`, { body: { session_id: 's2' } }), 200);
  await expectStatus(
    call('mark_session_irrelevant', 'POST', `${s}/irrelevant`, { body: { session_id: 'ghost' } }),
    404,
  );
  // Batches: collecting, release (and its repeat), the released batch and its pages.
  await expectStatus(call('get_batch', 'GET', '/internal/batch'), 200);
  const released = await call('release_batch', 'POST', '/internal/batch/release', { body: { release_id: 'r1' } });
  expect(released.status).toBe(200);
  await expectStatus(call('release_batch', 'POST', '/internal/batch/release', { body: { release_id: 'r1' } }), 200);
  await expectStatus(call('release_batch', 'POST', '/internal/batch/release', { body: { release_id: 'r2' } }), 404);
  const batchId = released.body.batch_id as string;
  await expectStatus(call('get_batch', 'GET', '/internal/batch', { query: { batch_id: batchId } }), 200);
  await expectStatus(
    call('get_batch_sessions', 'GET', '/internal/batch/sessions', {
      query: { batch_id: batchId, include_irrelevant: 'true' },
    }),
    200,
  );
  await expectStatus(
    call('get_batch_sessions', 'GET', '/internal/batch/sessions', { query: { batch_id: 'nope' } }),
    404,
  );
  // Events pushed after the release still go to the session (its membership item counts them).
  await expectStatus(call('create_session', 'POST', s, { body: session('s3') }), 200);
  await expectStatus(
    call('push_events', 'POST', `${s}/events`, { body: { session_id: 's3', events: [ev('e1')] } }),
    200,
  );
  // list_batches: the collecting batch (counted from the shards) and the released one, page by page.
  const listed = await call('list_batches', 'GET', '/internal/batches', { query: { limit: '1' } });
  expect(listed.status).toBe(200);
  await expectStatus(
    call('list_batches', 'GET', '/internal/batches', { query: { cursor: listed.body.next_cursor as string } }),
    200,
  );
  // Exports: start (and its repeat), the state machine's tasks as Step Functions would run them, the state.
  await expectStatus(
    call('start_export', 'POST', '/internal/batch/export', { body: { batch_id: batchId, export_id: 'x1' } }),
    202,
  );
  await expectStatus(
    call('start_export', 'POST', '/internal/batch/export', { body: { batch_id: batchId, export_id: 'x1' } }),
    202,
  );
  await expectStatus(
    call('start_export', 'POST', '/internal/batch/export', { body: { batch_id: 'nope', export_id: 'x2' } }),
    404,
  );
  const task = (operation: string, input: unknown) =>
    recordAs(operation, () =>
      (handlers[operation] as unknown as (e: unknown, c: Context) => Promise<any>)(input, context),
    );
  const run = runs[0]!;
  for (const range of run.ranges) {
    let next: any = {
      exportId: run.exportId,
      batchId: run.batchId,
      format: run.format,
      range,
      cursor: range.after,
      part: 0,
    };
    do next = await task(exportTasks.range.operation, next);
    while (!next.done);
  }
  await task(exportTasks.finish.operation, { exportId: run.exportId });
  const state = await call('get_export', 'GET', '/internal/batch/export', { query: { export_id: 'x1' } });
  expect(state.body.state).toBe('succeeded');
  await expectStatus(call('get_export', 'GET', '/internal/batch/export', { query: { export_id: 'nope' } }), 404);
  setExportRunner(undefined);
  // In AWS the export starter starts that run, from the table stream's record of x1 (Step Functions mocked).
  process.env.EXPORT_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:exports';
  resetConfig();
  setSfnClient(new SFNClient({ region: 'us-east-1' }));
  sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:x', startDate: new Date() });
  const exported = {
    pk: `EXPORT#${run.exportId}`,
    sk: 'EXPORT',
    ...run,
    state: 'running',
    location: 'x',
    createdAt: 1,
  };
  const starter = handlers[exportTasks.start.operation] as unknown as (e: unknown) => Promise<unknown>;
  await starter({
    Records: [
      {
        eventName: 'INSERT',
        dynamodb: {
          Keys: marshall({ pk: exported.pk, sk: exported.sk }),
          NewImage: marshall(exported),
          SequenceNumber: '1',
        },
      },
    ],
  });
  setSfnClient(undefined);
  delete process.env.EXPORT_STATE_MACHINE_ARN;
  resetConfig();
  // Erasure: a user with sessions in the released batch and the collecting one (with events), the
  // request and its repeats, then the worker's steps (a pass: Scan, erase, sweep) as its schedule runs them.
  await expectStatus(call('create_session', 'POST', s, { body: session('u1', { user_id: 'erased-user' }) }), 200);
  await expectStatus(
    call('push_events', 'POST', `${s}/events`, { body: { session_id: 'u1', events: [ev('e1')] } }),
    200,
  );
  await expectStatus(
    call('erase_user', 'POST', '/internal/users/erase', { body: { user_id: 'erased-user', request_id: 'q1' } }),
    202,
  );
  await expectStatus(
    call('erase_user', 'POST', '/internal/users/erase', { body: { user_id: 'erased-user', request_id: 'q1' } }),
    202,
  );
  await expectStatus(
    call('erase_user', 'POST', '/internal/users/erase', { body: { user_id: 'other', request_id: 'q1' } }),
    409,
  );
  await expectStatus(call('get_erasure', 'GET', '/internal/users/erase', { query: { request_id: 'q1' } }), 200);
  await expectStatus(call('get_erasure', 'GET', '/internal/users/erase', { query: { request_id: 'nope' } }), 404);
  // The worker's handler uses the AWS waits (a minute, 12 hours); its steps run here with none.
  const policy = { segments: 2, concurrency: 2, settleMs: 0, sweepDelayMs: 0, batchWaitMs: 0 };
  for (let i = 0; i < 20; i++) {
    const step = await recordAs(erasureWorker.operation, () => workOnErasures(policy, Number.POSITIVE_INFINITY));
    if (step.kind === 'idle') break;
  }
  expect(
    (await call('get_erasure', 'GET', '/internal/users/erase', { query: { request_id: 'q1' } })).body.sessions_erased,
  ).toBe(1);
  await expectStatus(call('get_export', 'GET', '/internal/batch/export', { query: { export_id: 'x1' } }), 200);
  await expectStatus(call('not_found', 'GET', '/nowhere'), 404);
}, 180_000);

interface Grant {
  actions: string[];
  leadingKeys?: string[];
}

/** The DynamoDB grants of a function's role: actions and LeadingKeys patterns of each statement. */
/** The Allow statements of the policies attached to a function's role. */
function allowStatementsOf(logicalId: string): any[] {
  const roleRef = template.Resources[logicalId]!.Properties.Role['Fn::GetAtt'][0] as string;
  return resourcesOf(template, 'AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleRef))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[])
    .filter((st) => st.Effect === 'Allow');
}

function grantsOf(logicalId: string): Grant[] {
  return allowStatementsOf(logicalId)
    .map((st) => ({
      // Table actions only: the export starter's stream read (its event source mapping) touches no item.
      actions: ([] as string[]).concat(st.Action).filter((a) => a.startsWith('dynamodb:') && !STREAM_READ.test(a)),
      leadingKeys: st.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'],
    }))
    .filter((g) => g.actions.length > 0);
}

const allowed = (grants: Grant[], action: string, pk: string) =>
  grants.some(
    (g) =>
      g.actions.includes(action) &&
      (pk === SCAN_PK || g.leadingKeys === undefined || g.leadingKeys.some((p) => stringLike(p, pk))),
  );

/** The Step Functions actions a function's role allows, each with its resources. */
const stepFunctionsGrantsOf = (logicalId: string) =>
  allowStatementsOf(logicalId)
    .flatMap((st) => ([] as string[]).concat(st.Action).map((action) => ({ action, resource: st.Resource })))
    .filter((g) => g.action.startsWith('states:'));

describe('IAM coverage', () => {
  it('the export starter sends only what its role allows: StartExecution on the export state machine', () => {
    const sent = sfn.commandCalls(StartExecutionCommand);
    expect(sent.length, 'the starter was not driven').toBe(1);
    const [machine] = resourcesOf(template, 'AWS::StepFunctions::StateMachine')[0]!;
    expect(stepFunctionsGrantsOf(exportTasks.start.logicalId)).toContainEqual({
      action: 'states:StartExecution',
      resource: { Ref: machine },
    });
    for (const r of [...routes, fallbackRoute, ...taskFunctions].filter((t) => t !== exportTasks.start))
      expect(stepFunctionsGrantsOf(r.logicalId), r.operation).toEqual([]);
  });

  it.each([...routes, fallbackRoute, ...taskFunctions].map((r) => [r.operation, r] as const))(
    '%s sends only what its role allows',
    (operation, route) => {
      const calls = sent.filter((c) => c.operation === operation);
      if (route.actions.length > 0) expect(calls.length, `${operation} was not driven`).toBeGreaterThan(0);
      const grants = grantsOf(route.logicalId);
      const refused = [
        ...new Set(calls.filter((c) => !allowed(grants, c.action, c.pk)).map((c) => `${c.action} on ${c.pk}`)),
      ];
      expect(refused, `${operation} sends calls its role does not allow`).toEqual([]);
    },
  );

  it('every role that uses DynamoDB is limited by LeadingKeys', () => {
    for (const r of [...routes, ...taskFunctions]) {
      for (const g of grantsOf(r.logicalId)) expect(g.leadingKeys, r.operation).toBeDefined();
    }
  });

  it('the recorder sees every kind of call: transactions by item, batch reads by key, queries by partition', () => {
    const actions = new Set(sent.map((c) => c.action));
    for (const a of [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:Query',
      'dynamodb:BatchGetItem',
    ])
      expect(actions).toContain(a);
    expect(
      sent.some(
        (c) => c.operation === 'create_session' && c.action === 'dynamodb:PutItem' && c.pk.startsWith('BATCH#'),
      ),
    ).toBe(true);
    expect(
      sent.some((c) => c.operation === 'push_events' && c.action === 'dynamodb:UpdateItem' && c.pk.includes('#SHARD#')),
    ).toBe(true);
    for (const c of sent) expect(c.pk, `${c.operation} ${c.action}`).not.toMatch(/^(undefined|\?|\*)$/);
  });
});
