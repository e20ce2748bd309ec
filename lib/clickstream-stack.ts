/**
 * The clickstream stack: one DynamoDB table (single-table design), one Lambda function per
 * operation of the route table, an HTTP API routing to them, and the alarms and dashboard that
 * tell an operator when something is wrong. docs/operations.md describes the settings and choices.
 */
import { Annotations, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  type HttpRoute,
  type CfnStage,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { CfnBudget } from 'aws-cdk-lib/aws-budgets';
import {
  AttributeType,
  BillingMode,
  type CfnTable,
  StreamViewType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, type CfnBucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { EXPORT_SORT_KEY, TABLE_KEYS } from '../functions/storage/keys.js';
import { EXPORTS_PREFIX } from '../functions/storage/export-location.js';
import { ClickstreamFunction } from './clickstream-function.js';
import { CORS_POLICY } from './cors.js';
import { EXPORT_FINISH_TIMEOUT_SECONDS, EXPORT_START_RETRIES, EXPORT_WORKER_TIMEOUT_SECONDS } from './export-policy.js';
import { ExportMachine } from './export-machine.js';
import {
  BASE_PATH,
  erasureWorker,
  exportTasks,
  fallbackRoute,
  fullPath,
  type Grants,
  routes,
  type TaskFunction,
} from './routes.js';
import { ERASURE_SCHEDULE_MINUTES, ERASURE_WORKER_TIMEOUT_SECONDS } from '../functions/domain/erasure.js';
import { addMonitoring } from './monitoring.js';
import { checkSettings, DEFAULT_SETTINGS, functionSettingsOf, type Settings } from './settings.js';
import { functionEnvironment } from '../functions/shared/config.js';

export { CUSTOM_METRICS, METRICS_DIMENSIONS, METRICS_NAMESPACE } from './monitoring.js';

/** Methods of the catch-all route when CORS is on: all but OPTIONS, which API Gateway answers itself. */
const CATCH_ALL_METHODS_WITH_CORS = [
  HttpMethod.GET,
  HttpMethod.POST,
  HttpMethod.PUT,
  HttpMethod.PATCH,
  HttpMethod.DELETE,
  HttpMethod.HEAD,
];

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
  readonly tableKey?: IKey;
  readonly exportBucket: Bucket;
  readonly exportMachine: ExportMachine;
  /** The export starter's dead-letter queue: stream records whose start outlasted the retries. */
  readonly exportStartFailures: Queue;
  readonly erasureKey: Secret;

  constructor(scope: Construct, id: string, props: ClickstreamStackProps = {}) {
    super(scope, id, props);
    const settings: Settings = { ...DEFAULT_SETTINGS, ...props.settings };
    checkSettings(settings);
    this.settings = settings;
    const removalPolicy = settings.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // Encryption at rest: the AWS-managed key, or a customer-managed one (given, or made here and
    // rotated every year; retained like the table, since the data cannot be read without it).
    if (settings.tableKmsKey === 'create') {
      this.tableKey = new Key(this, 'TableKey', {
        description: 'Clickstream table encryption',
        enableKeyRotation: true,
        removalPolicy,
      });
    } else if (settings.tableKmsKey) {
      this.tableKey = Key.fromKeyArn(this, 'TableKey', settings.tableKmsKey);
    }
    // TTL is always enabled on `expiresAt`; the functions only write the attribute when
    // retentionDays > 0 (and never on control items), so 0 keeps every item.
    this.table = new Table(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      // Guardrail: DynamoDB throttles the table above these (the functions answer 503 with Retry-After).
      maxReadRequestUnits: settings.tableMaxReadUnits,
      maxWriteRequestUnits: settings.tableMaxWriteUnits,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(this.tableKey
        ? { encryption: TableEncryption.CUSTOMER_MANAGED, encryptionKey: this.tableKey }
        : { encryption: TableEncryption.AWS_MANAGED }),
      timeToLiveAttribute: TABLE_KEYS.ttlAttribute,
      // The export starter reads the inserted export records from it (a filter drops every other item).
      stream: StreamViewType.NEW_IMAGE,
      deletionProtection: settings.production,
      removalPolicy,
    });
    (this.table.node.defaultChild as CfnTable).overrideLogicalId('ClickstreamTable');

    const environment = {
      ...functionEnvironment(this.table.tableName, functionSettingsOf(settings)),
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
        "and readers are the account's own IAM principals; CloudTrail data events can audit object access where required.",
    });
    const exportPrefixArn = this.exportBucket.arnForObjects(`${EXPORTS_PREFIX}*`);

    // Erasure receipts name the user only as HMAC-SHA256(key, user_id): the key is this secret's
    // string, generated by Secrets Manager and never rotated (a receipt stays checkable only with the
    // key it was made with). Retained like the table: without it no receipt can be verified.
    this.erasureKey = new Secret(this, 'ErasureKey', {
      description: 'Clickstream: the HMAC key of erasure receipts (README "Erasing a user")',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy,
    });
    (this.erasureKey.node.defaultChild as unknown as { overrideLogicalId(id: string): void }).overrideLogicalId(
      'ErasureKey',
    );
    Validations.of(this.erasureKey).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Not rotated on purpose: erasure receipts hold HMAC-SHA256(key, user_id), and a privacy officer proves an erasure by recomputing it with the same key; a rotated key could no longer verify older receipts.',
    });

    const grantStatements = (grants: Grants): PolicyStatement[] => [
      ...(grants.writesExports
        ? [
            // PutObject covers the multipart upload's create, part and complete calls.
            new PolicyStatement({
              effect: Effect.ALLOW,
              actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
              resources: [exportPrefixArn],
            }),
          ]
        : []),
      ...(grants.readsErasureKey
        ? [
            new PolicyStatement({
              effect: Effect.ALLOW,
              actions: ['secretsmanager:GetSecretValue'],
              resources: [this.erasureKey.secretArn],
            }),
          ]
        : []),
    ];

    const build = (
      id: string,
      r: TaskFunction,
      pool: 'client' | 'internal' | 'export',
      extra: {
        timeout?: Duration;
        environment?: Record<string, string>;
        statements?: PolicyStatement[];
        reservedConcurrency?: number;
      } = {},
    ) => {
      const f = new ClickstreamFunction(this, id, {
        ...r,
        table: this.table,
        environment: {
          ...environment,
          ...(r.writesExports || r.recordsExports ? { EXPORT_BUCKET: this.exportBucket.bucketName } : {}),
          // CLICKSTREAM_ERASURE_KEY is empty in AWS (the secret is used); declared so that SAM's --env-vars can set a local key.
          ...(r.readsErasureKey
            ? { ERASURE_KEY_SECRET_ARN: this.erasureKey.secretArn, CLICKSTREAM_ERASURE_KEY: '' }
            : {}),
          ...extra.environment,
        },
        memorySize: settings.memorySize,
        logRetention,
        logLevel: settings.logLevel,
        timeout: extra.timeout,
        statements: [...grantStatements(r), ...(extra.statements ?? [])],
        // Guardrail: each function has its own pool, so a flood of one kind of request cannot take
        // the account's concurrency from the others (nor from other workloads of the account).
        reservedConcurrency:
          extra.reservedConcurrency ??
          (pool === 'client'
            ? settings.clientReservedConcurrency
            : pool === 'export'
              ? settings.exportConcurrency
              : settings.internalReservedConcurrency),
        tableKey: this.tableKey,
      });
      f.logGroup.applyRemovalPolicy(removalPolicy);
      this.acknowledgeFunctionFindings(f, r.startsExports);
      if (r.writesExports) {
        Validations.of(f.role.node.tryFindChild('DefaultPolicy') ?? f.role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<ExportBucket.Arn>/${EXPORTS_PREFIX}*]`,
          reason: `Writes the files of any export (keys ${EXPORTS_PREFIX}<batch_id>/<export_id>/...): the export folder prefix, nothing else in the bucket.`,
        });
      }
      this.functions[r.operation] = f;
      return f;
    };

    const rangeFunction = build('ExportRange', exportTasks.range, 'export', {
      timeout: Duration.seconds(EXPORT_WORKER_TIMEOUT_SECONDS),
    });
    const finishFunction = build('FinishExport', exportTasks.finish, 'internal', {
      timeout: Duration.seconds(EXPORT_FINISH_TIMEOUT_SECONDS),
    });
    this.exportMachine = new ExportMachine(this, 'ExportMachine', {
      rangeFunction: rangeFunction.fn,
      finishFunction: finishFunction.fn,
      concurrency: settings.exportConcurrency,
      logRetention,
    });
    this.exportMachine.logGroup.applyRemovalPolicy(removalPolicy);
    this.acknowledgeStateMachineFindings(this.exportMachine);
    // The export starter: the table's stream delivers each inserted export record (start_export only
    // records it) and the starter starts its execution, named after the export (README "Exports").
    const starter = build('ExportStarter', exportTasks.start, 'internal', {
      environment: { EXPORT_STATE_MACHINE_ARN: this.exportMachine.stateMachine.stateMachineArn },
      statements: [
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: ['states:StartExecution'],
          resources: [this.exportMachine.stateMachine.stateMachineArn],
        }),
      ],
    });
    this.exportStartFailures = new Queue(this, 'ExportStartFailures', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.exportStartFailures.applyRemovalPolicy(removalPolicy);
    Validations.of(this.exportStartFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'It is the dead-letter destination of the export starter: it holds the descriptions of stream records whose start outlasted its retries; an alarm watches it.',
    });
    starter.fn.addEventSource(
      new DynamoEventSource(this.table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.isEqual('INSERT'),
            dynamodb: { Keys: { [TABLE_KEYS.sortKey]: { S: FilterRule.isEqual(EXPORT_SORT_KEY) } } },
          }),
        ],
        batchSize: 10,
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        retryAttempts: EXPORT_START_RETRIES,
        onFailure: new SqsDlq(this.exportStartFailures),
      }),
    );

    // Erasure: the worker runs on a schedule, one at a time (reserved concurrency 1); each run goes on
    // with the pass stored in the table. README "Erasing a user" explains why a schedule meets 48 h.
    const eraser = build('ErasureWorker', erasureWorker, 'internal', {
      timeout: Duration.seconds(ERASURE_WORKER_TIMEOUT_SECONDS),
      reservedConcurrency: 1,
    });
    new Rule(this, 'ErasureSchedule', {
      description: 'Clickstream: runs the erasure worker (queued erasure requests, a pass in progress)',
      schedule: Schedule.rate(Duration.minutes(ERASURE_SCHEDULE_MINUTES)),
      targets: [new LambdaFunction(eraser.fn, { retryAttempts: 2 })],
    });

    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: logRetention, removalPolicy });
    this.api = new HttpApi(this, 'Api', {
      apiName: 'clickstream',
      description: `Clickstream collector (${BASE_PATH})`,
      createDefaultStage: false,
      ...(settings.corsOrigins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: settings.corsOrigins,
              allowMethods: CORS_POLICY.allowMethods.map((m) => CorsHttpMethod[m]),
              allowHeaders: [...CORS_POLICY.allowHeaders],
              exposeHeaders: [...CORS_POLICY.exposeHeaders],
              maxAge: Duration.seconds(CORS_POLICY.maxAgeSeconds),
            },
          }
        : {}),
    });
    (this.api.node.defaultChild as unknown as { overrideLogicalId(id: string): void }).overrideLogicalId(
      'ClickstreamApi',
    );
    const stage = new HttpStage(this, 'DefaultStage', {
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
            // With clientAuth=jwt, the token's subject (the session owner): audits per user.
            sub: '$context.authorizer.claims.sub',
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

    const writeRoutes: HttpRoute[] = [];
    routes.forEach((route) => {
      const f = build(route.logicalId.replace(/Function$/, ''), route, route.internal ? 'internal' : 'client');
      const added = this.api.addRoutes({
        path: fullPath(route),
        methods: [route.method === 'GET' ? HttpMethod.GET : HttpMethod.POST],
        integration: new HttpLambdaIntegration(`${route.logicalId}Integration`, f.fn),
        authorizer: route.internal ? iam : clientAuthorizer,
      });
      if (!route.internal) publicRoutes.push(...added);
      if (route.writeThrottled) writeRoutes.push(...added);
    });
    // Guardrail: the two write routes (create_session, push_events) get their own, lower throttle;
    // reads and the internal routes keep the stage's default route throttle.
    const cfnStage = stage.node.defaultChild as CfnStage;
    cfnStage.routeSettings = Object.fromEntries(
      routes
        .filter((r) => r.writeThrottled)
        .map((r) => [
          `${r.method} ${fullPath(r)}`,
          {
            ThrottlingRateLimit: settings.writeThrottleRateLimit,
            ThrottlingBurstLimit: settings.writeThrottleBurstLimit,
          },
        ]),
    );
    // Route settings name routes by key: the routes must exist before the stage names them.
    for (const r of writeRoutes) stage.node.addDependency(r);
    // The catch-all answers unknown paths and methods with the contract's 404/405 body. It takes the
    // client routes' authorizer, so with iam/jwt an unauthenticated caller never reaches a function.
    // With CORS it leaves OPTIONS out: API Gateway answers preflights itself, which it cannot do
    // when an authorized ANY route catches them (browsers send preflights without credentials).
    // The catch-all answers only 404/405: the small internal pool is plenty.
    const fallback = build(
      'NotFound',
      { ...fallbackRoute, actions: [...fallbackRoute.actions], partitions: [] },
      'internal',
    );
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

    this.addAlarmsAndDashboard(settings, accessLogs);
    this.addBudget(settings);

    new CfnOutput(this, 'ApiUrl', {
      value: `${this.api.apiEndpoint}${BASE_PATH}`,
      description: 'Base URL of the clickstream API',
    });
    new CfnOutput(this, 'ApiId', {
      value: this.api.apiId,
      description: 'Id of the HTTP API (metrics dimension ApiId, execute-api ARNs)',
    });
    new CfnOutput(this, 'TableName', {
      value: this.table.tableName,
      description: 'The DynamoDB table of sessions, events and batches',
    });
    // Resources for execute-api:Invoke in callers' IAM policies; grant the narrowest that fits.
    const invokeArn = (id: string, method: string, path: string, description: string) =>
      new CfnOutput(this, id, {
        value: this.api.arnForExecuteApi(method, `${BASE_PATH}${path}`, '$default'),
        description,
      });
    invokeArn(
      'InternalInvokeArn',
      '*',
      '/internal/*',
      'execute-api:Invoke resource of every internal route (reads and writes)',
    );
    invokeArn(
      'InternalReadInvokeArn',
      'GET',
      '/internal/*',
      'execute-api:Invoke resource of the internal reads (get_batch, get_batch_sessions): batch consumers',
    );
    invokeArn(
      'InternalWriteInvokeArn',
      'POST',
      '/internal/*',
      'execute-api:Invoke resource of the internal writes (release_batch): the release scheduler',
    );
    new CfnOutput(this, 'ExportBucketName', {
      value: this.exportBucket.bucketName,
      description: 'Exports: s3://<bucket>/exports/<batch_id>/<export_id>/',
    });
    new CfnOutput(this, 'ErasureKeySecretArn', {
      value: this.erasureKey.secretArn,
      description: 'The secret whose string is the HMAC key of erasure receipts (README "Erasing a user")',
    });
    new CfnOutput(this, 'ExportStateMachineArn', {
      value: this.exportMachine.stateMachine.stateMachineArn,
      description: 'The state machine that runs exports (one execution per export_id)',
    });
    if (settings.clientAuth === 'iam') {
      invokeArn(
        'ClientInvokeArn',
        '*',
        '/session*',
        'execute-api:Invoke resource of every client route (reads and writes)',
      );
      invokeArn(
        'ClientWriteInvokeArn',
        'POST',
        '/session*',
        'execute-api:Invoke resource of the client writes (create_session, push_events, mark_session_irrelevant): producers',
      );
      invokeArn(
        'ClientReadInvokeArn',
        'GET',
        '/session*',
        'execute-api:Invoke resource of the client read (get_session)',
      );
    }
  }

  /**
   * cdk-nag findings of every function that are acknowledged, each on the one construct that has it
   * (the function role's default policy), never stack-wide: a new resource elsewhere is still
   * checked. test/cdk/security.test.ts checks that each reason holds on the template.
   */
  private acknowledgeFunctionFindings(f: ClickstreamFunction, readsStream = false): void {
    Validations.of(f.role.node.tryFindChild('DefaultPolicy') ?? f.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: readsStream
        ? 'Only xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) and dynamodb:ListStreams (the stream event source) are granted on "*": none of them supports resource-level permissions.'
        : 'Only xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) are granted on "*": X-Ray supports no resource-level permissions for them.',
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
        reason:
          'lambda:InvokeFunction on the versions and aliases of the export worker (CDK grants the function ARN and its qualifiers); no other function.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::<FinishExportFunction.Arn>:*]',
        reason:
          'lambda:InvokeFunction on the versions and aliases of the finishing function (CDK grants the function ARN and its qualifiers); no other function.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Log delivery (logs:CreateLogDelivery, ...) and X-Ray (xray:PutTraceSegments, ...) for Step Functions support no resource-level permissions.',
      },
    );
  }

  private addAlarmsAndDashboard(settings: Settings, accessLogs: LogGroup): void {
    const monitoring = addMonitoring(this, {
      settings,
      api: this.api,
      table: this.table,
      functions: this.functions,
      accessLogs,
      exportMachine: this.exportMachine.stateMachine,
      exportStartFailures: this.exportStartFailures,
    });
    this.alarmTopic = monitoring.alarmTopic;
    this.alarms.push(...monitoring.alarms);
  }

  /** Optional AWS Budgets alert on the account's monthly cost (guardrail). */
  private addBudget(settings: Settings): void {
    if (settings.monthlyBudgetUsd === undefined) return;
    const subscribers = [
      ...(settings.alarmEmail ? [{ subscriptionType: 'EMAIL', address: settings.alarmEmail }] : []),
      ...(settings.alarmTopicArn ? [{ subscriptionType: 'SNS', address: settings.alarmTopicArn }] : []),
    ];
    if (subscribers.length === 0) {
      Annotations.of(this).addWarning(
        'monthlyBudgetUsd is set without alarmEmail or alarmTopicArn: the budget is created but notifies nobody (see it in the Billing console).',
      );
    }
    const notify = (notificationType: string, threshold: number) => ({
      notification: { notificationType, comparisonOperator: 'GREATER_THAN', threshold, thresholdType: 'PERCENTAGE' },
      subscribers,
    });
    new CfnBudget(this, 'MonthlyBudget', {
      budget: {
        budgetName: `${this.stackName}-monthly`,
        budgetType: 'COST',
        timeUnit: 'MONTHLY',
        budgetLimit: { amount: settings.monthlyBudgetUsd, unit: 'USD' },
      },
      notificationsWithSubscribers: subscribers.length > 0 ? [notify('ACTUAL', 80), notify('FORECASTED', 100)] : [],
    });
  }
}
