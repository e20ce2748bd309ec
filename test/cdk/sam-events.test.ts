/**
 * The SAM sample events (test/events/) carry the route keys the stack really deploys, so that
 * `sam local invoke -e test/events/<operation>.json` sends what API Gateway would.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resourcesOf, synthApp } from './ops-app.js';

const eventsDir = new URL('../events/', import.meta.url);
const sampleEvents = readdirSync(eventsDir)
  .filter((f) => f.endsWith('.json') && f !== 'env.json')
  .map(
    (f) =>
      [
        f,
        JSON.parse(readFileSync(new URL(f, eventsDir), 'utf8')) as {
          routeKey: string;
          requestContext: { routeKey: string };
          rawPath: string;
          pathParameters?: Record<string, string>;
        },
      ] as const,
  );

describe('SAM sample events', () => {
  const deployed = resourcesOf(synthApp().json, 'AWS::ApiGatewayV2::Route').map(
    ([, r]) => r.Properties.RouteKey as string,
  );

  it.each(sampleEvents)('%s names a route key the stack deploys', (_file, event) => {
    expect(deployed).toContain(event.routeKey);
    expect(event.requestContext.routeKey).toBe(event.routeKey);
    if (event.routeKey.endsWith('/{proxy+}'))
      expect(event.pathParameters?.proxy).toBe(event.rawPath.replace(/^\//, ''));
  });
});
