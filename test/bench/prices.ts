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
  dynamoWritePerUnit: 0.625 / 1e6, // per write request unit, on demand, Standard table class
  dynamoReadPerUnit: 0.125 / 1e6, // per read request unit, the same
  httpApiPerRequest: 1.0 / 1e6, // API Gateway HTTP API (first 300 million a month), metered per 512 KB
  lambdaPerRequest: 0.2 / 1e6,
  lambdaArmPerGbSecond: 0.0000133334, // Arm (Graviton2), first 7.5 billion GB-s a month
  logsPerGb: 0.5, // CloudWatch Logs ingestion (Standard); shown apart, not part of the target
} as const;

/** Share of a vCPU Lambda gives a function: a full vCPU at 1,769 MB, in proportion below. */
export const lambdaCpuShare = (memoryMb: number) => Math.min(1, memoryMb / 1769);
