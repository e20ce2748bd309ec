/**
 * The synthesized template: one function per operation of the route table, each with its own
 * handler and stable logical id, and exactly the DynamoDB actions of its operation.
 */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ClickstreamStack } from '../../lib/clickstream-stack.js';
import { BASE_PATH, erasureWorker, fallbackRoute, fullPath, routes, taskFunctions } from '../../lib/routes.js';
import { STREAM_READ } from './ops-app.js';

let template: Template;
let json: { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };

beforeAll(() => {
  const app = new App();
  const stack = new ClickstreamStack(app, 'TestStack', { env: { account: '123456789012', region: 'us-east-1' } });
  template = Template.fromStack(stack);
  json = template.toJSON() as typeof json;
}, 120_000);

const resourcesOfType = (type: string) => Object.entries(json.Resources).filter(([, r]) => r.Type === type);

/** The DynamoDB actions a function's role may use, from every policy attached to that role. */
function dynamoActions(logicalId: string): string[] {
  const roleRef = json.Resources[logicalId]!.Properties.Role['Fn::GetAtt'][0];
  return resourcesOfType('AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleRef))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
    .flatMap((s: { Action: string | string[] }) => (Array.isArray(s.Action) ? s.Action : [s.Action]))
    .filter((a: string) => a.startsWith('dynamodb:'))
    .sort();
}

describe('functions', () => {
  it('has exactly one function per operation, plus the catch-all, under stable logical ids', () => {
    const ids = resourcesOfType('AWS::Lambda::Function')
      .map(([id]) => id)
      .sort();
    expect(ids).toEqual(
      [...routes.map((r) => r.logicalId), fallbackRoute.logicalId, ...taskFunctions.map((t) => t.logicalId)].sort(),
    );
  });

  it.each(routes.map((r) => [r.logicalId, r] as const))('%s runs its own bundle on Node.js 24, ARM64', (logicalId) => {
    const fn = json.Resources[logicalId]!.Properties;
    expect(fn).toMatchObject({
      Handler: 'index.handler',
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
    });
    const codeKeys = routes.map((r) => JSON.stringify(json.Resources[r.logicalId]!.Properties.Code));
    expect(new Set(codeKeys).size).toBe(routes.length); // a bundle per function
    expect(fn.LoggingConfig?.LogGroup ?? fn.LoggingConfig).toBeDefined();
    expect(fn.Environment.Variables).toMatchObject({
      TABLE_NAME: { Ref: 'ClickstreamTable' },
      CLICKSTREAM_TIME_MAX_DELTA_MINUS_SEC: '43200',
      CLICKSTREAM_TIME_MAX_DELTA_PLUS_SEC: '300',
      CLICKSTREAM_BATCH_SHARDS: '64',
    });
  });

  it.each(routes.map((r) => [r.operation, r] as const))(
    '%s may use exactly its own DynamoDB actions on the table',
    (_op, route) => {
      expect(dynamoActions(route.logicalId)).toEqual([...route.actions].sort());
    },
  );

  it('only the erasure worker may Scan the table', () => {
    expect(dynamoActions(erasureWorker.logicalId)).toEqual([...erasureWorker.actions].sort());
    const scanners = resourcesOfType('AWS::IAM::Policy')
      .filter(([, p]) =>
        p.Properties.PolicyDocument.Statement.some((s: { Action: string | string[] }) =>
          ([] as string[]).concat(s.Action).includes('dynamodb:Scan'),
        ),
      )
      .map(([, p]) => p.Properties.Roles[0].Ref as string);
    expect(scanners).toEqual([json.Resources[erasureWorker.logicalId]!.Properties.Role['Fn::GetAtt'][0]]);
  });

  it('grants no DynamoDB access to the catch-all, and no wildcard to anyone, nor Scan but to the erasure worker', () => {
    expect(dynamoActions(fallbackRoute.logicalId)).toEqual([]);
    const statements = resourcesOfType('AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    for (const s of statements) {
      const actions: string[] = Array.isArray(s.Action) ? s.Action : [s.Action];
      expect(actions).not.toContain('dynamodb:*');
      if (actions.includes('dynamodb:Scan')) expect(s.Resource).toEqual({ 'Fn::GetAtt': ['ClickstreamTable', 'Arn'] });
      // The export starter's stream read (test/cdk/security.test.ts checks it exactly) is not on the table.
      const streamRead = actions.every((a) => STREAM_READ.test(a));
      if (actions.some((a) => a.startsWith('dynamodb:')) && !streamRead)
        expect(s.Resource).toEqual({ 'Fn::GetAtt': ['ClickstreamTable', 'Arn'] });
    }
  });
});

describe('SAM', () => {
  it('declares every variable that test/events/env.json sets (SAM overrides declared variables only)', () => {
    const envFile = JSON.parse(readFileSync(new URL('../events/env.json', import.meta.url), 'utf8')) as Record<
      string,
      Record<string, string>
    >;
    for (const [logicalId, vars] of Object.entries(envFile)) {
      const declared = json.Resources[logicalId]!.Properties.Environment.Variables as Record<string, unknown>;
      for (const key of Object.keys(vars))
        expect(Object.keys(declared), `${logicalId} must declare ${key}`).toContain(key);
      expect(declared.DYNAMODB_ENDPOINT, 'empty in AWS: the regional endpoint').toBe('');
    }
  });
});

describe('table', () => {
  it('is one on-demand table with pk/sk, point-in-time recovery and TTL, and no index', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: Match.absent(),
      LocalSecondaryIndexes: Match.absent(),
    });
  });
});

describe('API', () => {
  it('routes every operation of the route table to its function', () => {
    for (const route of routes) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: `${route.method} ${fullPath(route)}` });
    }
    expect(routes.every((r) => fullPath(r).startsWith(`${BASE_PATH}/`))).toBe(true);
  });
});
