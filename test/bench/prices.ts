/**
 * AWS list prices of the cost figures (us-east-1, on-demand, no free tier; `checked` says how current).
 * Re-check https://aws.amazon.com/dynamodb/pricing/on-demand/, https://aws.amazon.com/api-gateway/pricing/
 * and https://aws.amazon.com/lambda/pricing/ before relying on them.
 */
export const PRICES = {
  region: 'us-east-1',
  checked:
    '2025 list prices (DynamoDB on-demand after its November 2024 price cut), cross-checked against published ' +
    'summaries of the AWS pricing pages; this machine cannot reach the AWS pages to re-check them',
  /** DynamoDB on-demand, Standard table class: $0.625 per million write request units. */
  dynamoWritePerUnit: 0.625 / 1e6,
  /** DynamoDB on-demand, Standard table class: $0.125 per million read request units. */
  dynamoReadPerUnit: 0.125 / 1e6,
  /** API Gateway HTTP API: $1.00 per million requests (first 300 million a month), metered per 512 KB. */
  httpApiPerRequest: 1.0 / 1e6,
  /** Lambda: $0.20 per million requests. */
  lambdaPerRequest: 0.2 / 1e6,
  /** Lambda on Arm (Graviton2): $0.0000133334 per GB-second (first 7.5 billion GB-s a month). */
  lambdaArmPerGbSecond: 0.0000133334,
  /** CloudWatch Logs ingestion (Standard): $0.50 per GB; shown apart, not part of the target. */
  logsPerGb: 0.5,
} as const;

/** Share of a vCPU Lambda gives a function: a full vCPU at 1,769 MB, in proportion below. */
export const lambdaCpuShare = (memoryMb: number) => Math.min(1, memoryMb / 1769);
