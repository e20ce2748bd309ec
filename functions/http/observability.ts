/** Powertools logger and metrics, one of each per process. Logs carry the API request id. */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const logger = new Logger({ serviceName: 'clickstream' });
export const metrics = new Metrics({ namespace: 'Clickstream', serviceName: 'clickstream' });
export { MetricUnit };
