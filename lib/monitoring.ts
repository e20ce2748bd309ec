/**
 * Alarms and the dashboard of the stack: what tells an operator that something is wrong, and where
 * it is said. Built in the stack's own scope (so logical ids stay those of earlier releases); every
 * alarm is named `<stack name>-<alarm>` so that CloudWatch lists them by stack.
 */
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Annotations, CfnOutput, Duration, type Stack } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
  Unit,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Operation, type Table } from 'aws-cdk-lib/aws-dynamodb';
import { FilterPattern, type LogGroup, MetricFilter } from 'aws-cdk-lib/aws-logs';
import type { RequestLine } from '../functions/http/observability.js';
import { fallbackRoute, routes } from './routes.js';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { ClickstreamFunction } from './clickstream-function.js';
import type { Settings } from './settings.js';

/** Namespace and the one dimension of the functions' metrics (functions/http/observability.ts). */
export const METRICS_NAMESPACE = 'Clickstream';
export const METRICS_DIMENSIONS = { service: 'clickstream' } as const;

/** A field of the request log line (functions/http/observability.ts) that a metric filter reads. */
type LineField = Exclude<keyof RequestLine, 'msg' | 'service'>;
/** Lambda's JSON log format puts the logged object under `message`. */
const at = (field: LineField | 'msg' | 'service') => `$.message.${field}`;
/** The request lines of this service: the filters' dimension `service` is read from the line. */
const REQUEST = `${at('msg')} = "request" && ${at('service')} = "${METRICS_DIMENSIONS.service}"`;

export interface FunctionMetric {
  metricName: string;
  /** The request line's field the filter tests or reads, and its JSON type there. */
  field: LineField;
  type: 'number' | 'boolean';
  /** CloudWatch Logs filter pattern on the function's JSON log lines. */
  pattern: string;
  /** `1` per matching line, or the field's value. */
  value: string;
  /** Only on these functions' log groups; absent: every HTTP function. */
  operations?: readonly string[];
}
const counted = (metricName: string, field: LineField, operation: string): FunctionMetric => ({
  metricName,
  field,
  type: 'number',
  pattern: `{ ${REQUEST} && ${at(field)} >= 0 }`,
  value: at(field),
  operations: [operation],
});
const flagged = (metricName: string, field: LineField, operation: string): FunctionMetric => ({
  metricName,
  field,
  type: 'boolean',
  pattern: `{ ${REQUEST} && ${at(field)} IS TRUE }`,
  value: '1',
  operations: [operation],
});
/**
 * Every custom metric of the functions: a metric filter on each function's log group counts it from
 * the request lines (no library in the functions: Lambda's JSON log format, then these filters).
 * Namespace Clickstream, unit Count, the one dimension `service`; the dashboard graphs each of them.
 */
export const FUNCTION_METRICS: readonly FunctionMetric[] = [
  flagged('SessionsCreated', 'created', 'create_session'),
  counted('EventsAccepted', 'accepted', 'push_events'),
  counted('EventsDuplicate', 'duplicate', 'push_events'),
  counted('EventsConflict', 'conflict', 'push_events'),
  counted('EventsRejected', 'rejected', 'push_events'),
  flagged('BatchReleases', 'released', 'release_batch'),
  {
    metricName: 'ClientErrors',
    field: 'status',
    type: 'number',
    pattern: `{ ${REQUEST} && ${at('status')} >= 400 && ${at('status')} < 500 }`,
    value: '1',
  },
  {
    metricName: 'ServerErrors',
    field: 'status',
    type: 'number',
    pattern: `{ ${REQUEST} && ${at('status')} >= 500 }`,
    value: '1',
  },
];
/** Every custom metric the functions emit; the dashboard graphs each of them. */
export const CUSTOM_METRICS = FUNCTION_METRICS.map((m) => m.metricName);

/** The filters of one function (by operation); the export and erasure workers answer no requests. */
export const metricsOf = (operation: string): FunctionMetric[] =>
  [...routes, fallbackRoute].some((r) => r.operation === operation)
    ? FUNCTION_METRICS.filter((m) => !m.operations || m.operations.includes(operation))
    : [];

/** The function's metric filters (FUNCTION_METRICS) on its log group. */
function addFunctionMetrics(operation: string, logGroup: LogGroup): void {
  for (const m of metricsOf(operation)) {
    // No default value: CloudWatch refuses one on a filter with dimensions.
    logGroup.addMetricFilter(`${m.metricName}Filter`, {
      metricNamespace: METRICS_NAMESPACE,
      metricName: m.metricName,
      filterPattern: FilterPattern.literal(m.pattern),
      metricValue: m.value,
      unit: Unit.COUNT,
      dimensions: { service: at('service') },
    });
  }
}

/** Metrics the stack derives from the API access log (metric filters), in namespace Clickstream. */
export const ACCESS_LOG_METRICS = { authFailures: 'ApiAuthFailures', throttled: 'ApiThrottled' } as const;

/** Thresholds of the alarms added for issue 15 (documented in docs/operations.md). */
export const ALARM_THRESHOLDS = {
  /** % of requests answered 4xx, in 3 of 5 minutes. */
  clientErrorRatePercent: 10,
  /** 401/403 answers a minute, in 3 of 5 minutes. */
  authFailuresPerMinute: 50,
  /** 429 answers a minute, in 2 of 3 minutes. */
  throttledPerMinute: 10,
  /** Consumed write units against the table's maximum, in 3 of 5 minutes. */
  writeUnitsPercentOfMax: 80,
} as const;

export interface MonitoringProps {
  settings: Settings;
  api: HttpApi;
  table: Table;
  functions: Record<string, ClickstreamFunction>;
  accessLogs: LogGroup;
  /** The state machine that runs exports: an alarm on failed executions and a dashboard row. */
  exportMachine: StateMachine;
  /** The export starter's dead-letter queue: an alarm when it holds anything. */
  exportStartFailures: IQueue;
}

/** The dashboard's name: the stack name, prefixed with `clickstream-` unless it already says so. */
export const dashboardNameOf = (stackName: string) =>
  /clickstream/i.test(stackName) ? stackName : `clickstream-${stackName}`;

export function addMonitoring(stack: Stack, props: MonitoringProps): { alarms: Alarm[]; alarmTopic?: ITopic } {
  const { settings, api, table, functions } = props;
  let alarmTopic: ITopic | undefined;
  if (settings.alarmTopicArn) alarmTopic = Topic.fromTopicArn(stack, 'AlarmTopic', settings.alarmTopicArn);
  else if (settings.alarmEmail) {
    // No KMS key: CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS
    // key, and alarm notifications carry no customer data. Publishing requires TLS.
    const created = new Topic(stack, 'AlarmTopic', { enforceSSL: true, displayName: 'Clickstream alarms' });
    created.addSubscription(new EmailSubscription(settings.alarmEmail));
    alarmTopic = created;
    new CfnOutput(stack, 'AlarmTopicArn', {
      value: created.topicArn,
      description: 'SNS topic the alarms notify (subscribe more addresses to it)',
    });
  }
  if (settings.production && !alarmTopic) {
    Annotations.of(stack).addWarning(
      'production=true and no alarm target: the alarms of this stack will notify NOBODY. ' +
        'Deploy with -c alarmEmail=oncall@example.com or -c alarmTopicArn=arn:aws:sns:...',
    );
  }

  const alarms: Alarm[] = [];
  const period = Duration.minutes(1);
  const name = (id: string) => `${stack.stackName}-${id.replace(/Alarm$/, '')}`;
  const apiMetric = (metricName: string, statistic = 'Sum') =>
    new Metric({ namespace: 'AWS/ApiGateway', metricName, dimensionsMap: { ApiId: api.apiId }, statistic, period });
  const alarm = (
    id: string,
    description: string,
    metric: IMetric,
    threshold: number,
    evaluationPeriods: number,
    datapointsToAlarm: number,
  ) => {
    const a = new Alarm(stack, id, {
      alarmName: name(id),
      alarmDescription: description,
      metric,
      threshold,
      evaluationPeriods,
      datapointsToAlarm,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarms.push(a);
    return a;
  };
  const anyOver = (id: string, description: string, metric: IMetric) => alarm(id, description, metric, 0, 3, 2);
  const rate = (errors: IMetric, label: string) =>
    new MathExpression({
      expression: 'IF(requests > 0, 100 * errors / requests, 0)',
      usingMetrics: { errors, requests: apiMetric('Count') },
      period,
      label,
    });

  const serverErrorRate = rate(apiMetric('5xx'), 'API 5xx rate (%)');
  alarm(
    'Api5xxRateAlarm',
    'More than 1% of API requests answered 5xx in 3 of the last 5 minutes',
    serverErrorRate,
    1,
    5,
    3,
  );
  for (const [operation, f] of Object.entries(functions)) {
    addFunctionMetrics(operation, f.logGroup);
    const id = f.node.id;
    anyOver(`${id}ErrorsAlarm`, `Lambda errors (crashes, timeouts) in ${operation}`, f.fn.metricErrors({ period }));
    anyOver(`${id}ThrottlesAlarm`, `Lambda throttles in ${operation}`, f.fn.metricThrottles({ period }));
  }
  // Every operation the functions send (TransactWriteItems carries the conditional puts/updates).
  const operations = [
    Operation.GET_ITEM,
    Operation.BATCH_GET_ITEM,
    Operation.QUERY,
    Operation.PUT_ITEM,
    Operation.UPDATE_ITEM,
    Operation.TRANSACT_WRITE_ITEMS,
  ];
  const ddbThrottles = table.metricThrottledRequestsForOperations({ operations, period });
  const ddbSystemErrors = table.metricSystemErrorsForOperations({ operations, period });
  anyOver('TableThrottlesAlarm', 'DynamoDB throttled requests on the clickstream table', ddbThrottles);
  anyOver('TableSystemErrorsAlarm', 'DynamoDB system errors on the clickstream table', ddbSystemErrors);
  // One failed export is worth a look: it outlasted every retry of its tasks.
  const machine = props.exportMachine;
  const exportsFailed = machine.metricFailed({ period, statistic: 'Sum' });
  const exportsTimedOut = machine.metricTimedOut({ period, statistic: 'Sum' });
  alarm(
    'ExportFailedAlarm',
    'An export execution failed (its tasks outlasted their retries; the export is marked failed)',
    exportsFailed,
    0,
    1,
    1,
  );
  alarm(
    'ExportStartFailedAlarm',
    'An export was recorded but its execution could not be started (the stream record outlasted its retries; it is in the export starter dead-letter queue)',
    props.exportStartFailures.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
    0,
    1,
    1,
  );

  // Abuse and overload: a 4xx rate, 401/403 (bad or missing credentials) and 429 (throttled) counts.
  // API Gateway's metrics have one 4xx figure; the access log knows the status, so metric filters count.
  const t = ALARM_THRESHOLDS;
  const clientErrorRate = rate(apiMetric('4xx'), 'API 4xx rate (%)');
  alarm(
    'Api4xxRateAlarm',
    `More than ${t.clientErrorRatePercent}% of API requests answered 4xx in 3 of the last 5 minutes`,
    clientErrorRate,
    t.clientErrorRatePercent,
    5,
    3,
  );
  const logMetric = (id: string, metricName: string, pattern: string) => {
    new MetricFilter(stack, id, {
      logGroup: props.accessLogs,
      metricNamespace: METRICS_NAMESPACE,
      metricName,
      filterPattern: FilterPattern.literal(pattern),
      metricValue: '1',
      defaultValue: 0,
    });
    return new Metric({ namespace: METRICS_NAMESPACE, metricName, statistic: 'Sum', period });
  };
  const authFailures = logMetric(
    'ApiAuthFailuresFilter',
    ACCESS_LOG_METRICS.authFailures,
    '{ ($.status = "401") || ($.status = "403") }',
  );
  const throttled = logMetric('ApiThrottledFilter', ACCESS_LOG_METRICS.throttled, '{ $.status = "429" }');
  alarm(
    'ApiAuthFailuresAlarm',
    `More than ${t.authFailuresPerMinute} answers 401/403 a minute in 3 of the last 5 minutes (credential stuffing, a broken client)`,
    authFailures,
    t.authFailuresPerMinute,
    5,
    3,
  );
  alarm(
    'ApiThrottledAlarm',
    `More than ${t.throttledPerMinute} answers 429 a minute in 2 of the last 3 minutes (route throttles reached)`,
    throttled,
    t.throttledPerMinute,
    3,
    2,
  );
  // Consumed write units per second against the table's maximum (settings.tableMaxWriteUnits).
  const writeUnitsPercent = new MathExpression({
    expression: `100 * wcu / 60 / ${settings.tableMaxWriteUnits}`,
    usingMetrics: { wcu: table.metricConsumedWriteCapacityUnits({ period, statistic: 'Sum' }) },
    period,
    label: 'Consumed write units (% of the table maximum)',
  });
  alarm(
    'TableWriteUnitsAlarm',
    `Consumed write units above ${t.writeUnitsPercentOfMax}% of the table maximum (${settings.tableMaxWriteUnits}/s) in 3 of the last 5 minutes`,
    writeUnitsPercent,
    t.writeUnitsPercentOfMax,
    5,
    3,
  );

  if (alarmTopic) {
    const action = new SnsAction(alarmTopic);
    for (const a of alarms) {
      a.addAlarmAction(action);
      a.addOkAction(action);
    }
  }

  const custom = (metricName: string) =>
    new Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { ...METRICS_DIMENSIONS },
      statistic: 'Sum',
      period,
    });
  const fns = Object.values(functions);
  new Dashboard(stack, 'Dashboard', {
    dashboardName: dashboardNameOf(stack.stackName),
    widgets: [
      [
        new GraphWidget({
          title: 'API requests and errors',
          left: [apiMetric('Count'), apiMetric('4xx'), apiMetric('5xx')],
          width: 8,
        }),
        new GraphWidget({ title: 'API 5xx rate (%)', left: [serverErrorRate], width: 8 }),
        new GraphWidget({
          title: 'API latency p99 (ms)',
          left: [apiMetric('Latency', 'p99'), apiMetric('IntegrationLatency', 'p99')],
          width: 8,
        }),
      ],
      [
        new GraphWidget({
          title: 'Events',
          left: ['EventsAccepted', 'EventsDuplicate', 'EventsConflict', 'EventsRejected'].map(custom),
          width: 8,
        }),
        new GraphWidget({
          title: 'Sessions and releases',
          left: ['SessionsCreated', 'BatchReleases'].map(custom),
          width: 8,
        }),
        new GraphWidget({
          title: 'Answers 4xx / 5xx (functions)',
          left: ['ClientErrors', 'ServerErrors'].map(custom),
          width: 8,
        }),
      ],
      [
        new GraphWidget({ title: 'Lambda errors', left: fns.map((f) => f.fn.metricErrors({ period })), width: 8 }),
        new GraphWidget({
          title: 'Lambda throttles',
          left: fns.map((f) => f.fn.metricThrottles({ period })),
          width: 8,
        }),
        new GraphWidget({
          title: 'Lambda duration p99',
          left: fns.map((f) => f.fn.metricDuration({ period, statistic: 'p99' })),
          width: 8,
        }),
      ],
      [
        // Two widgets: both expressions name their per-operation metrics alike.
        new GraphWidget({ title: 'DynamoDB throttled requests', left: [ddbThrottles], width: 8 }),
        new GraphWidget({ title: 'DynamoDB system errors', left: [ddbSystemErrors], width: 8 }),
        new GraphWidget({ title: 'Consumed write units (% of max)', left: [writeUnitsPercent], width: 8 }),
      ],
      [
        new GraphWidget({
          title: 'Exports (executions)',
          left: [
            machine.metricStarted({ period, statistic: 'Sum' }),
            machine.metricSucceeded({ period, statistic: 'Sum' }),
            exportsFailed,
            exportsTimedOut,
          ],
          width: 24,
        }),
      ],
      [
        new GraphWidget({ title: 'API 4xx rate (%)', left: [clientErrorRate], width: 12 }),
        new GraphWidget({ title: 'API 401/403 and 429 answers', left: [authFailures, throttled], width: 12 }),
      ],
    ],
  });
  return { alarms, alarmTopic };
}
