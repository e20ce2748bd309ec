/**
 * Cost in AWS per million events and per million sessions, from the measured capacity units and
 * handler durations and the list prices in prices.ts, beside the floor: the DynamoDB writes the data
 * needs at the least plus API Gateway's price for the requests that carry it.
 */
import type { CapacityRow } from './capacity.js';
import type { DurationRow } from './durations.js';
import { PRICES } from './prices.js';
import { round } from './stats.js';

export type CostRow = NonNullable<ReturnType<typeof costRow>>;

function costRow(
  key: string,
  unit: 'event' | 'session',
  cap: CapacityRow | undefined,
  dur: DurationRow | undefined,
  itemsPerRequest: number,
  memoryMb: number,
) {
  if (!cap || !dur) return undefined;
  const requests = 1e6 / itemsPerRequest;
  const dynamoReads = requests * cap.reads * PRICES.dynamoReadPerUnit;
  const dynamoWrites = requests * cap.writes * PRICES.dynamoWritePerUnit;
  const httpApi = requests * PRICES.httpApiPerRequest;
  const lambdaRequests = requests * PRICES.lambdaPerRequest;
  const lambdaDuration = requests * (dur.billedMs / 1000) * (memoryMb / 1024) * PRICES.lambdaArmPerGbSecond;
  const total = dynamoReads + dynamoWrites + httpApi + lambdaRequests + lambdaDuration;
  const floor =
    requests * (cap.floorWrites * PRICES.dynamoWritePerUnit + cap.floorReads * PRICES.dynamoReadPerUnit) + httpApi;
  const money = { dynamoReads, dynamoWrites, httpApi, lambdaRequests, lambdaDuration, total, floor };
  return {
    ...{ key, unit, itemsPerRequest, requestsPerMillion: Math.round(requests) },
    ...(Object.fromEntries(Object.entries(money).map(([k, v]) => [k, round(v, 4)])) as typeof money),
    ratio: round(total / floor, 3),
    /** CloudWatch Logs ingestion of the function's logs and EMF metrics (not in total, not in the target). */
    logs: round(requests * (dur.logBytes / 1e9) * PRICES.logsPerGb, 4),
    billedMsPerRequest: dur.billedMs,
  };
}

export function costRows(capacity: CapacityRow[], durations: DurationRow[], memoryMb: number): CostRow[] {
  const pair = (key: string) => [capacity.find((c) => c.key === key), durations.find((d) => d.key === key)] as const;
  const rows = [1, 10, 100, 1000].map((n) => costRow(`events_${n}`, 'event', ...pair(`push_events_${n}`), n, memoryMb));
  rows.push(costRow('sessions', 'session', ...pair('create_session'), 1, memoryMb));
  return rows.filter((r) => r !== undefined);
}
