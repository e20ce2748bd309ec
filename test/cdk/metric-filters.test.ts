/**
 * The function metrics come from metric filters on each function's log group (lib/monitoring.ts,
 * FUNCTION_METRICS), reading the request lines that Lambda's JSON log format writes: every metric
 * the dashboard graphs in namespace Clickstream has its filters, with the pattern, value, unit and
 * the one dimension `service` the dashboard graphs. test/http/observability.test.ts applies the same
 * patterns to the lines the handlers write.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_METRICS, METRICS_NAMESPACE, metricsOf } from '../../lib/monitoring.js';
import { fallbackRoute, routes } from '../../lib/routes.js';
import { type CfnTemplate, onlyResource, resourcesOf, synthApp } from './ops-app.js';

let json: CfnTemplate;
beforeAll(() => {
  json = synthApp({}).json;
});

/** Each function's operation (from its description) and its log group's logical id. */
const functions = () =>
  resourcesOf(json, 'AWS::Lambda::Function').map(([, f]) => ({
    operation: /^Clickstream (\w+)$/.exec(f.Properties.Description as string)?.[1] ?? '',
    logGroup: f.Properties.LoggingConfig.LogGroup.Ref as string,
    logging: f.Properties.LoggingConfig,
  }));
const filtersOn = (logGroup: string) =>
  resourcesOf(json, 'AWS::Logs::MetricFilter')
    .map(([, r]) => r.Properties)
    .filter((p) => p.LogGroupName?.Ref === logGroup);

describe('function metrics', () => {
  it("every function logs in Lambda's JSON format", () => {
    for (const f of functions()) expect(f.logging, f.operation).toMatchObject({ LogFormat: 'JSON' });
  });

  it('each function log group has exactly its filters: pattern, value, namespace, unit, dimension service', () => {
    const operations = functions().map((f) => f.operation);
    expect(operations).toEqual(expect.arrayContaining([...routes, fallbackRoute].map((r) => r.operation)));
    for (const f of functions()) {
      const expected = metricsOf(f.operation).map((m) => ({
        FilterPattern: m.pattern,
        MetricTransformations: [
          {
            MetricNamespace: METRICS_NAMESPACE,
            MetricName: m.metricName,
            MetricValue: m.value,
            Unit: 'Count',
            Dimensions: [{ Key: 'service', Value: '$.message.service' }],
          },
        ],
      }));
      const actual = filtersOn(f.logGroup).map((p) => ({
        FilterPattern: p.FilterPattern,
        MetricTransformations: p.MetricTransformations,
      }));
      expect(actual, f.operation).toEqual(expected);
      // CloudWatch's limit is 100 filters per log group.
      expect(actual.length).toBeLessThanOrEqual(100);
    }
  });

  it('every metric the dashboard graphs in namespace Clickstream with dimension service has a filter', () => {
    const body = JSON.stringify(onlyResource(json, 'AWS::CloudWatch::Dashboard')[1].Properties.DashboardBody);
    const graphed = [...body.matchAll(/\[\\"Clickstream\\",\\"(\w+)\\",\\"service\\"/g)].map((m) => m[1] ?? '');
    expect(graphed.length).toBeGreaterThan(0);
    const filtered = new Set(
      resourcesOf(json, 'AWS::Logs::MetricFilter').flatMap(([, r]) =>
        (r.Properties.MetricTransformations as { MetricName: string; Dimensions?: unknown[] }[])
          .filter((t) => t.Dimensions)
          .map((t) => t.MetricName),
      ),
    );
    for (const name of graphed) expect(filtered.has(name), name).toBe(true);
    expect(new Set(graphed)).toEqual(new Set(FUNCTION_METRICS.map((m) => m.metricName)));
  });

  it('the filters read only request lines of this service, and the counts only on their function', () => {
    for (const m of FUNCTION_METRICS) {
      expect(m.pattern).toContain('$.message.msg = "request" && $.message.service = "clickstream"');
      expect(m.pattern).toContain(`$.message.${m.field} `);
      if (m.value !== '1') expect(m.value).toBe(`$.message.${m.field}`);
    }
    const pushFilters = functions()
      .filter((f) => f.operation !== 'push_events')
      .flatMap((f) => filtersOn(f.logGroup))
      .filter((p) => String(p.FilterPattern).includes('$.message.accepted'));
    expect(pushFilters).toEqual([]);
  });
});
