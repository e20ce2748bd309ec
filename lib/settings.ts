/**
 * Settings of the stack. Each can be given as CDK context (`cdk deploy -c clientAuth=jwt ...` or in
 * cdk.json); the README lists them with their defaults.
 */
import { MAX_BATCH_SHARDS } from '../functions/shared/config.js';

export type ClientAuth = 'iam' | 'jwt' | 'none';

export interface Settings {
  /** Authorization of the client routes; internal routes always require IAM. */
  clientAuth: ClientAuth;
  jwtIssuer?: string;
  jwtAudience: string[];
  /** Origins allowed by CORS; none by default (no browser calls). */
  corsOrigins: string[];
  /** API stage throttling: steady requests per second and burst. */
  throttleRateLimit: number;
  throttleBurstLimit: number;
  timeMaxDeltaMinusSec: number;
  timeMaxDeltaPlusSec: number;
  /** Shards of the collecting batch (raise only; see README's capacity section). */
  batchShards: number;
  /** Days until stored data expires (DynamoDB TTL); 0 keeps it forever. */
  retentionDays: number;
  /** Deletion protection and a retained table (on by default). */
  production: boolean;
  memorySize: number;
  logRetentionDays: number;
  /** Where alarms notify: an existing SNS topic, or an e-mail address for a new topic. */
  alarmTopicArn?: string;
  alarmEmail?: string;
}

export const DEFAULT_SETTINGS: Settings = {
  clientAuth: 'iam',
  jwtAudience: [],
  corsOrigins: [],
  throttleRateLimit: 1000,
  throttleBurstLimit: 2000,
  timeMaxDeltaMinusSec: 43_200,
  timeMaxDeltaPlusSec: 300,
  batchShards: 32,
  retentionDays: 0,
  production: true,
  memorySize: 512,
  logRetentionDays: 30,
};

type Lookup = (key: string) => unknown;

const list = (v: unknown): string[] =>
  Array.isArray(v) ? v.map(String) : typeof v === 'string' && v !== '' ? v.split(',').map((s) => s.trim()) : [];

function int(v: unknown, name: string, fallback: number, min: number, max: number): number {
  if (v === undefined || v === '') return fallback;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`Setting ${name} must be a whole number from ${min} to ${max}, got ${String(v)}`);
  return n;
}

function bool(v: unknown, fallback: boolean): boolean {
  if (v === undefined || v === '') return fallback;
  return v === true || v === 'true';
}

/** Reads the settings from a context lookup (`node.tryGetContext`), with defaults and checks. */
export function readSettings(get: Lookup): Settings {
  const d = DEFAULT_SETTINGS;
  const clientAuth = (get('clientAuth') ?? d.clientAuth) as ClientAuth;
  if (!['iam', 'jwt', 'none'].includes(clientAuth)) throw new Error(`Setting clientAuth must be iam, jwt or none, got ${clientAuth}`);
  const settings: Settings = {
    clientAuth,
    jwtIssuer: (get('jwtIssuer') as string | undefined) || undefined,
    jwtAudience: list(get('jwtAudience')),
    corsOrigins: list(get('corsOrigins')),
    throttleRateLimit: int(get('throttleRateLimit'), 'throttleRateLimit', d.throttleRateLimit, 1, 1_000_000),
    throttleBurstLimit: int(get('throttleBurstLimit'), 'throttleBurstLimit', d.throttleBurstLimit, 1, 1_000_000),
    timeMaxDeltaMinusSec: int(get('timeMaxDeltaMinusSec'), 'timeMaxDeltaMinusSec', d.timeMaxDeltaMinusSec, 0, 315_360_000),
    timeMaxDeltaPlusSec: int(get('timeMaxDeltaPlusSec'), 'timeMaxDeltaPlusSec', d.timeMaxDeltaPlusSec, 0, 315_360_000),
    batchShards: int(get('batchShards'), 'batchShards', d.batchShards, 1, MAX_BATCH_SHARDS),
    retentionDays: int(get('retentionDays'), 'retentionDays', d.retentionDays, 0, 36_500),
    production: bool(get('production'), d.production),
    memorySize: int(get('memorySize'), 'memorySize', d.memorySize, 128, 10_240),
    logRetentionDays: int(get('logRetentionDays'), 'logRetentionDays', d.logRetentionDays, 1, 3653),
    alarmTopicArn: (get('alarmTopicArn') as string | undefined) || undefined,
    alarmEmail: (get('alarmEmail') as string | undefined) || undefined,
  };
  if (settings.clientAuth === 'jwt' && (!settings.jwtIssuer || settings.jwtAudience.length === 0)) {
    throw new Error('clientAuth=jwt needs the settings jwtIssuer and jwtAudience');
  }
  if (settings.corsOrigins.includes('*')) throw new Error('corsOrigins must name origins; a wildcard is not allowed');
  return settings;
}
