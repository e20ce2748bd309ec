/**
 * Cost in AWS per million events and per million sessions, from the measured capacity units and
 * handler durations and the list prices in prices.ts, beside the floor: the DynamoDB writes the data
 * needs at the least plus API Gateway's price for the requests that carry it.
 */
import type { CapacityRow } from './capacity.js';
import type { DurationRow } from './durations.js';
import { PRICES as P } from './prices.js';
import { round } from './stats.js';

export function costRows(capacity: CapacityRow[], durations: DurationRow[], memoryMb: number) {
  const row = (key: string, unit: 'event' | 'session', itemsPerRequest: number, of: string) => {
    const [cap, dur] = [capacity.find((c) => c.key === of)!, durations.find((d) => d.key === of)!];
    const requests = 1e6 / itemsPerRequest;
    const dynamoReads = requests * cap.reads * P.dynamoReadPerUnit;
    const dynamoWrites = requests * cap.writes * P.dynamoWritePerUnit;
    const [httpApi, lambdaRequests] = [requests * P.httpApiPerRequest, requests * P.lambdaPerRequest];
    const lambdaDuration = requests * (dur.billedMs / 1000) * (memoryMb / 1024) * P.lambdaArmPerGbSecond;
    const total = dynamoReads + dynamoWrites + httpApi + lambdaRequests + lambdaDuration;
    const floor = requests * (cap.floorWrites * P.dynamoWritePerUnit + cap.floorReads * P.dynamoReadPerUnit) + httpApi;
    const money = { dynamoReads, dynamoWrites, httpApi, lambdaRequests, lambdaDuration, total, floor };
    return {
      ...{ key, unit, itemsPerRequest, requestsPerMillion: Math.round(requests) },
      ...(Object.fromEntries(Object.entries(money).map(([k, v]) => [k, round(v, 4)])) as typeof money),
      ratio: round(total / floor, 3),
      /** CloudWatch Logs ingestion of the function's log lines (the metrics come from them) (not in total, not in the target). */
      logs: round(requests * (dur.logBytes / 1e9) * P.logsPerGb, 4),
      billedMsPerRequest: dur.billedMs,
    };
  };
  const events = [1, 10, 100, 1000].map((n) => row(`events_${n}`, 'event', n, `push_events_${n}`));
  return [...events, row('sessions', 'session', 1, 'create_session')];
}
