/**
 * Every key of the single table, in one place. The table has a string partition key `pk` and a
 * string sort key `sk`; no secondary index (all reads are strongly consistent key reads or queries).
 *
 *   item               pk                                  sk
 *   session            SESSION#<session_id>                SESSION
 *   event              SESSION#<session_id>                EVENT#<event_id>
 *   batch              BATCH#<batch_id>                    BATCH
 *   batch member       BATCH#<batch_id>#SHARD#<shard>      N#<session_number, 16 digits>
 *     (also the session's event counter, attribute `eventCount`: one small item per session)
 *   tombstone          BATCH#<batch_id>#SHARD#<shard>      N#<session_number, 16 digits>
 *     (attribute `tombstone`: a number of a released batch that no session took)
 *   batch shard        SHARD#<shard>                       SHARD
 *   batch registry     BATCHES                             REGISTRY
 *   batch log entry    BATCHES                             LOG#<created_at, 13 digits>#<batch_id>
 *   release            RELEASE#<release_id>                RELEASE
 *   export             EXPORT#<export_id>                  EXPORT
 *   export file        EXPORT#<export_id>                  FILE#<path of the file in the export folder>
 *   erasure request    ERASURE#<request_id>                REQUEST
 *   erased session     ERASURE#<request_id>                SESSION#<session_id>   (until the request is done)
 *   erasure queue      ERASURES                            PENDING#<request_id>   (until the request is done)
 *   erasure pass       ERASURES                            PASS                   (while a pass runs)
 */
export const TABLE_KEYS = { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt' } as const;

export type Key = {
  pk: string;
  sk: string;
};

const SESSION_PREFIX = 'SESSION#';
export const EVENT_PREFIX = 'EVENT#';
const BATCH_PREFIX = 'BATCH#';
const MEMBER_SHARD = '#SHARD#';
export const SESSION_SORT_KEY = 'SESSION';
const MEMBER_PREFIX = 'N#';
/** Sort-key prefix of the batch log: one entry per batch, in creation order, newest last. */
export const BATCH_LOG_PREFIX = 'LOG#';
const SHARD_PREFIX = 'SHARD#';
const REGISTRY_PK = 'BATCHES';
const RELEASE_PREFIX = 'RELEASE#';
/** Export records live in their own partitions: IAM can confine a function's writes to them (dynamodb:LeadingKeys). */
export const EXPORT_PREFIX = 'EXPORT#';
export const EXPORT_FILE_PREFIX = 'FILE#';
/** The sort key of an export's record (the stack's stream filter starts exports on its insertions). */
export const EXPORT_SORT_KEY = 'EXPORT';
/** Erasure requests (functions/storage/erasure-store.ts); `ERASURES` holds the queue and the pass. */
const ERASURE_PREFIX = 'ERASURE#';
const ERASURES_PK = 'ERASURES';
export const ERASURE_PENDING_PREFIX = 'PENDING#';
export const ERASED_SESSION_PREFIX = 'SESSION#';

/**
 * A session number encodes the shard it was created on in its high bits:
 * `shard * 2^40 + sequence`. Numbers are unique per table and ascend shard by shard, which lets a
 * batch page walk the shards in order with one query each.
 */
export const SHARD_STRIDE = 2 ** 40;
export const sessionNumber = (shard: number, sequence: number) => shard * SHARD_STRIDE + sequence;
export const shardOfNumber = (n: number) => Math.floor(n / SHARD_STRIDE);
const padNumber = (n: number) => n.toString().padStart(16, '0');

const memberPartition = (batchId: string, shard: number) => `${BATCH_PREFIX}${batchId}${MEMBER_SHARD}${shard}`;

export const keys = {
  session: (sessionId: string): Key => ({ pk: `${SESSION_PREFIX}${sessionId}`, sk: SESSION_SORT_KEY }),
  event: (sessionId: string, eventId: string): Key => ({
    pk: `${SESSION_PREFIX}${sessionId}`,
    sk: `${EVENT_PREFIX}${eventId}`,
  }),
  sessionPartition: (sessionId: string) => `${SESSION_PREFIX}${sessionId}`,
  sessionIdOf: (pk: string) => pk.slice(SESSION_PREFIX.length),
  eventIdOf: (sk: string) => sk.slice(EVENT_PREFIX.length),
  batch: (batchId: string): Key => ({ pk: `${BATCH_PREFIX}${batchId}`, sk: 'BATCH' }),
  memberPartition,
  member: (batchId: string, shard: number, number: number): Key => ({
    pk: memberPartition(batchId, shard),
    sk: `${MEMBER_PREFIX}${padNumber(number)}`,
  }),
  /** A session's membership item, which also counts its events (attribute `eventCount`). */
  eventCounter: (batchId: string, number: number): Key => keys.member(batchId, shardOfNumber(number), number),
  memberSortKey: (number: number) => `${MEMBER_PREFIX}${padNumber(number)}`,
  numberOfMemberSortKey: (sk: string) => Number(sk.slice(MEMBER_PREFIX.length)),
  shard: (shard: number): Key => ({ pk: `${SHARD_PREFIX}${shard}`, sk: 'SHARD' }),
  shardOf: (pk: string) => Number(pk.slice(SHARD_PREFIX.length)),
  registry: (): Key => ({ pk: REGISTRY_PK, sk: 'REGISTRY' }),
  batchLogPartition: () => REGISTRY_PK,
  batchLog: (createdAt: number, batchId: string): Key => ({
    pk: REGISTRY_PK,
    sk: `${BATCH_LOG_PREFIX}${createdAt.toString().padStart(13, '0')}#${batchId}`,
  }),
  release: (releaseId: string): Key => ({ pk: `${RELEASE_PREFIX}${releaseId}`, sk: 'RELEASE' }),
  export: (exportId: string): Key => ({ pk: `${EXPORT_PREFIX}${exportId}`, sk: EXPORT_SORT_KEY }),
  exportPartition: (exportId: string) => `${EXPORT_PREFIX}${exportId}`,
  exportFile: (exportId: string, path: string): Key => ({
    pk: `${EXPORT_PREFIX}${exportId}`,
    sk: `${EXPORT_FILE_PREFIX}${path}`,
  }),
  erasure: (requestId: string): Key => ({ pk: `${ERASURE_PREFIX}${requestId}`, sk: 'REQUEST' }),
  erasurePartition: (requestId: string) => `${ERASURE_PREFIX}${requestId}`,
  erasedSession: (requestId: string, sessionId: string): Key => ({
    pk: `${ERASURE_PREFIX}${requestId}`,
    sk: `${ERASED_SESSION_PREFIX}${sessionId}`,
  }),
  erasedSessionIdOf: (sk: string) => sk.slice(ERASED_SESSION_PREFIX.length),
  erasureQueuePartition: () => ERASURES_PK,
  erasureQueued: (requestId: string): Key => ({ pk: ERASURES_PK, sk: `${ERASURE_PENDING_PREFIX}${requestId}` }),
  erasurePass: (): Key => ({ pk: ERASURES_PK, sk: 'PASS' }),
};

/** What an item is, by its key (the table above); the batch log's entries share the registry's partition. */
export type ItemKind =
  'session' | 'event' | 'batch' | 'member' | 'shard' | 'registry' | 'batchLog' | 'release' | 'export' | 'exportFile';

/** The kind of the item with this key, and the id its partition key carries; undefined for a key this module never builds. */
export function itemOf({ pk, sk }: Key): { kind: ItemKind; id: string } | undefined {
  if (pk.startsWith(SESSION_PREFIX)) {
    const id = pk.slice(SESSION_PREFIX.length);
    if (sk === SESSION_SORT_KEY) return { kind: 'session', id };
    return sk.startsWith(EVENT_PREFIX) ? { kind: 'event', id } : undefined;
  }
  if (pk.startsWith(BATCH_PREFIX)) {
    const shardAt = pk.lastIndexOf(MEMBER_SHARD);
    if (shardAt >= 0 && sk.startsWith(MEMBER_PREFIX))
      return { kind: 'member', id: pk.slice(BATCH_PREFIX.length, shardAt) };
    return sk === 'BATCH' ? { kind: 'batch', id: pk.slice(BATCH_PREFIX.length) } : undefined;
  }
  if (pk.startsWith(SHARD_PREFIX) && sk === 'SHARD') return { kind: 'shard', id: pk.slice(SHARD_PREFIX.length) };
  if (pk === REGISTRY_PK) {
    if (sk === 'REGISTRY') return { kind: 'registry', id: '' };
    return sk.startsWith(BATCH_LOG_PREFIX) ? { kind: 'batchLog', id: '' } : undefined;
  }
  if (pk.startsWith(RELEASE_PREFIX) && sk === 'RELEASE')
    return { kind: 'release', id: pk.slice(RELEASE_PREFIX.length) };
  if (pk.startsWith(EXPORT_PREFIX)) {
    const id = pk.slice(EXPORT_PREFIX.length);
    if (sk === EXPORT_SORT_KEY) return { kind: 'export', id };
    return sk.startsWith(EXPORT_FILE_PREFIX) ? { kind: 'exportFile', id } : undefined;
  }
  return undefined;
}

/** The kinds of partition a function may touch (IAM `dynamodb:LeadingKeys`, see below). */
export type PartitionKind = 'session' | 'batch' | 'member' | 'shard' | 'registry' | 'release' | 'export' | 'erasure';

/**
 * Each partition kind as an IAM `StringLike` pattern of `dynamodb:LeadingKeys`, derived from the
 * same prefixes as the keys above. `batch` (`BATCH#*`) also matches member partitions
 * (`BATCH#<id>#SHARD#<n>`): IAM patterns cannot exclude; `member` matches member partitions only
 * (batch ids are server-made UUIDs, which never contain `#SHARD#`).
 */
export const LEADING_KEY_PATTERNS: Record<PartitionKind, string> = {
  session: `${SESSION_PREFIX}*`,
  batch: `${BATCH_PREFIX}*`,
  member: `${BATCH_PREFIX}*${MEMBER_SHARD}*`,
  shard: `${SHARD_PREFIX}*`,
  registry: REGISTRY_PK,
  release: `${RELEASE_PREFIX}*`,
  export: `${EXPORT_PREFIX}*`,
  // `ERASURE#<request_id>` and `ERASURES` (no other key starts with ERASURE).
  erasure: 'ERASURE*',
};
