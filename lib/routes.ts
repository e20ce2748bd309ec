/**
 * The route table: the one list of operations that the CDK stack deploys and the local server
 * serves, each with its method and path (functions/http/api-routes.ts, which the functions read) and
 * what the stack deploys for it. Pure data, no CDK imports, so that the local server can read it too.
 */
import { API_ROUTES, type Operation } from '../functions/http/api-routes.js';
import type { PartitionKind } from '../functions/storage/keys.js';

export { BASE_PATH, fullPath, type Operation } from '../functions/http/api-routes.js';

export type DynamoAction =
  | 'dynamodb:GetItem'
  | 'dynamodb:BatchGetItem'
  | 'dynamodb:Query'
  | 'dynamodb:PutItem'
  | 'dynamodb:UpdateItem'
  | 'dynamodb:ConditionCheckItem'
  | 'dynamodb:DeleteItem'
  | 'dynamodb:Scan';

/** The actions of DynamoDbAction that write; `writePartitions` confines these. */
export const WRITE_ACTIONS: readonly DynamoAction[] = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
];

/** What a function may do with DynamoDB, and its grants beyond the table. */
export interface Grants {
  /**
   * The kinds of partition it may touch: its role's `dynamodb:LeadingKeys` condition, with the
   * patterns of functions/storage/keys.ts (test/integration/iam-coverage.test.ts checks the calls the
   * function really sends against them).
   */
  partitions: PartitionKind[];
  /** Its write actions may touch only these kinds (a second statement; the reads keep `partitions`). */
  writePartitions?: PartitionKind[];
  /** When it updates one attribute only: the attributes it may name (`dynamodb:Attributes`). */
  attributes?: string[];
  /** Records exports: is told the export bucket (a record names its files' location). */
  recordsExports?: boolean;
  /** May start executions of the export state machine (and is told its ARN). */
  startsExports?: boolean;
  /** May write objects under the export prefix of the export bucket (and is told the bucket). */
  writesExports?: boolean;
  /** May read the erasure key (the HMAC key of erasure receipts, a Secrets Manager secret). */
  readsErasureKey?: boolean;
}

export interface Route extends Grants {
  operation: string;
  method: 'GET' | 'POST';
  /** Path below BASE_PATH. */
  path: string;
  /** Stable CloudFormation logical id of the function (SAM and operators name it). */
  logicalId: string;
  /** Source of the handler, from the project root; it exports `handler`. */
  entry: string;
  /** Internal routes always require IAM (SigV4). */
  internal: boolean;
  /** Exactly the DynamoDB actions the operation uses (TransactWriteItems needs those of its parts). */
  actions: DynamoAction[];
  /** A write route with its own throttle (`writeThrottleRateLimit`), apart from the reads. */
  writeThrottled?: boolean;
}

/** The API document's words for an operation (lib/openapi.ts builds docs/openapi.json from them). */
export interface ApiDoc {
  /** What the operation does. */
  summary: string;
  /** The error statuses it can answer beyond 413/415/422/503 of every request, each with its meaning. */
  errors: Record<number, string>;
  /** Its success status, when not 200. */
  status?: number;
}

/** An operation's name, method and path (functions/http/api-routes.ts). */
const api = <O extends Operation>(operation: O) => ({ operation, ...API_ROUTES[operation] });

export const routes: readonly (Route & ApiDoc & { operation: Operation })[] = [
  {
    ...api('create_session'),
    summary: 'Registers a search session (query and ranked results); a retry with the same content changes nothing.',
    errors: {
      400: 'created_at outside the allowed window: "Invalid utc timestamp: <value as sent>"',
      409: 'The session id exists with other content',
    },
    logicalId: 'CreateSessionFunction',
    entry: 'functions/handlers/create-session.ts',
    internal: false,
    // Query, PutItem on member partitions and the release record: a create helps finish a release
    // its caller abandoned (README, "Batch assignment and release").
    actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:BatchGetItem'],
    writeThrottled: true,
    partitions: ['session', 'batch', 'shard', 'registry', 'release'],
  },
  {
    ...api('get_session'),
    summary: 'A session with its events, sorted by created_at then event_id; never truncated silently.',
    errors: { 404: 'Unknown session' },
    logicalId: 'GetSessionFunction',
    entry: 'functions/handlers/get-session.ts',
    internal: false,
    actions: ['dynamodb:GetItem', 'dynamodb:Query'],
    partitions: ['session'],
  },
  {
    ...api('push_events'),
    summary:
      'Stores 1 to 1,000 events of a session; each is accepted, duplicate, conflict or rejected (first write wins).',
    errors: { 404: 'Unknown session' },
    logicalId: 'PushEventsFunction',
    entry: 'functions/handlers/push-events.ts',
    internal: false,
    actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    writeThrottled: true,
    partitions: ['session', 'member'],
  },
  {
    ...api('mark_session_irrelevant'),
    summary: 'Flags a session as irrelevant: left out of batch pages unless asked for.',
    errors: { 404: 'Unknown session' },
    logicalId: 'MarkSessionIrrelevantFunction',
    entry: 'functions/handlers/mark-session-irrelevant.ts',
    internal: false,
    actions: ['dynamodb:UpdateItem'],
    partitions: ['session'],
    attributes: ['pk', 'sk', 'isIrrelevant', 'ownerSub'],
  },
  {
    ...api('release_batch'),
    summary:
      'Releases the collecting batch under an idempotency key: the same release_id always gets the identical answer.',
    errors: { 404: 'The collecting batch has no sessions' },
    logicalId: 'ReleaseBatchFunction',
    entry: 'functions/handlers/release-batch.ts',
    internal: true,
    actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
    partitions: ['registry', 'release', 'batch', 'shard'],
  },
  {
    ...api('get_batch_sessions'),
    summary: 'One page of a released batch, by session_number; page on with after_number = last_number.',
    errors: { 404: 'Unknown batch', 409: 'The batch is still collecting' },
    logicalId: 'GetBatchSessionsFunction',
    entry: 'functions/handlers/get-batch-sessions.ts',
    internal: true,
    // The writes finish a release its caller abandoned (README, "Batch assignment and release").
    actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    partitions: ['batch', 'session', 'registry', 'shard', 'release'],
  },
  {
    ...api('get_batch'),
    summary:
      'A batch, or without batch_id the collecting one; a released batch lists one session_number range per shard (ranges) for parallel readers.',
    errors: { 404: 'Unknown batch, or no collecting batch yet' },
    logicalId: 'GetBatchFunction',
    entry: 'functions/handlers/get-batch.ts',
    internal: true,
    // Query counts a collecting batch; the writes finish a release its caller abandoned.
    actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    partitions: ['registry', 'batch', 'shard', 'release'],
  },
  {
    ...api('list_batches'),
    summary:
      'Every batch, newest first, with its status and count: so that every released batch can be found. Page on with cursor = next_cursor.',
    errors: {},
    logicalId: 'ListBatchesFunction',
    entry: 'functions/handlers/list-batches.ts',
    internal: true,
    // The writes finish a release its caller abandoned (README, "Batch assignment and release").
    actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    partitions: ['registry', 'batch', 'shard', 'release'],
  },
  {
    ...api('start_export'),
    summary:
      'Starts (or joins) the export of a released batch into gzip JSON Lines files and a manifest under exports/<batch_id>/<export_id>/; the same export_id always names the same export.',
    errors: {
      404: 'Unknown batch',
      409: 'The batch is still collecting, or the export_id names an export of another batch or format',
    },
    status: 202,
    logicalId: 'StartExportFunction',
    entry: 'functions/handlers/start-export.ts',
    internal: true,
    actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
    partitions: ['batch', 'registry', 'shard', 'export'],
    writePartitions: ['export'],
    recordsExports: true,
  },
  {
    ...api('get_export'),
    summary:
      "An export's state and progress (files and sessions written so far); contains_erased_sessions: true when sessions of its batch were erased after it started (its files may hold them until they expire).",
    errors: { 404: 'Unknown export' },
    logicalId: 'GetExportFunction',
    entry: 'functions/handlers/get-export.ts',
    internal: true,
    // GetItem on the batch: whether sessions of it were erased after the export started.
    actions: ['dynamodb:Query', 'dynamodb:GetItem'],
    partitions: ['export', 'batch'],
  },
  {
    ...api('erase_user'),
    summary:
      'Accepts the erasure of every session of a user_id (with its events and batch memberships), under an idempotency key: the same request_id always names the same request. Answers its state; the user appears only as an HMAC.',
    errors: { 409: 'The request_id names an erasure request of another user (the stored request is not touched)' },
    status: 202,
    logicalId: 'EraseUserFunction',
    entry: 'functions/handlers/request-erasure.ts',
    internal: true,
    actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
    partitions: ['erasure'],
    readsErasureKey: true,
  },
  {
    ...api('get_erasure'),
    summary:
      'The state of an erasure request (pending, running, done) with what it erased and when: the receipt. The user appears only as user_id_hmac = HMAC-SHA256(key, user_id) (README "Erasing a user").',
    errors: { 404: 'Unknown request_id' },
    logicalId: 'GetErasureFunction',
    entry: 'functions/handlers/get-erasure.ts',
    internal: true,
    actions: ['dynamodb:GetItem'],
    partitions: ['erasure'],
  },
];

for (const operation of Object.keys(API_ROUTES)) {
  if (!routes.some((r) => r.operation === operation)) throw new Error(`The route table has no entry for ${operation}`);
}

/** A function that is no route: a task of the export state machine (run in-process by npm start). */
export interface TaskFunction extends Grants {
  operation: string;
  logicalId: string;
  entry: string;
  actions: DynamoAction[];
}

/** The export state machine's tasks (lib/export-machine.ts). */
export const exportTasks: { start: TaskFunction; range: TaskFunction; finish: TaskFunction } = {
  /**
   * Starts the run of every export record the table's stream shows inserted (an event source
   * mapping, not the state machine): start_export only records the export. Touches no table item.
   */
  start: {
    operation: 'export_starter',
    logicalId: 'ExportStarterFunction',
    entry: 'functions/handlers/export-starter.ts',
    actions: [],
    partitions: [],
    startsExports: true,
  },
  /** Writes the next file of one range (functions/domain/export-worker.ts). */
  range: {
    operation: 'export_range',
    logicalId: 'ExportRangeFunction',
    entry: 'functions/handlers/export-range.ts',
    actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem'],
    partitions: ['batch', 'registry', 'shard', 'session', 'export'],
    writePartitions: ['export'],
    writesExports: true,
  },
  /** Writes the manifest and ends the export (succeeded or failed). */
  finish: {
    operation: 'finish_export',
    logicalId: 'FinishExportFunction',
    entry: 'functions/handlers/finish-export.ts',
    // GetItem on the batch: how many of its sessions were erased (the files may hold fewer).
    actions: ['dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:GetItem'],
    partitions: ['export', 'batch'],
    writePartitions: ['export'],
    writesExports: true,
  },
};

/**
 * The erasure worker (functions/domain/erasure.ts), invoked by a schedule (run in-process by npm
 * start). Its Scan carries no partition key: IAM's `ForAllValues` LeadingKeys condition holds for a
 * request without one, so the same statement allows it; every other call stays in its partitions.
 */
export const erasureWorker: TaskFunction = {
  operation: 'erasure_worker',
  logicalId: 'ErasureWorkerFunction',
  entry: 'functions/handlers/erasure-worker.ts',
  actions: [
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:Query',
    'dynamodb:Scan',
  ],
  partitions: ['erasure', 'session', 'batch'],
  readsErasureKey: true,
};

/** Every function that is no route: the export state machine's tasks and the erasure worker. */
export const taskFunctions: readonly TaskFunction[] = [
  exportTasks.start,
  exportTasks.range,
  exportTasks.finish,
  erasureWorker,
];

/**
 * The catch-all route (`ANY /{proxy+}`, every path of at least one segment): answers unknown paths
 * and methods 404/405 with the contract's error body. The bare `/` is outside it and gets API
 * Gateway's own 404.
 */
export const fallbackRoute = {
  operation: 'not_found',
  logicalId: 'NotFoundFunction',
  entry: 'functions/handlers/not-found.ts',
  actions: [] as DynamoAction[],
  partitions: [] as PartitionKind[],
} as const;
