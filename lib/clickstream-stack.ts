/**
 * The clickstream stack: one DynamoDB table (single-table design), one Lambda function per
 * operation of the route table, an HTTP API routing to them, and the alarms and dashboard that
 * tell an operator when something is wrong.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { CorsHttpMethod, HttpApi, HttpMethod, HttpNoneAuthorizer, HttpStage, type IHttpRouteAuthorizer, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, Dashboard, GraphWidget, MathExpression, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, BillingMode, Operation, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { TABLE_KEYS } from '../functions/storage/keys.js';
import { ClickstreamFunction } from './clickstream-function.js';
import { BASE_PATH, fallbackRoute, fullPath, routes } from './routes.js';
import { DEFAULT_SETTINGS, type Settings } from './settings.js';

export interface ClickstreamStackProps extends StackProps {
  settings?: Partial<Settings>;
}

export class ClickstreamStack extends Stack {
  readonly table: Table;
  readonly api: HttpApi;
  readonly functions: Record<string, ClickstreamFunction> = {};

  constructor(scope: Construct, id: string, props: ClickstreamStackProps = {}) {
    super(scope, id, props);
    const settings: Settings = { ...DEFAULT_SETTINGS, ...props.settings };

    this.table = new Table(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: TABLE_KEYS.ttlAttribute,
      deletionProtection: settings.production,
      removalPolicy: settings.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.table.node.defaultChild && (this.table.node.defaultChild as unknown as { overrideLogicalId(id: string): void }).overrideLogicalId('ClickstreamTable');

    const environment = {
      TABLE_NAME: this.table.tableName,
      CLICKSTREAM_TIME_MAX_DELTA_MINUS_SEC: String(settings.timeMaxDeltaMinusSec),
      CLICKSTREAM_TIME_MAX_DELTA_PLUS_SEC: String(settings.timeMaxDeltaPlusSec),
      CLICKSTREAM_BATCH_SHARDS: String(settings.batchShards),
      CLICKSTREAM_RETENTION_DAYS: String(settings.retentionDays),
    };
    const logRetention = settings.logRetentionDays as RetentionDays;
    const build = (id: string, r: { logicalId: string; entry: string; operation: string; actions: typeof routes[number]['actions'] }) =>
      (this.functions[r.operation] = new ClickstreamFunction(this, id, {
        ...r,
        table: this.table,
        environment,
        memorySize: settings.memorySize,
        logRetention,
      }));

    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: logRetention });
    this.api = new HttpApi(this, 'Api', {
      apiName: 'clickstream',
      description: `Clickstream collector (${BASE_PATH})`,
      createDefaultStage: false,
      ...(settings.corsOrigins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: settings.corsOrigins,
              allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST],
              allowHeaders: ['content-type', 'authorization', 'x-amz-date', 'x-amz-security-token'],
              maxAge: Duration.hours(1),
            },
          }
        : {}),
    });
    (this.api.node.defaultChild as unknown as { overrideLogicalId(id: string): void }).overrideLogicalId('ClickstreamApi');
    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: settings.throttleRateLimit, burstLimit: settings.throttleBurstLimit },
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
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    void stage;

    const iam = new HttpIamAuthorizer();
    const clientAuthorizer: IHttpRouteAuthorizer =
      settings.clientAuth === 'iam'
        ? iam
        : settings.clientAuth === 'jwt'
          ? new HttpJwtAuthorizer('ClientJwt', settings.jwtIssuer!, { jwtAudience: settings.jwtAudience })
          : new HttpNoneAuthorizer();

    routes.forEach((route) => {
      const f = build(route.logicalId.replace(/Function$/, ''), route);
      this.api.addRoutes({
        path: fullPath(route),
        methods: [route.method === 'GET' ? HttpMethod.GET : HttpMethod.POST],
        integration: new HttpLambdaIntegration(`${route.logicalId}Integration`, f.fn),
        authorizer: route.internal ? iam : clientAuthorizer,
      });
    });
    const fallback = build('NotFound', fallbackRoute);
    this.api.addRoutes({
      path: '/{proxy+}',
      methods: [HttpMethod.ANY],
      integration: new HttpLambdaIntegration('NotFoundIntegration', fallback.fn),
      authorizer: clientAuthorizer,
    });

    this.addAlarmsAndDashboard(settings);
    this.addNagSuppressions(settings);

    new CfnOutput(this, 'ApiUrl', { value: `${this.api.apiEndpoint}${BASE_PATH}` });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
  }

  private addAlarmsAndDashboard(settings: Settings): void {
    let topic: ITopic | undefined;
    if (settings.alarmTopicArn) topic = Topic.fromTopicArn(this, 'AlarmTopic', settings.alarmTopicArn);
    else if (settings.alarmEmail) {
      const created = new Topic(this, 'AlarmTopic', { enforceSSL: true, displayName: 'Clickstream alarms' });
      created.addSubscription(new EmailSubscription(settings.alarmEmail));
      topic = created;
    }
    const alarms: Alarm[] = [];
    const period = Duration.minutes(1);
    const apiMetric = (metricName: string) =>
      new Metric({ namespace: 'AWS/ApiGateway', metricName, dimensionsMap: { ApiId: this.api.apiId }, statistic: 'Sum', period });

    const serverErrorRate = new MathExpression({
      expression: 'IF(requests > 0, 100 * errors / requests, 0)',
      usingMetrics: { errors: apiMetric('5xx'), requests: apiMetric('Count') },
      period,
      label: 'API 5xx rate (%)',
    });
    alarms.push(
      new Alarm(this, 'Api5xxRateAlarm', {
        alarmDescription: 'More than 1% of API requests answered 5xx for 3 of the last 5 minutes',
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
        new Alarm(this, `${name}ErrorsAlarm`, {
          alarmDescription: `Lambda errors in ${operation}`,
          metric: f.fn.metricErrors({ period }),
          threshold: 0,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
        new Alarm(this, `${name}ThrottlesAlarm`, {
          alarmDescription: `Lambda throttles in ${operation}`,
          metric: f.fn.metricThrottles({ period }),
          threshold: 0,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    const operations = [Operation.GET_ITEM, Operation.BATCH_GET_ITEM, Operation.QUERY, Operation.PUT_ITEM, Operation.UPDATE_ITEM, Operation.TRANSACT_WRITE_ITEMS];
    const ddbThrottles = this.table.metricThrottledRequestsForOperations({ operations, period });
    const ddbSystemErrors = this.table.metricSystemErrorsForOperations({ operations, period });
    alarms.push(
      new Alarm(this, 'TableThrottlesAlarm', {
        alarmDescription: 'DynamoDB throttled requests of the clickstream table',
        metric: ddbThrottles,
        threshold: 0,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'TableSystemErrorsAlarm', {
        alarmDescription: 'DynamoDB system errors on the clickstream table',
        metric: ddbSystemErrors,
        threshold: 0,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    if (topic) for (const alarm of alarms) alarm.addAlarmAction(new SnsAction(topic));

    const custom = (metricName: string) =>
      new Metric({ namespace: 'Clickstream', metricName, dimensionsMap: { service: 'clickstream' }, statistic: 'Sum', period });
    new Dashboard(this, 'Dashboard', {
      dashboardName: `clickstream-${this.stackName}`,
      widgets: [
        [
          new GraphWidget({ title: 'API requests and errors', left: [apiMetric('Count'), apiMetric('4xx'), apiMetric('5xx')], width: 12 }),
          new GraphWidget({ title: 'API 5xx rate (%)', left: [serverErrorRate], width: 12 }),
        ],
        [
          new GraphWidget({
            title: 'Events',
            left: ['EventsAccepted', 'EventsDuplicate', 'EventsConflict', 'EventsRejected'].map(custom),
            width: 12,
          }),
          new GraphWidget({ title: 'Sessions and releases', left: ['SessionsCreated', 'BatchReleases'].map(custom), width: 12 }),
        ],
        [
          new GraphWidget({ title: 'Lambda errors', left: Object.values(this.functions).map((f) => f.fn.metricErrors({ period })), width: 8 }),
          new GraphWidget({ title: 'Lambda duration p99', left: Object.values(this.functions).map((f) => f.fn.metricDuration({ period, statistic: 'p99' })), width: 8 }),
          new GraphWidget({ title: 'DynamoDB throttled requests', left: [ddbThrottles], width: 4 }),
          new GraphWidget({ title: 'DynamoDB system errors', left: [ddbSystemErrors], width: 4 }),
        ],
      ],
    });
  }

  /** cdk-nag acknowledgements; each names why the finding does not apply. */
  private addNagSuppressions(settings: Settings): void {
    const acknowledge = (id: string, reason: string) => Validations.of(this).acknowledge({ id, reason });
    acknowledge(
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'Functions use AWSLambdaBasicExecutionRole only to write their own CloudWatch logs; their data access is an explicit inline policy.',
    );
    acknowledge(
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions, so CDK grants them on "*".',
    );
    if (settings.clientAuth === 'none') {
      acknowledge('AwsSolutions-APIG4', 'clientAuth=none was chosen for public ingestion (see README); internal routes still require IAM.');
    }
  }
}
