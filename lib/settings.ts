/**
 * Settings of the stack. Each can be given as CDK context (`cdk deploy -c clientAuth=jwt ...` or in
 * cdk.json); docs/operations.md lists them with their defaults and what they are for.
 */
import { type Config, FUNCTION_SETTINGS, type FunctionSettings } from '../functions/shared/config.js';

export type ClientAuth = Config['clientAuth'];
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface Settings {
  /** Authorization of the client routes; internal routes always require IAM. */
  clientAuth: ClientAuth;
  /** JWT issuer URL (https), required with clientAuth=jwt. */
  jwtIssuer?: string;
  /** Accepted JWT audiences (`aud` or `client_id`), at least one with clientAuth=jwt. */
  jwtAudience: string[];
  /** Origins allowed by CORS; none by default (no browser calls). Never a wildcard. */
  corsOrigins: string[];
  /** API stage throttling: steady requests per second and burst. */
  throttleRateLimit: number;
  throttleBurstLimit: number;
  timeMaxDeltaMinusSec: number;
  timeMaxDeltaPlusSec: number;
  /** Shards of the collecting batch (raise only; see README's capacity section). */
  batchShards: number;
  /** Days until sessions, events and batch memberships expire (DynamoDB TTL); 0 keeps them forever. */
  retentionDays: number;
  /** Events one session may hold; past it push_events reports each event `rejected`. */
  maxEventsPerSession: number;
  /** Deletion protection and a retained table and log groups (on by default). */
  production: boolean;
  memorySize: number;
  /** Retention of every log group (functions and API access logs); one of CloudWatch's values. */
  logRetentionDays: number;
  /** The functions' application log level (Lambda's JSON log format drops lines below it). */
  logLevel: LogLevel;
  /** Where alarms notify: an existing SNS topic, or an e-mail address for a new topic (not both). */
  alarmTopicArn?: string;
  alarmEmail?: string;

  // ---- guardrails (README "Guardrails"): production defaults that cap cost and blast radius
  /** Reserved concurrency of each client function (create, read, push, mark); 0 = none (unreserved pool). */
  clientReservedConcurrency: number;
  /** Reserved concurrency of each internal function (release, batch pages, batch) and the catch-all; 0 = none. */
  internalReservedConcurrency: number;
  /** Maximum on-demand throughput of the table (request units per second); above it DynamoDB throttles. */
  tableMaxReadUnits: number;
  tableMaxWriteUnits: number;
  /** Route throttling of the two write routes (create_session, push_events), apart from the reads. */
  writeThrottleRateLimit: number;
  writeThrottleBurstLimit: number;
  /** An AWS Budgets cost alert for the account, in US dollars a month; absent: no budget. */
  monthlyBudgetUsd?: number;

  // ---- encryption
  /** The table's KMS key: absent = AWS-managed key; `create` = a customer-managed key made by the stack (rotated yearly); or a key ARN. */
  tableKmsKey?: string;
  /** Days after which exported files expire (S3 lifecycle); 0 keeps them. */
  exportRetentionDays: number;
  /** Ranges (shards) an export writes at once: the state machine's map concurrency. */
  exportConcurrency: number;
}

export const DEFAULT_SETTINGS: Settings = {
  clientAuth: 'iam',
  jwtAudience: [],
  corsOrigins: [],
  throttleRateLimit: 1000,
  throttleBurstLimit: 2000,
  timeMaxDeltaMinusSec: FUNCTION_SETTINGS.timeMaxDeltaMinusSec.default,
  timeMaxDeltaPlusSec: FUNCTION_SETTINGS.timeMaxDeltaPlusSec.default,
  batchShards: FUNCTION_SETTINGS.batchShards.default,
  retentionDays: FUNCTION_SETTINGS.retentionDays.default,
  maxEventsPerSession: FUNCTION_SETTINGS.maxEventsPerSession.default,
  production: true,
  memorySize: 512,
  logRetentionDays: 30,
  logLevel: 'INFO',
  clientReservedConcurrency: 100,
  internalReservedConcurrency: 10,
  tableMaxReadUnits: 12_000,
  tableMaxWriteUnits: 4_000,
  writeThrottleRateLimit: 500,
  writeThrottleBurstLimit: 1000,
  exportRetentionDays: 30,
  exportConcurrency: 16,
};

/** The retention periods CloudWatch Logs accepts (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const LOG_LEVELS: readonly LogLevel[] = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

/**
 * Every setting's name: the one list that typo detection (`checkContextKeys`) and the README's
 * settings table are checked against. `stackName` is read by lib/app.ts. The type makes tsc refuse a
 * field of `Settings` that is missing here.
 */
export const SETTING_NAMES = Object.keys({
  clientAuth: true,
  jwtIssuer: true,
  jwtAudience: true,
  corsOrigins: true,
  throttleRateLimit: true,
  throttleBurstLimit: true,
  timeMaxDeltaMinusSec: true,
  timeMaxDeltaPlusSec: true,
  batchShards: true,
  retentionDays: true,
  production: true,
  memorySize: true,
  logRetentionDays: true,
  logLevel: true,
  alarmTopicArn: true,
  alarmEmail: true,
  maxEventsPerSession: true,
  clientReservedConcurrency: true,
  internalReservedConcurrency: true,
  tableMaxReadUnits: true,
  tableMaxWriteUnits: true,
  writeThrottleRateLimit: true,
  writeThrottleBurstLimit: true,
  monthlyBudgetUsd: true,
  tableKmsKey: true,
  exportRetentionDays: true,
  exportConcurrency: true,
  stackName: true,
} satisfies Record<keyof Settings | 'stackName', true>);

/** Levenshtein distance, stopping early once it exceeds `max`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    if (Math.min(...row) > max) return max + 1;
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The setting an unknown context key was probably meant to be: one that differs only in case, or
 * within an edit distance of 2 (ignoring case). CDK's own keys (`@aws-cdk/...` feature flags,
 * `aws:cdk:...`, lookup results such as `availability-zones:...`) contain `/` or `:` and are never
 * taken for a setting.
 */
export function meantSetting(key: string): string | undefined {
  if (SETTING_NAMES.includes(key) || /[/:@]/.test(key)) return undefined;
  const lower = key.toLowerCase();
  return SETTING_NAMES.find((name) => editDistance(lower, name.toLowerCase(), 2) <= 2);
}

/**
 * Stops the synthesis on a context key that looks like a misspelled setting: otherwise
 * `-c retentionDay=30` would silently keep data forever, `-c corsorigins=...` leave CORS off.
 */
export function checkContextKeys(keys: Iterable<string>): void {
  const typos = [...keys].flatMap((key) => {
    const meant = meantSetting(key);
    return meant ? [`${key} (did you mean ${meant}?)`] : [];
  });
  if (typos.length > 0) {
    throw new Error(
      `Unknown setting${typos.length > 1 ? 's' : ''} ${typos.join(', ')}: a misspelled setting would be ignored. Settings: ${SETTING_NAMES.join(', ')}`,
    );
  }
}

type Lookup = (key: string) => unknown;

const list = (v: unknown): string[] =>
  Array.isArray(v)
    ? v.map(String)
    : typeof v === 'string' && v !== ''
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : [];

function int(v: unknown, name: string, fallback: number, min: number, max: number): number {
  if (v === undefined || v === '') return fallback;
  // Decimal digits only from the command line: `0x10`, `1e3` or ` 7 ` are typos, not numbers.
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`Setting ${name} must be a whole number from ${min} to ${max}, got ${String(v)}`);
  return n;
}

/** Strict: a typo must not silently turn `production` (deletion protection) off. */
function bool(v: unknown, name: string, fallback: boolean): boolean {
  if (v === undefined || v === '') return fallback;
  if (v === true || v === false) return v;
  const s = String(v).toLowerCase();
  if (s === 'true') return true;
  if (s === 'false') return false;
  throw new Error(`Setting ${name} must be true or false, got ${String(v)}`);
}

/** A setting the functions read: default and bounds from their table (functions/shared/config.ts). */
const functionSetting = (get: Lookup, name: keyof typeof FUNCTION_SETTINGS): number => {
  const { default: fallback, min, max } = FUNCTION_SETTINGS[name];
  return int(get(name), name, fallback, min, max);
};

/** What the functions are told of the stack's settings. */
export const functionSettingsOf = (s: Settings): FunctionSettings => ({
  timeMaxDeltaMinusSec: s.timeMaxDeltaMinusSec,
  timeMaxDeltaPlusSec: s.timeMaxDeltaPlusSec,
  batchShards: s.batchShards,
  retentionDays: s.retentionDays,
  maxEventsPerSession: s.maxEventsPerSession,
  clientAuth: s.clientAuth,
});

const str = (v: unknown): string | undefined => (v === undefined || v === null || v === '' ? undefined : String(v));

/** A setting that takes a word (clientAuth, logLevel, ...): any case is the same word. */
const word = (v: unknown, spelled: (s: string) => string): string | undefined => {
  const s = str(v);
  return s === undefined ? undefined : spelled(s);
};

/** Reads the settings from a context lookup (`node.tryGetContext`), with defaults and checks. */
export function readSettings(get: Lookup): Settings {
  const d = DEFAULT_SETTINGS;
  const settings: Settings = {
    clientAuth: (word(get('clientAuth'), (s) => s.toLowerCase()) ?? d.clientAuth) as ClientAuth,
    jwtIssuer: str(get('jwtIssuer')),
    jwtAudience: list(get('jwtAudience')),
    corsOrigins: list(get('corsOrigins')),
    throttleRateLimit: int(get('throttleRateLimit'), 'throttleRateLimit', d.throttleRateLimit, 1, 1_000_000),
    throttleBurstLimit: int(get('throttleBurstLimit'), 'throttleBurstLimit', d.throttleBurstLimit, 1, 1_000_000),
    timeMaxDeltaMinusSec: functionSetting(get, 'timeMaxDeltaMinusSec'),
    timeMaxDeltaPlusSec: functionSetting(get, 'timeMaxDeltaPlusSec'),
    batchShards: functionSetting(get, 'batchShards'),
    retentionDays: functionSetting(get, 'retentionDays'),
    maxEventsPerSession: functionSetting(get, 'maxEventsPerSession'),
    production: bool(get('production'), 'production', d.production),
    memorySize: int(get('memorySize'), 'memorySize', d.memorySize, 128, 10_240),
    logRetentionDays: int(get('logRetentionDays'), 'logRetentionDays', d.logRetentionDays, 1, 3653),
    logLevel: (word(get('logLevel'), (s) => s.toUpperCase()) ?? d.logLevel) as LogLevel,
    alarmTopicArn: str(get('alarmTopicArn')),
    alarmEmail: str(get('alarmEmail')),
    clientReservedConcurrency: int(
      get('clientReservedConcurrency'),
      'clientReservedConcurrency',
      d.clientReservedConcurrency,
      0,
      100_000,
    ),
    internalReservedConcurrency: int(
      get('internalReservedConcurrency'),
      'internalReservedConcurrency',
      d.internalReservedConcurrency,
      0,
      100_000,
    ),
    tableMaxReadUnits: int(get('tableMaxReadUnits'), 'tableMaxReadUnits', d.tableMaxReadUnits, 1, 10_000_000),
    tableMaxWriteUnits: int(get('tableMaxWriteUnits'), 'tableMaxWriteUnits', d.tableMaxWriteUnits, 1, 10_000_000),
    writeThrottleRateLimit: int(
      get('writeThrottleRateLimit'),
      'writeThrottleRateLimit',
      d.writeThrottleRateLimit,
      1,
      1_000_000,
    ),
    writeThrottleBurstLimit: int(
      get('writeThrottleBurstLimit'),
      'writeThrottleBurstLimit',
      d.writeThrottleBurstLimit,
      1,
      1_000_000,
    ),
    ...(str(get('monthlyBudgetUsd')) !== undefined
      ? { monthlyBudgetUsd: int(get('monthlyBudgetUsd'), 'monthlyBudgetUsd', 0, 1, 100_000_000) }
      : {}),
    ...(str(get('tableKmsKey')) !== undefined ? { tableKmsKey: str(get('tableKmsKey')) } : {}),
    exportRetentionDays: int(get('exportRetentionDays'), 'exportRetentionDays', d.exportRetentionDays, 0, 36_500),
    exportConcurrency: int(get('exportConcurrency'), 'exportConcurrency', d.exportConcurrency, 1, 1_000),
  };
  checkSettings(settings);
  return settings;
}

/**
 * The rules every combination of settings must follow; the stack checks them too, so that a stack
 * built in code (tests, other apps) cannot skip them.
 */
export function checkSettings(s: Settings): void {
  if (!['iam', 'jwt', 'none'].includes(s.clientAuth))
    throw new Error(`Setting clientAuth must be iam, jwt or none, got ${s.clientAuth}`);
  if (s.clientAuth === 'jwt') {
    if (!s.jwtIssuer || s.jwtAudience.length === 0)
      throw new Error('clientAuth=jwt needs the settings jwtIssuer and jwtAudience');
    if (!/^https:\/\/[^\s]+$/.test(s.jwtIssuer))
      throw new Error(`Setting jwtIssuer must be an https URL, got ${s.jwtIssuer}`);
  }
  for (const origin of s.corsOrigins) {
    if (origin.includes('*')) throw new Error('corsOrigins must name origins; a wildcard is not allowed');
    if (!/^https?:\/\/[^\s/]+$/.test(origin)) {
      throw new Error(
        `corsOrigins must be origins like https://app.example.com (scheme and host, no path), got ${origin}`,
      );
    }
    // Plain http only for a developer's own machine: elsewhere the page (and its tokens) could be tampered with.
    if (origin.startsWith('http://') && !/^http:\/\/(localhost|127\.0\.0\.1)(:\d+)?$/.test(origin)) {
      throw new Error(`corsOrigins must use https:// (http:// only for localhost or 127.0.0.1), got ${origin}`);
    }
  }
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(s.logRetentionDays)) {
    throw new Error(
      `Setting logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(', ')}, got ${s.logRetentionDays}`,
    );
  }
  if (!LOG_LEVELS.includes(s.logLevel))
    throw new Error(`Setting logLevel must be one of ${LOG_LEVELS.join(', ')}, got ${s.logLevel}`);
  if (s.alarmTopicArn && s.alarmEmail) {
    throw new Error('Give alarmTopicArn or alarmEmail, not both (subscribe the address to your own topic instead)');
  }
  if (s.alarmTopicArn && !/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$/.test(s.alarmTopicArn)) {
    throw new Error(`Setting alarmTopicArn must be an SNS topic ARN, got ${s.alarmTopicArn}`);
  }
  if (s.alarmEmail && !/^[^\s@]+@[^\s@]+$/.test(s.alarmEmail))
    throw new Error(`Setting alarmEmail must be an e-mail address, got ${s.alarmEmail}`);
  if (
    s.tableKmsKey !== undefined &&
    s.tableKmsKey !== 'create' &&
    !/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+$/.test(s.tableKmsKey)
  ) {
    throw new Error(`Setting tableKmsKey must be "create" or a KMS key ARN, got ${s.tableKmsKey}`);
  }
}
