/**
 * Cost in AWS per million events and per million sessions, from the measured capacity units and
 * handler durations and the list prices in prices.ts, beside the floor: the DynamoDB writes the data
 * needs at the least plus API Gateway's price for the requests that carry it.
 */
import type { CapacityRow } from './capacity.js';
import type { DurationRow } from './durations.js';
import { PRICES } from './prices.js';
import { round } from './stats.js';

export interface CostRow {
  key: string;
  unit: 'event' | 'session';
  itemsPerRequest: number;
  requestsPerMillion: number;
  dynamoReads: number;
  dynamoWrites: number;
  httpApi: number;
  lambdaRequests: number;
  lambdaDuration: number;
  total: number;
  floor: number;
  ratio: number;
  /** CloudWatch Logs ingestion of the function's logs and EMF metrics (not in total, not in the target). */
  logs: number;
  billedMsPerRequest: number;
}

export function costRows(capacity: CapacityRow[], durations: DurationRow[], memoryMb: number): CostRow[] {
  const rows: CostRow[] = [];
  const gb = memoryMb / 1024;
  const make = (key: string, unit: CostRow['unit'], cap: CapacityRow | undefined, dur: DurationRow | undefined, itemsPerRequest: number) => {
    if (!cap || !dur) return;
    const requests = 1e6 / itemsPerRequest;
    const dynamoReads = requests * cap.reads * PRICES.dynamoReadPerUnit;
    const dynamoWrites = requests * cap.writes * PRICES.dynamoWritePerUnit;
    const httpApi = requests * PRICES.httpApiPerRequest;
    const lambdaRequests = requests * PRICES.lambdaPerRequest;
    const lambdaDuration = requests * (dur.billedMs / 1000) * gb * PRICES.lambdaArmPerGbSecond;
    const total = dynamoReads + dynamoWrites + httpApi + lambdaRequests + lambdaDuration;
    const floor = requests * (cap.floorWrites * PRICES.dynamoWritePerUnit + cap.floorReads * PRICES.dynamoReadPerUnit) + httpApi;
    rows.push({
      key,
      unit,
      itemsPerRequest,
      requestsPerMillion: Math.round(requests),
      dynamoReads: round(dynamoReads, 4),
      dynamoWrites: round(dynamoWrites, 4),
      httpApi: round(httpApi, 4),
      lambdaRequests: round(lambdaRequests, 4),
      lambdaDuration: round(lambdaDuration, 4),
      total: round(total, 4),
      floor: round(floor, 4),
      ratio: round(total / floor, 3),
      logs: round(requests * (dur.logBytes / 1e9) * PRICES.logsPerGb, 4),
      billedMsPerRequest: dur.billedMs,
    });
  };
  for (const n of [1, 10, 100, 1000]) {
    make(`events_${n}`, 'event', capacity.find((c) => c.key === `push_events_${n}`), durations.find((d) => d.key === `push_events_${n}`), n);
  }
  make('sessions', 'session', capacity.find((c) => c.key === 'create_session'), durations.find((d) => d.key === 'create_session'), 1);
  return rows;
}
