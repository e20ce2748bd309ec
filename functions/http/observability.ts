/**
 * Powertools logger and metrics, one of each per process. Logs are JSON with the API request id as
 * correlation id (set per request in handler.ts). Metrics go out as EMF in namespace `Clickstream`
 * with the one dimension `service=clickstream` and nothing else: the stack's dashboard graphs
 * exactly that dimension set, so no code may add dimensions (test/http/observability.test.ts checks).
 *
 * No Powertools Tracer: Lambda's active tracing already records every invocation in X-Ray, and the
 * Tracer's per-call DynamoDB subsegments would need aws-xray-sdk-core in every bundle, costing
 * cold-start time and bundle size (see docs/operations.md).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const SERVICE_NAME = 'clickstream';
export const METRICS_NAMESPACE = 'Clickstream';

export const logger = new Logger({ serviceName: SERVICE_NAME });
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
export { MetricUnit };
