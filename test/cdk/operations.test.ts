/**
 * Operations on the synthesized stack: the table (PITR, encryption, deletion protection and
 * retention in production, TTL and the retention setting), log groups, tracing, alarms and their
 * SNS actions, the dashboard, and the checks on settings. Each configuration is synthesized once.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { CUSTOM_METRICS } from '../../lib/clickstream-stack.js';
import { routes, taskFunctions } from '../../lib/routes.js';
import { DEFAULT_SETTINGS, readSettings } from '../../lib/settings.js';
import { type CfnTemplate, onlyResource, resourcesOf, synthApp } from './ops-app.js';

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:ops-alerts';
const FUNCTIONS = routes.length + 1 + taskFunctions.length; // one per route, the catch-all, the export tasks and the erasure worker
/** Issue 15's alarms: 4xx rate, 401/403, 429, consumed write units (test/cdk/guardrails.test.ts). */
const GUARDRAIL_ALARMS = 4;

let defaults: ReturnType<typeof synthApp>;
let custom: ReturnType<typeof synthApp>;
let email: ReturnType<typeof synthApp>;

beforeAll(() => {
  defaults = synthApp({});
  custom = synthApp({
    production: 'false',
    retentionDays: '90',
    logRetentionDays: '90',
    logLevel: 'warn',
    alarmTopicArn: TOPIC,
  });
  email = synthApp({ alarmEmail: 'ops@example.com' });
});

const only = (t: CfnTemplate, type: string) => onlyResource(t, type)[1];
const functionsOf = (t: CfnTemplate) => resourcesOf(t, 'AWS::Lambda::Function').map(([, r]) => r.Properties);

describe('table', () => {
  it('has point-in-time recovery and encryption at rest in every configuration', () => {
    for (const b of [defaults, custom]) {
      b.template.hasResourceProperties('AWS::DynamoDB::Table', {
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        BillingMode: 'PAY_PER_REQUEST',
      });
    }
  });

  it('is protected from deletion and retained in production (the default)', () => {
    const table = only(defaults.json, 'AWS::DynamoDB::Table');
    expect(table.Properties.DeletionProtectionEnabled).toBe(true);
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
  });

  it('can be deleted with the stack when production=false', () => {
    const table = only(custom.json, 'AWS::DynamoDB::Table');
    expect(table.Properties.DeletionProtectionEnabled).toBe(false);
    expect(table.DeletionPolicy).toBe('Delete');
  });

  it('expires items through TTL on expiresAt, always enabled; retentionDays reaches every function', () => {
    for (const [b, days] of [
      [defaults, '0'],
      [custom, '90'],
    ] as const) {
      b.template.hasResourceProperties('AWS::DynamoDB::Table', {
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      });
      const fns = functionsOf(b.json);
      expect(fns).toHaveLength(FUNCTIONS);
      for (const f of fns) expect(f.Environment.Variables.CLICKSTREAM_RETENTION_DAYS).toBe(days);
    }
  });
});

describe('logs and tracing', () => {
  it('every log group (functions and API access logs) keeps logRetentionDays', () => {
    for (const [b, days, policy] of [
      [defaults, 30, 'Retain'],
      [custom, 90, 'Delete'],
    ] as const) {
      const groups = resourcesOf(b.json, 'AWS::Logs::LogGroup');
      expect(groups).toHaveLength(FUNCTIONS + 2); // and the API's access logs, the export state machine's logs
      for (const [id, g] of groups) {
        expect(g.Properties.RetentionInDays, id).toBe(days);
        expect(g.DeletionPolicy, id).toBe(policy);
      }
    }
  });

  it('every function writes to its own log group, at the configured level, with active X-Ray tracing', () => {
    for (const [b, level] of [
      [defaults, 'INFO'],
      [custom, 'WARN'],
    ] as const) {
      const groups = new Set(resourcesOf(b.json, 'AWS::Logs::LogGroup').map(([id]) => id));
      const used = new Set<string>();
      for (const f of functionsOf(b.json)) {
        expect(f.TracingConfig).toEqual({ Mode: 'Active' });
        expect(f.LoggingConfig).toMatchObject({
          LogFormat: 'JSON',
          ApplicationLogLevel: level,
          SystemLogLevel: 'INFO',
        });
        // No logging library reads the environment (none logs the event): Lambda's JSON format does the work.
        expect(Object.keys(f.Environment.Variables).filter((k) => k.startsWith('POWERTOOLS_'))).toEqual([]);
        const ref = f.LoggingConfig?.LogGroup?.Ref as string;
        expect(groups.has(ref), ref).toBe(true);
        used.add(ref);
      }
      expect(used.size).toBe(FUNCTIONS);
    }
  });

  it('API access logs are JSON lines with the request id and no query strings, paths or bodies', () => {
    const stage = only(defaults.json, 'AWS::ApiGatewayV2::Stage');
    const format = stage.Properties.AccessLogSettings.Format as string;
    const fields = JSON.parse(format) as Record<string, string>;
    expect(fields.requestId).toBe('$context.requestId');
    expect(fields).toMatchObject({ routeKey: '$context.routeKey', status: '$context.status' });
    expect(format).not.toMatch(/querystring|\$context\.path|\$input|\$request\.body/i);
    expect(stage.Properties.AccessLogSettings.DestinationArn).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^ApiAccessLogs/), 'Arn'],
    });
  });
});

describe('alarms', () => {
  const alarmsOf = (t: CfnTemplate) =>
    resourcesOf(t, 'AWS::CloudWatch::Alarm').map(([id, r]) => ({ id, p: r.Properties }));

  it('alarm on the API 5xx rate, Lambda errors and throttles of every function, DynamoDB throttles and system errors', () => {
    const alarms = alarmsOf(defaults.json);
    expect(alarms).toHaveLength(1 + 2 * FUNCTIONS + 2 + GUARDRAIL_ALARMS + 2); // + failed exports and failed export starts (test/cdk/exports.test.ts)
    const rate = alarms.find((a) => a.id.startsWith('Api5xxRateAlarm'))!;
    expect(rate.p.Threshold).toBe(1);
    expect(rate.p.ComparisonOperator).toBe('GreaterThanThreshold');
    const rateMetrics = (rate.p.Metrics as { MetricStat?: { Metric: { MetricName: string; Namespace: string } } }[])
      .filter((m) => m.MetricStat)
      .map((m) => `${m.MetricStat!.Metric.Namespace}/${m.MetricStat!.Metric.MetricName}`)
      .sort();
    expect(rateMetrics).toEqual(['AWS/ApiGateway/5xx', 'AWS/ApiGateway/Count']);

    for (const name of ['Errors', 'Throttles']) {
      const perFunction = alarms.filter((a) => a.p.Namespace === 'AWS/Lambda' && a.p.MetricName === name);
      expect(perFunction, name).toHaveLength(FUNCTIONS);
      const targets = new Set(perFunction.map((a) => JSON.stringify(a.p.Dimensions)));
      expect(targets.size, name).toBe(FUNCTIONS);
    }
    for (const [prefix, metric] of [
      ['TableThrottlesAlarm', 'ThrottledRequests'],
      ['TableSystemErrorsAlarm', 'SystemErrors'],
    ]) {
      const alarm = alarms.find((a) => a.id.startsWith(prefix!))!;
      const names = (alarm.p.Metrics as { MetricStat?: { Metric: { MetricName: string; Namespace: string } } }[])
        .filter((m) => m.MetricStat)
        .map((m) => `${m.MetricStat!.Metric.Namespace}/${m.MetricStat!.Metric.MetricName}`);
      expect(names.length, prefix).toBeGreaterThan(0);
      expect(new Set(names), prefix).toEqual(new Set([`AWS/DynamoDB/${metric}`]));
    }
  });

  it('without a topic, alarms have no actions and no topic is created', () => {
    for (const a of alarmsOf(defaults.json)) {
      expect(a.p.AlarmActions, a.id).toBeUndefined();
      expect(a.p.OKActions, a.id).toBeUndefined();
    }
    expect(resourcesOf(defaults.json, 'AWS::SNS::Topic')).toHaveLength(0);
  });

  it('alarmTopicArn: every alarm notifies that topic on alarm and on recovery', () => {
    const alarms = alarmsOf(custom.json);
    expect(alarms).toHaveLength(1 + 2 * FUNCTIONS + 2 + GUARDRAIL_ALARMS + 2); // + failed exports and failed export starts (test/cdk/exports.test.ts)
    for (const a of alarms) {
      expect(a.p.AlarmActions, a.id).toEqual([TOPIC]);
      expect(a.p.OKActions, a.id).toEqual([TOPIC]);
    }
    expect(resourcesOf(custom.json, 'AWS::SNS::Topic')).toHaveLength(0);
  });

  it('alarmEmail: a new topic that requires TLS, the address subscribed, every alarm notifying it', () => {
    const [topicId] = onlyResource(email.json, 'AWS::SNS::Topic');
    email.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: topicId },
    });
    email.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    for (const a of alarmsOf(email.json)) expect(a.p.AlarmActions, a.id).toEqual([{ Ref: topicId }]);
  });
});

describe('dashboard', () => {
  const bodyOf = (t: CfnTemplate) => {
    const dashboard = only(t, 'AWS::CloudWatch::Dashboard');
    return JSON.stringify(dashboard.Properties.DashboardBody);
  };

  it('there is one, and it graphs every custom metric in namespace Clickstream with dimension service=clickstream only', () => {
    const body = bodyOf(defaults.json);
    for (const name of CUSTOM_METRICS) {
      // A graphed metric is ["Namespace","Name",dimName,dimValue,...,{options}] in the dashboard body.
      expect(body, name).toMatch(
        new RegExp(`\\[\\\\"Clickstream\\\\",\\\\"${name}\\\\",\\\\"service\\\\",\\\\"clickstream\\\\",\\{`),
      );
    }
  });

  it('graphs the API, every function and the table', () => {
    const body = bodyOf(defaults.json);
    for (const m of ['5xx', '4xx', 'Count', 'Latency']) expect(body).toContain(`\\"AWS/ApiGateway\\",\\"${m}\\"`);
    for (const m of ['Errors', 'Throttles', 'Duration']) {
      expect(body.split(`\\"AWS/Lambda\\",\\"${m}\\"`).length - 1, m).toBe(FUNCTIONS);
    }
    expect(body).toContain('ThrottledRequests');
    expect(body).toContain('SystemErrors');
  });
});

describe('settings', () => {
  const read = (ctx: Record<string, unknown>) => readSettings((k) => ctx[k]);

  it('defaults: iam, no CORS, production, retention off', () => {
    expect(read({})).toEqual(DEFAULT_SETTINGS);
    expect(DEFAULT_SETTINGS).toMatchObject({ clientAuth: 'iam', corsOrigins: [], production: true, retentionDays: 0 });
  });

  it('reads lists and numbers as the CDK CLI passes them (strings)', () => {
    expect(
      read({ corsOrigins: 'https://a.example.com, https://b.example.com', throttleRateLimit: '10' }),
    ).toMatchObject({
      corsOrigins: ['https://a.example.com', 'https://b.example.com'],
      throttleRateLimit: 10,
    });
  });

  it.each([
    [{ clientAuth: 'cognito' }, /clientAuth must be iam, jwt or none/],
    [{ clientAuth: 'jwt', jwtAudience: 'x' }, /needs the settings jwtIssuer and jwtAudience/],
    [{ clientAuth: 'jwt', jwtIssuer: 'https://i.example.com' }, /needs the settings jwtIssuer and jwtAudience/],
    [{ clientAuth: 'jwt', jwtIssuer: 'http://i.example.com', jwtAudience: 'x' }, /jwtIssuer must be an https URL/],
    [{ corsOrigins: '*' }, /wildcard is not allowed/],
    [{ corsOrigins: 'https://*.example.com' }, /wildcard is not allowed/],
    [{ corsOrigins: 'https://app.example.com/path' }, /scheme and host, no path/],
    [{ production: 'flase' }, /production must be true or false/],
    [{ logRetentionDays: '45' }, /logRetentionDays must be one of/],
    [{ logLevel: 'verbose' }, /logLevel must be one of/],
    [{ throttleRateLimit: '0' }, /throttleRateLimit must be a whole number/],
    [{ retentionDays: '-1' }, /retentionDays must be a whole number/],
    [{ throttleRateLimit: '0x10' }, /throttleRateLimit must be a whole number/],
    [{ throttleBurstLimit: '1e3' }, /throttleBurstLimit must be a whole number/],
    [{ batchShards: ' 7 ' }, /batchShards must be a whole number/],
    [{ alarmTopicArn: TOPIC, alarmEmail: 'ops@example.com' }, /not both/],
    [{ alarmTopicArn: 'ops-alerts' }, /must be an SNS topic ARN/],
    [{ alarmEmail: 'ops' }, /must be an e-mail address/],
  ])('refuses %j', (ctx, message) => {
    expect(() => read(ctx)).toThrow(message);
  });
});
