/**
 * Security of the synthesized stack, per configuration: who may call which route (IAM, JWT, none),
 * that no path opens without authentication when clientAuth is iam or jwt, CORS, throttling, least
 * privilege of every role, and cdk-nag's AwsSolutions rules (no unacknowledged finding, every
 * acknowledgement narrow and with its reason). Each configuration is synthesized once.
 */
import { Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { Role, ManagedPolicy, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { erasureWorker, fullPath, routes, taskFunctions } from '../../lib/routes.js';

const TASKS = taskFunctions;
/** The export state machine's role: its statements are CDK's (invoke, log delivery, X-Ray), checked in test/cdk/exports.test.ts. */
const ofFunctions = (s: { id: string }) => !s.id.startsWith('ExportMachine');
/** The export starter's stream read (its event source mapping): ListStreams, DescribeStream, GetRecords, GetShardIterator. */
const isStreamRead = (s: { actions: string[] }) => s.actions.every((a) => STREAM_READ.test(a));
import { acknowledgements, type CfnTemplate, onlyResource, resourcesOf, STREAM_READ, synthApp } from './ops-app.js';

const ISSUER = 'https://auth.example.com/realms/shop';
const CONFIGS = {
  iam: {},
  jwt: {
    clientAuth: 'jwt',
    jwtIssuer: ISSUER,
    jwtAudience: 'web-shop,mobile-app',
    corsOrigins: 'https://shop.example.com,http://localhost:3000',
  },
  none: { clientAuth: 'none', throttleRateLimit: '50', throttleBurstLimit: '100' },
} as const;
type Mode = keyof typeof CONFIGS;

let built: Record<Mode, ReturnType<typeof synthApp>>;

beforeAll(() => {
  built = { iam: synthApp(CONFIGS.iam), jwt: synthApp(CONFIGS.jwt), none: synthApp(CONFIGS.none) };
});

const routeResources = (t: CfnTemplate) => resourcesOf(t, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
const routeByKey = (t: CfnTemplate, key: string) => {
  const found = routeResources(t).filter((p) => p.RouteKey === key);
  expect(found, key).toHaveLength(1);
  return found[0];
};
const catchAll = (t: CfnTemplate) => routeResources(t).filter((p) => String(p.RouteKey).endsWith(' /{proxy+}'));
const authorizerIdOf = (t: CfnTemplate, type: string) => {
  const found = resourcesOf(t, 'AWS::ApiGatewayV2::Authorizer').filter(([, r]) => r.Properties.AuthorizerType === type);
  expect(found).toHaveLength(1);
  return found[0]![0];
};

describe('authorization', () => {
  it.each(['iam', 'jwt', 'none'] as Mode[])('internal routes always require IAM (clientAuth=%s)', (mode) => {
    const t = built[mode].json;
    const internal = routes.filter((r) => r.internal);
    expect(internal.length).toBeGreaterThan(0);
    for (const r of internal) {
      const route = routeByKey(t, `${r.method} ${fullPath(r)}`);
      expect(route.AuthorizationType, r.operation).toBe('AWS_IAM');
      expect(route.AuthorizerId, r.operation).toBeUndefined();
    }
  });

  it('clientAuth=iam (the default): client routes and the catch-all require SigV4', () => {
    const t = built.iam.json;
    for (const r of routes.filter((x) => !x.internal)) {
      expect(routeByKey(t, `${r.method} ${fullPath(r)}`).AuthorizationType, r.operation).toBe('AWS_IAM');
    }
    expect(catchAll(t).map((p) => [p.RouteKey, p.AuthorizationType])).toEqual([['ANY /{proxy+}', 'AWS_IAM']]);
    expect(resourcesOf(t, 'AWS::ApiGatewayV2::Authorizer')).toHaveLength(0);
  });

  it('clientAuth=jwt: client routes and the catch-all use the JWT authorizer with the configured issuer and audiences', () => {
    const t = built.jwt.json;
    built.jwt.template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: ISSUER, Audience: ['web-shop', 'mobile-app'] },
    });
    const jwtId = authorizerIdOf(t, 'JWT');
    const clientRoutes = [
      ...routes.filter((x) => !x.internal).map((r) => routeByKey(t, `${r.method} ${fullPath(r)}`)),
      ...catchAll(t),
    ];
    for (const route of clientRoutes) {
      expect(route.AuthorizationType, route.RouteKey).toBe('JWT');
      expect(route.AuthorizerId, route.RouteKey).toEqual({ Ref: jwtId });
    }
  });

  it('clientAuth=none: client routes and the catch-all are open, nothing else', () => {
    const t = built.none.json;
    const open = routeResources(t)
      .filter((p) => p.AuthorizationType === 'NONE')
      .map((p) => p.RouteKey)
      .sort();
    const expected = [
      ...routes.filter((x) => !x.internal).map((r) => `${r.method} ${fullPath(r)}`),
      'ANY /{proxy+}',
    ].sort();
    expect(open).toEqual(expected);
  });

  it.each(['iam', 'jwt'] as Mode[])('clientAuth=%s: no route at all is reachable without authentication', (mode) => {
    const routesOfApi = routeResources(built[mode].json);
    expect(routesOfApi.length).toBeGreaterThanOrEqual(routes.length + 1);
    for (const p of routesOfApi) expect(['AWS_IAM', 'JWT'], p.RouteKey).toContain(p.AuthorizationType);
    // No $default route either: it would catch everything the route table does not name.
    expect(routesOfApi.map((p) => p.RouteKey)).not.toContain('$default');
  });

  it('the API is reachable only through its one $default stage', () => {
    for (const mode of ['iam', 'jwt', 'none'] as Mode[]) {
      const stages = resourcesOf(built[mode].json, 'AWS::ApiGatewayV2::Stage');
      expect(stages.map(([, s]) => s.Properties.StageName)).toEqual(['$default']);
    }
  });
});

describe('CORS', () => {
  it('is off by default: no CORS configuration at all', () => {
    const [, api] = onlyResource(built.iam.json, 'AWS::ApiGatewayV2::Api');
    expect(api.Properties.CorsConfiguration).toBeUndefined();
  });

  it('allows exactly the configured origins, never a wildcard', () => {
    built.jwt.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: {
        AllowOrigins: ['https://shop.example.com', 'http://localhost:3000'],
        AllowMethods: ['GET', 'POST'],
        AllowHeaders: Match.arrayWith(['content-type', 'authorization']),
        ExposeHeaders: ['retry-after'],
      },
    });
    const [, api] = onlyResource(built.jwt.json, 'AWS::ApiGatewayV2::Api');
    expect(JSON.stringify(api.Properties.CorsConfiguration)).not.toContain('*');
    expect(api.Properties.CorsConfiguration.AllowCredentials).toBeUndefined();
  });

  it('with CORS, no authorized route catches preflights: API Gateway answers OPTIONS itself', () => {
    const keys = routeResources(built.jwt.json).map((p) => String(p.RouteKey));
    expect(keys.filter((k) => k.startsWith('OPTIONS ') || k.startsWith('ANY '))).toEqual([]);
    expect(
      catchAll(built.jwt.json)
        .map((p) => p.RouteKey.split(' ')[0])
        .sort(),
    ).toEqual(['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT']);
  });
});

describe('throttling', () => {
  it('the stage has the default rate and burst limits', () => {
    built.iam.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
    });
  });

  it('the limits are settings', () => {
    built.none.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
  });
});

describe('least privilege', () => {
  const statementsOf = (t: CfnTemplate) => {
    const docs = [
      ...resourcesOf(t, 'AWS::IAM::Policy').map(([id, r]) => ({ id, doc: r.Properties.PolicyDocument })),
      ...resourcesOf(t, 'AWS::IAM::Role').flatMap(([id, r]) =>
        (r.Properties.Policies ?? []).map((p: { PolicyDocument: unknown }) => ({ id, doc: p.PolicyDocument })),
      ),
    ];
    return docs.flatMap(({ id, doc }) =>
      (doc as { Statement: any[] }).Statement.map((s) => ({
        id,
        effect: s.Effect as string,
        actions: ([] as string[]).concat(s.Action),
        resources: ([] as unknown[]).concat(s.Resource),
      })),
    );
  };

  it.each(['iam', 'jwt', 'none'] as Mode[])(
    "no wildcard DynamoDB action, no Scan but the erasure worker's, only the table ARN (clientAuth=%s)",
    (mode) => {
      const statements = statementsOf(built[mode].json);
      // The export starter's stream grants are checked below (STREAM_READ); every other DynamoDB grant is on the table.
      const dynamo = statements.filter(
        (s) => s.actions.some((a) => a.toLowerCase().startsWith('dynamodb:')) && !isStreamRead(s),
      );
      // One statement per function that uses the table, and one more for writes confined to export records.
      expect(dynamo.length).toBe(
        [...routes, ...TASKS].filter((r) => r.actions.length > 0).length +
          [...routes, ...TASKS].filter((r) => r.writePartitions).length,
      );
      for (const s of dynamo) {
        expect(s.effect).toBe('Allow');
        for (const a of s.actions) {
          expect(a, s.id).not.toContain('*');
          // The erasure worker's periodic Scan finds a user's sessions (README "Erasing a user"); no one else scans.
          if (!s.id.includes(erasureWorker.logicalId.replace(/Function$/, '')))
            expect(a.toLowerCase(), s.id).not.toBe('dynamodb:scan');
          expect(a, s.id).toMatch(
            /^dynamodb:(GetItem|BatchGetItem|Query|PutItem|UpdateItem|ConditionCheckItem|DeleteItem|Scan)$/,
          );
        }
        // The table itself: no index ARN (the table has none), no other table, no "*".
        expect(s.resources, s.id).toEqual([{ 'Fn::GetAtt': ['ClickstreamTable', 'Arn'] }]);
      }
    },
  );

  it('the only statements on "*" are X-Ray\'s and the export starter\'s ListStreams, which have no resource-level permissions', () => {
    const star = statementsOf(built.iam.json)
      .filter((s) => s.resources.includes('*'))
      .filter(ofFunctions)
      .filter((s) => !isStreamRead(s));
    expect(star.length).toBe(routes.length + 1 + TASKS.length); // every function, the catch-all's and the export tasks' included
    for (const s of star) expect(s.actions.sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
  });

  it('only the export starter reads the table stream: ListStreams, and the rest on the stream ARN only', () => {
    const streamReads = statementsOf(built.iam.json).filter(isStreamRead);
    const starterPolicy = /^ExportStarter/;
    expect(streamReads.map((s) => [s.id.replace(/[0-9A-F]{8}$/, ''), s.actions.sort(), s.resources])).toEqual([
      [expect.stringMatching(starterPolicy), ['dynamodb:ListStreams'], ['*']],
      [
        expect.stringMatching(starterPolicy),
        ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        [{ 'Fn::GetAtt': ['ClickstreamTable', 'StreamArn'] }],
      ],
    ]);
  });

  it('roles carry no managed policy; each function may write logs to its own log group only', () => {
    const t = built.iam.json;
    const roles = resourcesOf(t, 'AWS::IAM::Role');
    for (const [, r] of roles) expect(r.Properties.ManagedPolicyArns).toBeUndefined();
    const functions = resourcesOf(t, 'AWS::Lambda::Function');
    expect(functions.length).toBe(routes.length + 1 + TASKS.length);
    const roleIds = new Set<string>();
    for (const [id, fn] of functions) {
      const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
      roleIds.add(roleId);
      const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref as string;
      const logs = statementsOf(t)
        .filter((s) =>
          resourcesOf(t, 'AWS::IAM::Policy').some(
            ([pid, p]) => pid === s.id && p.Properties.Roles.some((x: { Ref: string }) => x.Ref === roleId),
          ),
        )
        .filter((s) => s.actions.some((a) => a.startsWith('logs:')));
      expect(logs, id).toHaveLength(1);
      expect(logs[0]!.actions.sort(), id).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
      expect(logs[0]!.resources, id).toEqual([{ 'Fn::GetAtt': [logGroupId, 'Arn'] }]);
    }
    expect(roleIds.size, 'a role per function').toBe(functions.length);
    // Nobody else gets logs permissions.
    const allLogs = statementsOf(t)
      .filter(ofFunctions)
      .filter((s) => s.actions.some((a) => a.startsWith('logs:')));
    expect(allLogs).toHaveLength(functions.length);
  });

  it('the table has no secondary index that a policy would have to name', () => {
    const [, table] = onlyResource(built.iam.json, 'AWS::DynamoDB::Table');
    expect(table.Properties.GlobalSecondaryIndexes).toBeUndefined();
    expect(table.Properties.LocalSecondaryIndexes).toBeUndefined();
  });
});

describe('cdk-nag (AwsSolutions)', () => {
  it.each(['iam', 'jwt', 'none'] as Mode[])(
    'reports nothing unacknowledged, errors or warnings (clientAuth=%s)',
    (mode) => {
      // synthApp already synthesized under the plugin (it throws on an error); ask the pack directly
      // for anything left, warnings included.
      const report = built[mode].nag.validateScope(built[mode].app);
      expect(
        report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(',')}`),
      ).toEqual([]);
      expect(report.success).toBe(true);
    },
  );

  it('every acknowledgement is narrow and names its reason', () => {
    for (const mode of ['iam', 'jwt', 'none'] as Mode[]) {
      const acks = acknowledgements(built[mode].app);
      const stackPath = built[mode].stack.node.path;
      for (const a of acks) {
        expect(a.reason.length, `${a.id} at ${a.path}`).toBeGreaterThan(60);
        expect(a.path, `${a.id} must not be acknowledged for the whole stack`).not.toBe(stackPath);
        expect(a.path).not.toBe('');
      }
      const ids = [...new Set(acks.map((a) => a.id))].sort();
      const expected = [
        'AwsSolutions-IAM5[Resource::*]',
        ...(mode === 'none' ? ['AwsSolutions-APIG4'] : []),
        // The exports' (test/cdk/exports.test.ts): bucket access logs, the export prefix, the task functions' qualifiers.
        'AwsSolutions-S1',
        'AwsSolutions-IAM5[Resource::<ExportBucket.Arn>/exports/*]',
        'AwsSolutions-IAM5[Resource::<ExportRangeFunction.Arn>:*]',
        'AwsSolutions-IAM5[Resource::<FinishExportFunction.Arn>:*]',
        // The erasure key is never rotated (README "Erasing a user").
        'AwsSolutions-SMG4',
        // The export starter's dead-letter queue has no dead-letter queue of its own.
        'AwsSolutions-SQS3',
      ].sort();
      expect(ids, mode).toEqual(expected);
      // Each function role's default policy (X-Ray on "*", and the export starter's ListStreams), and nothing else.
      const iamAcks = acks.filter(
        (a) => a.id === 'AwsSolutions-IAM5[Resource::*]' && !a.path.includes('/ExportMachine/'),
      );
      expect(iamAcks).toHaveLength(routes.length + 1 + TASKS.length);
      for (const a of iamAcks) expect(a.path).toMatch(/\/ServiceRole\/DefaultPolicy$/);
    }
  });

  it('with clientAuth=none, APIG4 is acknowledged on the open routes only', () => {
    const acks = acknowledgements(built.none.app).filter((a) => a.id === 'AwsSolutions-APIG4');
    expect(acks).toHaveLength(routes.filter((r) => !r.internal).length + 1);
    for (const a of acks) expect(a.path).not.toMatch(/internal/);
  });

  it('acknowledged findings are written to the template for auditors', () => {
    const withMetadata = Object.values(built.iam.json.Resources).filter((r) => r.Metadata?.cdk_nag);
    expect(withMetadata.length).toBeGreaterThan(0);
    for (const r of withMetadata) {
      for (const rule of r.Metadata.cdk_nag.rules_to_suppress) expect(rule.reason.length).toBeGreaterThan(60);
    }
  });

  it('is wired into synthesis: a finding that is not acknowledged fails it', () => {
    // Acknowledgements are not stack-wide: a new role with the same managed policy is reported.
    expect(() =>
      synthApp({}, (stack: Stack) => {
        new Topic(stack, 'TopicWithoutTls');
        new Role(stack, 'ExtraRole', {
          assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
          managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole')],
        });
      }),
    ).toThrow(/AwsSolutions-SNS3[\s\S]*AwsSolutions-IAM4|AwsSolutions-IAM4[\s\S]*AwsSolutions-SNS3/);
  });
});
