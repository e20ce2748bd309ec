/**
 * The clickstream stack: one DynamoDB table (single-table design), one Lambda function per
 * operation of the route table, an HTTP API routing to them, and the alarms and dashboard that
 * tell an operator when something is wrong. docs/operations.md describes the settings and choices.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  type HttpRoute,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, BillingMode, type CfnTable, Operation, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, type CfnBucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { TABLE_KEYS } from '../functions/storage/keys.js';
import { EXPORTS_PREFIX } from '../functions/storage/export-location.js';
import { ClickstreamFunction } from './clickstream-function.js';
import { EXPORT_FINISH_TIMEOUT_SECONDS, EXPORT_WORKER_TIMEOUT_SECONDS } from './export-policy.js';
import { ExportMachine } from './export-machine.js';
import { BASE_PATH, type DynamoAction, exportTasks, fallbackRoute, fullPath, type Grants, routes } from './routes.js';
import { checkSettings, DEFAULT_SETTINGS, type Settings } from './settings.js';

/** Namespace and the one dimension of the functions' metrics (functions/http/observability.ts). */
export const METRICS_NAMESPACE = 'Clickstream';
export const METRICS_DIMENSIONS = { service: 'clickstream' } as const;
/** Every custom metric the functions emit; the dashboard graphs each of them. */
export const CUSTOM_METRICS = [
  'SessionsCreated',
  'EventsAccepted',
  'EventsDuplicate',
  'EventsConflict',
  'EventsRejected',
  'BatchReleases',
  'ClientErrors',
  'ServerErrors',
] as const;

/** Methods of the catch-all route when CORS is on: all but OPTIONS, which API Gateway answers itself. */
const CATCH_ALL_METHODS_WITH_CORS = [HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE, HttpMethod.HEAD];

export interface ClickstreamStackProps extends StackProps {
  settings?: Partial<Settings>;
}

export class ClickstreamStack extends Stack {
  readonly settings: Settings;
  readonly table: Table;
  readonly api: HttpApi;
  readonly functions: Record<string, ClickstreamFunction> = {};
  readonly alarms: Alarm[] = [];
  alarmTopic?: ITopic;
  readonly exportBucket: Bucket;
  readonly exportMachine: ExportMachine;

  constructor(scope: Construct, id: string, props: ClickstreamStackProps = {}) {
    super(scope, id, props);
    const settings: Settings = { ...DEFAULT_SETTINGS, ...props.settings };
    checkSettings(settings);
    this.settings = settings;
    const removalPolicy = settings.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // TTL is always enabled on `expiresAt`; the functions only write the attribute when
    // retentionDays > 0 (and never on control items), so 0 keeps every item.
    this.table = new Table(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: TABLE_KEYS.ttlAttribute,
      deletionProtection: settings.production,
      removalPolicy,
    });
    (this.table.node.defaultChild as CfnTable).overrideLogicalId('ClickstreamTable');

    const environment = {
      TABLE_NAME: this.table.tableName,
      CLICKSTREAM_TIME_MAX_DELTA_MINUS_SEC: String(settings.timeMaxDeltaMinusSec),
      CLICKSTREAM_TIME_MAX_DELTA_PLUS_SEC: String(settings.timeMaxDeltaPlusSec),
      CLICKSTREAM_BATCH_SHARDS: String(settings.batchShards),
      CLICKSTREAM_RETENTION_DAYS: String(settings.retentionDays),
      POWERTOOLS_LOG_LEVEL: settings.logLevel,
      // Empty: the SDK's regional endpoint. Declared so that `sam local --env-vars` can point it at
      // DynamoDB Local (SAM only overrides variables the template declares).
      DYNAMODB_ENDPOINT: '',
    };
    const logRetention = settings.logRetentionDays as RetentionDays;

    // Exports: the bucket (private, TLS only, encrypted, expiring), the task functions and the state
    // machine that runs them. Built before the routes: start_export needs the state machine.
    this.exportBucket = new Bucket(this, 'ExportBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: false,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        ...(settings.exportRetentionDays > 0
          ? [{ id: 'ExpireExports', prefix: EXPORTS_PREFIX, expiration: Duration.days(settings.exportRetentionDays) }]
          : []),
        // A worker killed during a multipart upload leaves its parts; they go after a day.
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy,
    });
    (this.exportBucket.node.defaultChild as CfnBucket).overrideLogicalId('ExportBucket');
    Validations.of(this.exportBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'No server access logs: only the export functions write to the bucket (their roles are confined to exports/*), ' +
        'and readers are the account\'s own IAM principals; CloudTrail data events can audit object access where required.',
    });
    const exportPrefixArn = this.exportBucket.arnForObjects(`${EXPORTS_PREFIX}*`);
    const grantStatements = (grants: Grants | undefined): PolicyStatement[] =>
      grants?.writesExports
        ? [
            // PutObject covers the multipart upload's create, part and complete calls.
            new PolicyStatement({ effect: Effect.ALLOW, actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: [exportPrefixArn] }),
          ]
        : [];

    const build = (
      id: string,
      r: { logicalId: string; entry: string; operation: string; actions: DynamoAction[]; grants?: Grants },
      extra: { timeout?: Duration; environment?: Record<string, string>; statements?: PolicyStatement[] } = {},
    ) => {
      const f = new ClickstreamFunction(this, id, {
        ...r,
        table: this.table,
        environment: { ...environment, ...(r.grants?.writesExports || r.grants?.startsExports ? { EXPORT_BUCKET: this.exportBucket.bucketName } : {}), ...extra.environment },
        memorySize: settings.memorySize,
        logRetention,
        timeout: extra.timeout,
        writePartitions: r.grants?.writePartitions,
        statements: [...grantStatements(r.grants), ...(extra.statements ?? [])],
      });
      f.logGroup.applyRemovalPolicy(removalPolicy);
      this.acknowledgeFunctionFindings(f);
      if (r.grants?.writesExports) {
        Validations.of(f.role.node.tryFindChild('DefaultPolicy') ?? f.role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<ExportBucket.Arn>/${EXPORTS_PREFIX}*]`,
          reason: `Writes the files of any export (keys ${EXPORTS_PREFIX}<batch_id>/<export_id>/...): the export folder prefix, nothing else in the bucket.`,
        });
      }
      this.functions[r.operation] = f;
      return f;
    };

    const rangeFunction = build('ExportRange', exportTasks.range, { timeout: Duration.seconds(EXPORT_WORKER_TIMEOUT_SECONDS) });
    const finishFunction = build('FinishExport', exportTasks.finish, { timeout: Duration.seconds(EXPORT_FINISH_TIMEOUT_SECONDS) });
    this.exportMachine = new ExportMachine(this, 'ExportMachine', {
      rangeFunction: rangeFunction.fn,
      finishFunction: finishFunction.fn,
      concurrency: settings.exportConcurrency,
      logRetention,
    });
    this.exportMachine.logGroup.applyRemovalPolicy(removalPolicy);
    this.acknowledgeStateMachineFindings(this.exportMachine);
    const startsExports = {
      environment: { EXPORT_STATE_MACHINE_ARN: this.exportMachine.stateMachine.stateMachineArn },
      statements: [
        new PolicyStatement({ effect: Effect.ALLOW, actions: ['states:StartExecution'], resources: [this.exportMachine.stateMachine.stateMachineArn] }),
      ],
    };

    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: logRetention, removalPolicy });
    this.api = new HttpApi(this, 'Api', {
      apiName: 'clickstream',
      description: `Clickstream collector (${BASE_PATH})`,
      createDefaultStage: false,
      ...(settings.corsOrigins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: settings.corsOrigins,
              allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST],
              allowHeaders: ['content-type', 'authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'],
              exposeHeaders: ['retry-after'],
              maxAge: Duration.hours(1),
            },
          }
        : {}),
    });
    (this.api.node.defaultChild as unknown as { overrideLogicalId(id: string): void }).overrideLogicalId('ClickstreamApi');
    new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      // A caller over these limits gets 429 from API Gateway before any function runs.
      throttle: { rateLimit: settings.throttleRateLimit, burstLimit: settings.throttleBurstLimit },
      // One JSON line per request. No query string, path parameters or bodies: those carry ids and
      // search queries. The caller is the IAM principal (for SigV4 callers), useful for audits.
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            caller: '$context.identity.caller',
            user: '$context.identity.user',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            responseLatency: '$context.responseLatency',
            integrationStatus: '$context.integrationStatus',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            authorizerError: '$context.authorizer.error',
            error: '$context.error.message',
          }),
        ),
      },
    });

    // Internal routes: always IAM (SigV4). Client routes: per clientAuth.
    const iam = new HttpIamAuthorizer();
    const clientAuthorizer: IHttpRouteAuthorizer =
      settings.clientAuth === 'iam'
        ? iam
        : settings.clientAuth === 'jwt'
          ? new HttpJwtAuthorizer('ClientJwt', settings.jwtIssuer!, { jwtAudience: settings.jwtAudience })
          : new HttpNoneAuthorizer();
    const publicRoutes: HttpRoute[] = [];

    routes.forEach((route) => {
      const f = build(route.logicalId.replace(/Function$/, ''), route, route.grants?.startsExports ? startsExports : {});
      const added = this.api.addRoutes({
        path: fullPath(route),
        methods: [route.method === 'GET' ? HttpMethod.GET : HttpMethod.POST],
        integration: new HttpLambdaIntegration(`${route.logicalId}Integration`, f.fn),
        authorizer: route.internal ? iam : clientAuthorizer,
      });
      if (!route.internal) publicRoutes.push(...added);
    });
    // The catch-all answers unknown paths and methods with the contract's 404/405 body. It takes the
    // client routes' authorizer, so with iam/jwt an unauthenticated caller never reaches a function.
    // With CORS it leaves OPTIONS out: API Gateway answers preflights itself, which it cannot do
    // when an authorized ANY route catches them (browsers send preflights without credentials).
    const fallback = build('NotFound', { ...fallbackRoute, actions: [...fallbackRoute.actions] });
    publicRoutes.push(
      ...this.api.addRoutes({
        path: '/{proxy+}',
        methods: settings.corsOrigins.length > 0 ? CATCH_ALL_METHODS_WITH_CORS : [HttpMethod.ANY],
        integration: new HttpLambdaIntegration('NotFoundIntegration', fallback.fn),
        authorizer: clientAuthorizer,
      }),
    );
    if (settings.clientAuth === 'none') {
      for (const route of publicRoutes) {
        Validations.of(route).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            'clientAuth=none was chosen at deploy time for public ingestion (docs/operations.md lists the risks); ' +
            'only client routes and the catch-all are open, internal routes still require IAM.',
        });
      }
    }

    this.addAlarmsAndDashboard(settings);

    new CfnOutput(this, 'ApiUrl', { value: `${this.api.apiEndpoint}${BASE_PATH}`, description: 'Base URL of the clickstream API' });
    new CfnOutput(this, 'ApiId', { value: this.api.apiId });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'ExportBucketName', { value: this.exportBucket.bucketName, description: 'Exports: s3://<bucket>/exports/<batch_id>/<export_id>/' });
    new CfnOutput(this, 'ExportStateMachineArn', { value: this.exportMachine.stateMachine.stateMachineArn });
    new CfnOutput(this, 'InternalInvokeArn', {
      value: this.api.arnForExecuteApi('*', `${BASE_PATH}/internal/*`, '$default'),
      description: 'Resource for execute-api:Invoke in the IAM policies of internal callers',
    });
    if (settings.clientAuth === 'iam') {
      new CfnOutput(this, 'ClientInvokeArn', {
        value: this.api.arnForExecuteApi('*', `${BASE_PATH}/session*`, '$default'),
        description: 'Resource for execute-api:Invoke in the IAM policies of clients',
      });
    }
  }

  /**
   * cdk-nag findings of every function that are acknowledged, each on the one construct that has it
   * (the function role's default policy), never stack-wide: a new resource elsewhere is still
   * checked. test/cdk/security.test.ts checks that each reason holds on the template.
   */
  private acknowledgeFunctionFindings(f: ClickstreamFunction): void {
    Validations.of(f.role.node.tryFindChild('DefaultPolicy') ?? f.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) are granted on "*": X-Ray supports no resource-level permissions for them.',
    });
  }

  /**
   * cdk-nag findings of the export state machine's role (made by CDK from its tasks and logging),
   * acknowledged on its default policy only.
   */
  private acknowledgeStateMachineFindings(machine: ExportMachine): void {
    const role = machine.stateMachine.role;
    Validations.of(role.node.tryFindChild('DefaultPolicy') ?? role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::<ExportRangeFunction.Arn>:*]',
        reason: 'lambda:InvokeFunction on the versions and aliases of the export worker (CDK grants the function ARN and its qualifiers); no other function.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::<FinishExportFunction.Arn>:*]',
        reason: 'lambda:InvokeFunction on the versions and aliases of the finishing function (CDK grants the function ARN and its qualifiers); no other function.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Log delivery (logs:CreateLogDelivery, ...) and X-Ray (xray:PutTraceSegments, ...) for Step Functions support no resource-level permissions.',
      },
    );
  }

  private addAlarmsAndDashboard(settings: Settings): void {
    if (settings.alarmTopicArn) this.alarmTopic = Topic.fromTopicArn(this, 'AlarmTopic', settings.alarmTopicArn);
    else if (settings.alarmEmail) {
      // No KMS key: CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS
      // key, and alarm notifications carry no customer data. Publishing requires TLS.
      const created = new Topic(this, 'AlarmTopic', { enforceSSL: true, displayName: 'Clickstream alarms' });
      created.addSubscription(new EmailSubscription(settings.alarmEmail));
      this.alarmTopic = created;
      new CfnOutput(this, 'AlarmTopicArn', { value: created.topicArn });
    }
    const alarms = this.alarms;
    const period = Duration.minutes(1);
    const apiMetric = (metricName: string, statistic = 'Sum') =>
      new Metric({ namespace: 'AWS/ApiGateway', metricName, dimensionsMap: { ApiId: this.api.apiId }, statistic, period });
    const anyOver = (id: string, description: string, metric: IMetric) =>
      new Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold: 0,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });

    const serverErrorRate = new MathExpression({
      expression: 'IF(requests > 0, 100 * errors / requests, 0)',
      usingMetrics: { errors: apiMetric('5xx'), requests: apiMetric('Count') },
      period,
      label: 'API 5xx rate (%)',
    });
    alarms.push(
      new Alarm(this, 'Api5xxRateAlarm', {
        alarmDescription: 'More than 1% of API requests answered 5xx in 3 of the last 5 minutes',
        metric: serverErrorRate,
        threshold: 1,
        evaluationPeriods: 5,
        datapointsToAlarm: 3,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    for (const [operation, f] of Object.entries(this.functions)) {
      const name = f.node.id;
      alarms.push(
        anyOver(`${name}ErrorsAlarm`, `Lambda errors (crashes, timeouts) in ${operation}`, f.fn.metricErrors({ period })),
        anyOver(`${name}ThrottlesAlarm`, `Lambda throttles in ${operation}`, f.fn.metricThrottles({ period })),
      );
    }
    // Every operation the functions send (TransactWriteItems carries the conditional puts/updates).
    const operations = [Operation.GET_ITEM, Operation.BATCH_GET_ITEM, Operation.QUERY, Operation.PUT_ITEM, Operation.UPDATE_ITEM, Operation.TRANSACT_WRITE_ITEMS];
    const ddbThrottles = this.table.metricThrottledRequestsForOperations({ operations, period });
    const ddbSystemErrors = this.table.metricSystemErrorsForOperations({ operations, period });
    alarms.push(
      anyOver('TableThrottlesAlarm', 'DynamoDB throttled requests on the clickstream table', ddbThrottles),
      anyOver('TableSystemErrorsAlarm', 'DynamoDB system errors on the clickstream table', ddbSystemErrors),
    );
    // One failed export is worth a look: it outlasted every retry of its tasks.
    const machine = this.exportMachine.stateMachine;
    const exportsFailed = machine.metricFailed({ period, statistic: 'Sum' });
    const exportsTimedOut = machine.metricTimedOut({ period, statistic: 'Sum' });
    alarms.push(
      new Alarm(this, 'ExportFailedAlarm', {
        alarmDescription: 'An export execution failed (its tasks outlasted their retries; the export is marked failed)',
        metric: exportsFailed,
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    if (this.alarmTopic) {
      const action = new SnsAction(this.alarmTopic);
      for (const alarm of alarms) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }

    const custom = (metricName: string) =>
      new Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { ...METRICS_DIMENSIONS }, statistic: 'Sum', period });
    const fns = Object.values(this.functions);
    new Dashboard(this, 'Dashboard', {
      dashboardName: `clickstream-${this.stackName}`,
      widgets: [
        [
          new GraphWidget({ title: 'API requests and errors', left: [apiMetric('Count'), apiMetric('4xx'), apiMetric('5xx')], width: 8 }),
          new GraphWidget({ title: 'API 5xx rate (%)', left: [serverErrorRate], width: 8 }),
          new GraphWidget({ title: 'API latency p99 (ms)', left: [apiMetric('Latency', 'p99'), apiMetric('IntegrationLatency', 'p99')], width: 8 }),
        ],
        [
          new GraphWidget({
            title: 'Events',
            left: ['EventsAccepted', 'EventsDuplicate', 'EventsConflict', 'EventsRejected'].map(custom),
            width: 8,
          }),
          new GraphWidget({ title: 'Sessions and releases', left: ['SessionsCreated', 'BatchReleases'].map(custom), width: 8 }),
          new GraphWidget({ title: 'Answers 4xx / 5xx (functions)', left: ['ClientErrors', 'ServerErrors'].map(custom), width: 8 }),
        ],
        [
          new GraphWidget({ title: 'Lambda errors', left: fns.map((f) => f.fn.metricErrors({ period })), width: 8 }),
          new GraphWidget({ title: 'Lambda throttles', left: fns.map((f) => f.fn.metricThrottles({ period })), width: 8 }),
          new GraphWidget({ title: 'Lambda duration p99', left: fns.map((f) => f.fn.metricDuration({ period, statistic: 'p99' })), width: 8 }),
        ],
        [
          new GraphWidget({
            title: 'Exports (executions)',
            left: [machine.metricStarted({ period, statistic: 'Sum' }), machine.metricSucceeded({ period, statistic: 'Sum' }), exportsFailed, exportsTimedOut],
            width: 24,
          }),
        ],
        [
          // Two widgets: both expressions name their per-operation metrics alike.
          new GraphWidget({ title: 'DynamoDB throttled requests', left: [ddbThrottles], width: 12 }),
          new GraphWidget({ title: 'DynamoDB system errors', left: [ddbSystemErrors], width: 12 }),
        ],
      ],
    });
  }
}
