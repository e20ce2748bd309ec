/**
 * Issue 15 on the synthesized template: guardrails (reserved concurrency pools, the table's maximum
 * throughput, write-route throttles, the budget), least privilege by key (LeadingKeys on every role
 * that touches the table, Attributes where one attribute is updated), the new alarms with names,
 * the production warning without an alarm target, split invoke ARNs, the KMS option, the access
 * log's JWT subject and CORS without plain http beyond localhost. Each configuration is synthesized
 * once (through the real app, so cdk-nag checks each of them too).
 */
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { LEADING_KEY_PATTERNS } from '../../functions/storage/keys.js';
import { dashboardNameOf } from '../../lib/monitoring.js';
import { erasureWorker, exportTasks, fallbackRoute, fullPath, routes, taskFunctions } from '../../lib/routes.js';
import { readSettings } from '../../lib/settings.js';
import { type CfnTemplate, onlyResource, resourcesOf, synthApp } from './ops-app.js';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
let defaults: ReturnType<typeof synthApp>;
let tuned: ReturnType<typeof synthApp>;
let givenKey: ReturnType<typeof synthApp>;
let jwt: ReturnType<typeof synthApp>;

beforeAll(() => {
  defaults = synthApp({});
  tuned = synthApp({
    stackName: 'clickstream-staging',
    production: 'false',
    alarmEmail: 'ops@example.com',
    clientReservedConcurrency: '0',
    internalReservedConcurrency: '5',
    tableMaxReadUnits: '500',
    tableMaxWriteUnits: '200',
    writeThrottleRateLimit: '20',
    writeThrottleBurstLimit: '40',
    monthlyBudgetUsd: '300',
    tableKmsKey: 'create',
  });
  givenKey = synthApp({ tableKmsKey: KEY_ARN, alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops' });
  jwt = synthApp({ clientAuth: 'jwt', jwtIssuer: 'https://auth.example.com', jwtAudience: 'web' });
});

const fnOf = (t: CfnTemplate, logicalId: string) => t.Resources[logicalId]!.Properties;
const statementsOfRole = (t: CfnTemplate, logicalId: string) => {
  const roleRef = fnOf(t, logicalId).Role['Fn::GetAtt'][0] as string;
  return resourcesOf(t, 'AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleRef))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
};
const dynamoStatements = (t: CfnTemplate, logicalId: string) =>
  statementsOfRole(t, logicalId).filter((s) =>
    ([] as string[]).concat(s.Action).some((a) => a.startsWith('dynamodb:')),
  );
const dynamoStatement = (t: CfnTemplate, logicalId: string) => {
  const found = dynamoStatements(t, logicalId);
  expect(found, logicalId).toHaveLength(1);
  return found[0];
};
const leadingKeysOf = (st: any): string[] => st.Condition['ForAllValues:StringLike']['dynamodb:LeadingKeys'];

describe('reserved concurrency', () => {
  it('every function has its own pool: 100 for each client function, 10 for each internal one and the catch-all', () => {
    for (const r of routes)
      expect(fnOf(defaults.json, r.logicalId).ReservedConcurrentExecutions, r.operation).toBe(r.internal ? 10 : 100);
    expect(fnOf(defaults.json, fallbackRoute.logicalId).ReservedConcurrentExecutions).toBe(10);
    // The export tasks: the range workers as many as the state machine runs at once, the finishing task an internal pool.
    expect(fnOf(defaults.json, exportTasks.range.logicalId).ReservedConcurrentExecutions).toBe(16);
    expect(fnOf(defaults.json, exportTasks.finish.logicalId).ReservedConcurrentExecutions).toBe(10);
    // The erasure worker: one at a time (each run goes on with the pass stored in the table).
    expect(fnOf(defaults.json, erasureWorker.logicalId).ReservedConcurrentExecutions).toBe(1);
    expect(resourcesOf(defaults.json, 'AWS::Lambda::Function')).toHaveLength(routes.length + 1 + taskFunctions.length);
  });

  it('are settings; 0 leaves a function in the unreserved pool', () => {
    for (const r of routes)
      expect(fnOf(tuned.json, r.logicalId).ReservedConcurrentExecutions, r.operation).toBe(r.internal ? 5 : undefined);
  });
});

describe('table guardrails', () => {
  it('has a maximum on-demand throughput (defaults 12,000 reads/s, 4,000 writes/s; settings)', () => {
    defaults.template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      OnDemandThroughput: { MaxReadRequestUnits: 12_000, MaxWriteRequestUnits: 4_000 },
    });
    tuned.template.hasResourceProperties('AWS::DynamoDB::Table', {
      OnDemandThroughput: { MaxReadRequestUnits: 500, MaxWriteRequestUnits: 200 },
    });
  });
});

describe('route throttles', () => {
  it('create_session and push_events have their own throttle; reads keep the stage default', () => {
    const stage = onlyResource(defaults.json, 'AWS::ApiGatewayV2::Stage')[1].Properties;
    const writes = routes
      .filter((r) => ['create_session', 'push_events'].includes(r.operation))
      .map((r) => `${r.method} ${fullPath(r)}`);
    expect(Object.keys(stage.RouteSettings).sort()).toEqual(writes.sort());
    for (const key of writes)
      expect(stage.RouteSettings[key]).toEqual({ ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 });
    expect(stage.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 });
    const tunedStage = onlyResource(tuned.json, 'AWS::ApiGatewayV2::Stage')[1].Properties;
    for (const key of writes)
      expect(tunedStage.RouteSettings[key]).toEqual({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 });
  });
});

describe('budget', () => {
  it('none by default; with monthlyBudgetUsd a monthly cost budget alerting the alarm address at 80% actual and 100% forecast', () => {
    expect(resourcesOf(defaults.json, 'AWS::Budgets::Budget')).toHaveLength(0);
    const budget = onlyResource(tuned.json, 'AWS::Budgets::Budget')[1].Properties;
    expect(budget.Budget).toMatchObject({
      BudgetType: 'COST',
      TimeUnit: 'MONTHLY',
      BudgetLimit: { Amount: 300, Unit: 'USD' },
    });
    expect(
      budget.NotificationsWithSubscribers.map((n: any) => [n.Notification.NotificationType, n.Notification.Threshold]),
    ).toEqual([
      ['ACTUAL', 80],
      ['FORECASTED', 100],
    ]);
    for (const n of budget.NotificationsWithSubscribers)
      expect(n.Subscribers).toEqual([{ SubscriptionType: 'EMAIL', Address: 'ops@example.com' }]);
  });
});

describe('least privilege by key', () => {
  it.each(routes.map((r) => [r.operation, r] as const))(
    '%s: LeadingKeys are exactly the patterns of its partition kinds',
    (_op, r) => {
      if (!r.writePartitions) {
        expect(leadingKeysOf(dynamoStatement(defaults.json, r.logicalId))).toEqual(
          r.partitions.map((p) => LEADING_KEY_PATTERNS[p]),
        );
        return;
      }
      // Writes confined to fewer kinds than the reads: a statement each.
      const [reads, writes] = dynamoStatements(defaults.json, r.logicalId);
      expect(leadingKeysOf(reads)).toEqual(r.partitions.map((p) => LEADING_KEY_PATTERNS[p]));
      expect(leadingKeysOf(writes)).toEqual(r.writePartitions.map((p) => LEADING_KEY_PATTERNS[p]));
      expect(
        [].concat(writes.Action).every((a: string) => a === 'dynamodb:PutItem' || a === 'dynamodb:UpdateItem'),
      ).toBe(true);
    },
  );

  it('every role that touches sessions is limited by LeadingKeys, and only those of the session routes and batch pages reach SESSION#', () => {
    const reachSessions = routes.filter((r) =>
      dynamoStatements(defaults.json, r.logicalId).some((st) => leadingKeysOf(st).includes('SESSION#*')),
    );
    expect(reachSessions.map((r) => r.operation).sort()).toEqual([
      'create_session',
      'get_batch_sessions',
      'get_session',
      'mark_session_irrelevant',
      'push_events',
    ]);
  });

  it('push_events can touch sessions, their events and membership items only: no registry, shard, release or batch record', () => {
    const keys: string[] = dynamoStatement(defaults.json, 'PushEventsFunction').Condition['ForAllValues:StringLike'][
      'dynamodb:LeadingKeys'
    ];
    expect(keys).toEqual(['SESSION#*', 'BATCH#*#SHARD#*']);
    for (const pk of ['BATCHES', 'SHARD#3', 'RELEASE#r1'])
      expect(
        keys.some((p) => new RegExp(`^${p.replace(/\*/g, '.*')}$`).test(pk)),
        pk,
      ).toBe(false);
  });

  it('mark_session_irrelevant may name only its flag (and the keys and owner): dynamodb:Attributes', () => {
    const st = dynamoStatement(defaults.json, 'MarkSessionIrrelevantFunction');
    expect(st.Action).toBe('dynamodb:UpdateItem');
    expect(st.Condition['ForAllValues:StringEquals']['dynamodb:Attributes']).toEqual([
      'pk',
      'sk',
      'isIrrelevant',
      'ownerSub',
    ]);
  });
});

describe('alarms', () => {
  const alarmsOf = (t: CfnTemplate) =>
    resourcesOf(t, 'AWS::CloudWatch::Alarm').map(([id, r]) => ({ id, p: r.Properties }));

  it('every alarm has a name that starts with the stack name', () => {
    for (const [b, stackName] of [
      [defaults, 'ClickstreamStack'],
      [tuned, 'clickstream-staging'],
    ] as const) {
      const names = alarmsOf(b.json).map((a) => a.p.AlarmName as string);
      for (const n of names) expect(n).toMatch(new RegExp(`^${stackName}-[A-Za-z0-9]+$`));
      expect(new Set(names).size).toBe(names.length);
    }
  });

  it('alarm on the 4xx rate, 401/403 and 429 answers (from the access log) and consumed write units against the maximum', () => {
    const alarms = alarmsOf(tuned.json);
    const byName = (suffix: string) => alarms.find((a) => a.p.AlarmName === `clickstream-staging-${suffix}`)!.p;
    const metricsOf = (p: any) =>
      (p.Metrics as any[])
        .filter((m) => m.MetricStat)
        .map((m) => `${m.MetricStat.Metric.Namespace}/${m.MetricStat.Metric.MetricName}`)
        .sort();
    expect(metricsOf(byName('Api4xxRate'))).toEqual(['AWS/ApiGateway/4xx', 'AWS/ApiGateway/Count']);
    expect(byName('Api4xxRate').Threshold).toBe(10);
    expect(byName('ApiAuthFailures')).toMatchObject({
      Namespace: 'Clickstream',
      MetricName: 'ApiAuthFailures',
      Threshold: 50,
    });
    expect(byName('ApiThrottled')).toMatchObject({
      Namespace: 'Clickstream',
      MetricName: 'ApiThrottled',
      Threshold: 10,
    });
    const writes = byName('TableWriteUnits');
    expect(metricsOf(writes)).toEqual(['AWS/DynamoDB/ConsumedWriteCapacityUnits']);
    expect(JSON.stringify(writes.Metrics)).toContain('/ 200'); // tableMaxWriteUnits of this configuration
    expect(writes.Threshold).toBe(80);
    // The counts come from metric filters on the access log, by status.
    const accessLogs = resourcesOf(tuned.json, 'AWS::Logs::LogGroup').find(([id]) =>
      id.startsWith('ApiAccessLogs'),
    )?.[0];
    const filters = resourcesOf(tuned.json, 'AWS::Logs::MetricFilter')
      .map(([, r]) => r.Properties)
      .filter((p) => p.LogGroupName?.Ref === accessLogs); // the functions' own are in test/cdk/metric-filters.test.ts
    expect(filters.map((f) => [f.MetricTransformations[0].MetricName, f.FilterPattern]).sort()).toEqual([
      ['ApiAuthFailures', '{ ($.status = "401") || ($.status = "403") }'],
      ['ApiThrottled', '{ $.status = "429" }'],
    ]);
    const [topicId] = onlyResource(tuned.json, 'AWS::SNS::Topic');
    for (const a of alarms) expect(a.p.AlarmActions, a.p.AlarmName).toEqual([{ Ref: topicId }]);
  });

  it('production without an alarm target warns loudly at synth; with a target it does not', () => {
    Annotations.fromStack(defaults.stack).hasWarning('*', Match.stringLikeRegexp('notify NOBODY'));
    Annotations.fromStack(givenKey.stack).hasNoWarning('*', Match.stringLikeRegexp('notify NOBODY'));
    Annotations.fromStack(tuned.stack).hasNoWarning('*', Match.stringLikeRegexp('notify NOBODY'));
  });

  it('the dashboard name does not double the prefix', () => {
    expect(onlyResource(tuned.json, 'AWS::CloudWatch::Dashboard')[1].Properties.DashboardName).toBe(
      'clickstream-staging',
    );
    expect(onlyResource(defaults.json, 'AWS::CloudWatch::Dashboard')[1].Properties.DashboardName).toBe(
      'ClickstreamStack',
    );
    expect(dashboardNameOf('prod-eu')).toBe('clickstream-prod-eu');
  });
});

describe('outputs', () => {
  const outputsOf = (t: CfnTemplate) => t.Outputs as Record<string, { Value: any; Description?: string }>;
  const arnPath = (v: any) => JSON.stringify(v);

  it('every output has a description', () => {
    for (const b of [defaults, tuned, givenKey, jwt]) {
      for (const [id, o] of Object.entries(outputsOf(b.json)))
        expect(o.Description?.length ?? 0, id).toBeGreaterThan(20);
    }
  });

  it('with clientAuth=iam, separate invoke ARNs for client writes and reads, internal reads and writes', () => {
    const o = outputsOf(defaults.json);
    expect(arnPath(o.ClientWriteInvokeArn!.Value)).toContain('/$default/POST/api/v1/clickstream/session*');
    expect(arnPath(o.ClientReadInvokeArn!.Value)).toContain('/$default/GET/api/v1/clickstream/session*');
    expect(arnPath(o.InternalReadInvokeArn!.Value)).toContain('/$default/GET/api/v1/clickstream/internal/*');
    expect(arnPath(o.InternalWriteInvokeArn!.Value)).toContain('/$default/POST/api/v1/clickstream/internal/*');
    // Every internal write is a POST and every internal read a GET, so the split ARNs cover them exactly.
    const reads = ['get_session', 'get_batch_sessions', 'get_batch', 'list_batches', 'get_export', 'get_erasure'];
    for (const r of routes) expect(r.method, r.operation).toBe(reads.includes(r.operation) ? 'GET' : 'POST');
  });

  it('with clientAuth=jwt, no client invoke ARN (clients do not use IAM); internal ones stay', () => {
    const o = outputsOf(jwt.json);
    expect(Object.keys(o).filter((k) => k.startsWith('Client'))).toEqual([]);
    expect(o.InternalReadInvokeArn).toBeDefined();
    expect(o.InternalWriteInvokeArn).toBeDefined();
  });
});

describe('encryption', () => {
  it('AWS-managed key by default', () => {
    const table = onlyResource(defaults.json, 'AWS::DynamoDB::Table')[1].Properties;
    expect(table.SSESpecification).toEqual({ SSEEnabled: true });
    expect(resourcesOf(defaults.json, 'AWS::KMS::Key')).toHaveLength(0);
  });

  it('tableKmsKey=create: a customer-managed key with rotation encrypts the table; functions may use it through DynamoDB only', () => {
    const [keyId, key] = onlyResource(tuned.json, 'AWS::KMS::Key');
    expect(key.Properties.EnableKeyRotation).toBe(true);
    const table = onlyResource(tuned.json, 'AWS::DynamoDB::Table')[1].Properties;
    expect(table.SSESpecification).toEqual({
      SSEEnabled: true,
      SSEType: 'KMS',
      KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
    for (const r of routes) {
      const kms = statementsOfRole(tuned.json, r.logicalId).filter((s) =>
        ([] as string[]).concat(s.Action).some((a) => a.startsWith('kms:')),
      );
      expect(kms, r.operation).toHaveLength(1);
      expect(kms[0].Resource).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
      expect(kms[0].Condition.StringEquals['kms:ViaService']).toBeDefined();
      const writes = r.actions.some((a) => a === 'dynamodb:PutItem' || a === 'dynamodb:UpdateItem');
      expect(kms[0].Action.includes('kms:Encrypt'), r.operation).toBe(writes);
    }
  });

  it('tableKmsKey=<ARN>: the given key', () => {
    const table = onlyResource(givenKey.json, 'AWS::DynamoDB::Table')[1].Properties;
    expect(table.SSESpecification).toEqual({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: KEY_ARN });
    expect(resourcesOf(givenKey.json, 'AWS::KMS::Key')).toHaveLength(0);
  });
});

describe('smaller points', () => {
  it('the access log records the JWT subject', () => {
    const stage = onlyResource(jwt.json, 'AWS::ApiGatewayV2::Stage')[1].Properties;
    expect(JSON.parse(stage.AccessLogSettings.Format).sub).toBe('$context.authorizer.claims.sub');
  });

  it('CORS refuses plain http:// origins other than localhost and 127.0.0.1', () => {
    const read = (corsOrigins: string) => readSettings((k) => ({ corsOrigins })[k as 'corsOrigins']);
    expect(() => read('http://shop.example.com')).toThrow(
      /must use https:\/\/ \(http:\/\/ only for localhost or 127.0.0.1\)/,
    );
    expect(() => read('http://localhost.evil.com')).toThrow(/must use https/);
    expect(
      read('http://localhost:5173,http://127.0.0.1:8080,http://localhost,https://shop.example.com').corsOrigins,
    ).toHaveLength(4);
  });

  it('refuses a tableKmsKey that is neither "create" nor a key ARN', () => {
    expect(() => readSettings((k) => (k === 'tableKmsKey' ? 'yes' : undefined))).toThrow(
      /tableKmsKey must be "create" or a KMS key ARN/,
    );
  });

  it('the functions learn the cap and the client auth mode', () => {
    for (const r of routes) {
      expect(fnOf(defaults.json, r.logicalId).Environment.Variables).toMatchObject({
        CLICKSTREAM_MAX_EVENTS_PER_SESSION: '10000',
        CLICKSTREAM_CLIENT_AUTH: 'iam',
      });
      expect(fnOf(jwt.json, r.logicalId).Environment.Variables.CLICKSTREAM_CLIENT_AUTH).toBe('jwt');
    }
  });
});
