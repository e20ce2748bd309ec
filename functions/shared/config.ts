/**
 * Settings of the functions, read from environment variables. The CDK stack sets them from its
 * own settings; the local server and the tests set them directly.
 */
export interface Config {
  tableName: string;
  /** Only set locally (DynamoDB Local); in AWS the SDK's default endpoint is used. */
  endpoint: string | undefined;
  /** Allowed distance of a client timestamp into the past, in seconds (0 = none). */
  maxDeltaMinusSec: number;
  /** Allowed distance of a client timestamp into the future, in seconds (0 = none). */
  maxDeltaPlusSec: number;
  /** How many collecting-batch shards create_session spreads its writes over. */
  batchShards: number;
  /** Days after which stored data expires through the table's TTL; 0 = never. */
  retentionDays: number;
  /** At most this many events are stored per session; past it push_events reports `rejected`. */
  maxEventsPerSession: number;
  /**
   * How client routes are authorized (`iam`, `jwt` or `none`). With `jwt`, a session belongs to the
   * `sub` of the token that created it: only that `sub` may read it, push to it or mark it.
   */
  clientAuth: 'iam' | 'jwt' | 'none';
  /** Where exports are written: an S3 bucket (in AWS, or any S3-compatible endpoint)... */
  exportBucket: string | undefined;
  /** ...with this endpoint (S3-compatible servers; path-style addressing); unset: AWS's regional S3 endpoint. */
  exportS3Endpoint: string | undefined;
  /** ...or a local folder (npm start: .exports/); the bucket wins when both are set. */
  exportDir: string | undefined;
  /** The state machine that runs exports in AWS; unset locally (exports then run in-process). */
  exportStateMachineArn: string | undefined;
  /** A worker closes its file and hands its cursor on after this many sessions (or near its time limit). */
  exportSessionsPerFile: number;
}

export const MAX_BATCH_SHARDS = 256;
export const DEFAULT_MAX_EVENTS_PER_SESSION = 10_000;
export const MAX_MAX_EVENTS_PER_SESSION = 1_000_000;
const TEN_YEARS_SEC = 10 * 365 * 86_400;

/**
 * The numeric settings the stack passes to every function: each one's variable, default and bounds.
 * The one table that the functions read (readConfig), the stack's settings take their defaults and
 * bounds from (lib/settings.ts), and the stack and the benchmark build the environment from
 * (functionEnvironment).
 */
export const FUNCTION_SETTINGS = {
  timeMaxDeltaMinusSec: {
    variable: 'CLICKSTREAM_TIME_MAX_DELTA_MINUS_SEC',
    default: 43_200,
    min: 0,
    max: TEN_YEARS_SEC,
  },
  timeMaxDeltaPlusSec: { variable: 'CLICKSTREAM_TIME_MAX_DELTA_PLUS_SEC', default: 300, min: 0, max: TEN_YEARS_SEC },
  batchShards: { variable: 'CLICKSTREAM_BATCH_SHARDS', default: 64, min: 1, max: MAX_BATCH_SHARDS },
  retentionDays: { variable: 'CLICKSTREAM_RETENTION_DAYS', default: 0, min: 0, max: 36_500 },
  maxEventsPerSession: {
    variable: 'CLICKSTREAM_MAX_EVENTS_PER_SESSION',
    default: DEFAULT_MAX_EVENTS_PER_SESSION,
    min: 1,
    max: MAX_MAX_EVENTS_PER_SESSION,
  },
} as const;

export type FunctionSettings = { [K in keyof typeof FUNCTION_SETTINGS]: number } & { clientAuth: Config['clientAuth'] };

/** The environment that gives a function these settings (the stack's, and the benchmark's functions). */
export function functionEnvironment(tableName: string, settings: FunctionSettings): Record<string, string> {
  const numeric = Object.entries(FUNCTION_SETTINGS).map(([key, s]) => [
    s.variable,
    String(settings[key as keyof typeof FUNCTION_SETTINGS]),
  ]);
  return { TABLE_NAME: tableName, ...Object.fromEntries(numeric), CLICKSTREAM_CLIENT_AUTH: settings.clientAuth };
}

type Bounded = { variable: string; default: number; min: number; max: number };
/** Read by the export tasks only; the stack leaves it at its default. */
const EXPORT_SESSIONS_PER_FILE: Bounded = {
  variable: 'EXPORT_SESSIONS_PER_FILE',
  default: 250_000,
  min: 1,
  max: 100_000_000,
};

function intSetting(env: NodeJS.ProcessEnv, { variable: name, default: fallback, min, max }: Bounded): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new Error(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new Error(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function clientAuthSetting(raw: string | undefined): Config['clientAuth'] {
  const value = (raw ?? '').toLowerCase();
  if (value === '') return 'none';
  if (value === 'iam' || value === 'jwt' || value === 'none') return value;
  throw new Error(`CLICKSTREAM_CLIENT_AUTH must be iam, jwt or none, got "${raw}"`);
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const tableName = env.TABLE_NAME;
  if (!tableName) throw new Error('TABLE_NAME is not set');
  return {
    tableName,
    endpoint: env.DYNAMODB_ENDPOINT || undefined,
    maxDeltaMinusSec: intSetting(env, FUNCTION_SETTINGS.timeMaxDeltaMinusSec),
    maxDeltaPlusSec: intSetting(env, FUNCTION_SETTINGS.timeMaxDeltaPlusSec),
    batchShards: intSetting(env, FUNCTION_SETTINGS.batchShards),
    retentionDays: intSetting(env, FUNCTION_SETTINGS.retentionDays),
    maxEventsPerSession: intSetting(env, FUNCTION_SETTINGS.maxEventsPerSession),
    clientAuth: clientAuthSetting(env.CLICKSTREAM_CLIENT_AUTH),
    exportBucket: env.EXPORT_BUCKET || undefined,
    exportS3Endpoint: env.EXPORT_S3_ENDPOINT || undefined,
    exportDir: env.EXPORT_DIR || undefined,
    exportStateMachineArn: env.EXPORT_STATE_MACHINE_ARN || undefined,
    exportSessionsPerFile: intSetting(env, EXPORT_SESSIONS_PER_FILE),
  };
}

let cached: Config | undefined;

/** The configuration of this process, read once. */
export function config(): Config {
  cached ??= readConfig();
  return cached;
}

/** For tests that change the environment between cases. */
export function resetConfig(): void {
  cached = undefined;
}
