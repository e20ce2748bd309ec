/** Diagnostic stand-in for @aws-lambda-powertools/metrics (start-up breakdown only, never deployed). */
export const MetricUnit = { Count: 'Count', Milliseconds: 'Milliseconds' } as const;
export class Metrics {
  addMetric(..._args: unknown[]) {}
  addDimension(..._args: unknown[]) {}
  hasStoredMetrics() {
    return false;
  }
  publishStoredMetrics() {}
}
