/**
 * Every key of the single table, in one place. The table has a string partition key `pk` and a
 * string sort key `sk`; no secondary index (all reads are strongly consistent key reads or queries).
 *
 *   item               pk                                  sk
 *   session            SESSION#<session_id>                SESSION
 *   event              SESSION#<session_id>                EVENT#<event_id>
 *   batch              BATCH#<batch_id>                    BATCH
 *   batch member       BATCH#<batch_id>#SHARD#<shard>      N#<session_number, 16 digits>
 *   batch shard        SHARD#<shard>                       SHARD
 *   batch registry     BATCHES                             REGISTRY
 *   release            RELEASE#<release_id>                RELEASE
 *   export             EXPORT#<export_id>                  EXPORT
 *   export file        EXPORT#<export_id>                  FILE#<path of the file in the export folder>
 */
export const TABLE_KEYS = { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt' } as const;

export type Key = {
  pk: string;
  sk: string;
};

export const EVENT_PREFIX = 'EVENT#';
export const SESSION_SORT_KEY = 'SESSION';
const MEMBER_PREFIX = 'N#';

/**
 * A session number encodes the shard it was created on in its high bits:
 * `shard * 2^40 + sequence`. Numbers are unique per table and ascend shard by shard, which lets a
 * batch page walk the shards in order with one query each.
 */
export const SHARD_STRIDE = 2 ** 40;
export const sessionNumber = (shard: number, sequence: number) => shard * SHARD_STRIDE + sequence;
export const shardOfNumber = (n: number) => Math.floor(n / SHARD_STRIDE);
const padNumber = (n: number) => n.toString().padStart(16, '0');

export const keys = {
  session: (sessionId: string): Key => ({ pk: `SESSION#${sessionId}`, sk: SESSION_SORT_KEY }),
  event: (sessionId: string, eventId: string): Key => ({ pk: `SESSION#${sessionId}`, sk: `${EVENT_PREFIX}${eventId}` }),
  sessionPartition: (sessionId: string) => `SESSION#${sessionId}`,
  sessionIdOf: (pk: string) => pk.slice('SESSION#'.length),
  eventIdOf: (sk: string) => sk.slice(EVENT_PREFIX.length),
  batch: (batchId: string): Key => ({ pk: `BATCH#${batchId}`, sk: 'BATCH' }),
  memberPartition: (batchId: string, shard: number) => `BATCH#${batchId}#SHARD#${shard}`,
  member: (batchId: string, shard: number, number: number): Key => ({
    pk: `BATCH#${batchId}#SHARD#${shard}`,
    sk: `${MEMBER_PREFIX}${padNumber(number)}`,
  }),
  memberSortKey: (number: number) => `${MEMBER_PREFIX}${padNumber(number)}`,
  shard: (shard: number): Key => ({ pk: `SHARD#${shard}`, sk: 'SHARD' }),
  shardOf: (pk: string) => Number(pk.slice('SHARD#'.length)),
  registry: (): Key => ({ pk: 'BATCHES', sk: 'REGISTRY' }),
  release: (releaseId: string): Key => ({ pk: `RELEASE#${releaseId}`, sk: 'RELEASE' }),
  export: (exportId: string): Key => ({ pk: `${EXPORT_PREFIX}${exportId}`, sk: 'EXPORT' }),
  exportPartition: (exportId: string) => `${EXPORT_PREFIX}${exportId}`,
  exportFile: (exportId: string, path: string): Key => ({ pk: `${EXPORT_PREFIX}${exportId}`, sk: `${EXPORT_FILE_PREFIX}${path}` }),
};

/** Export records live in their own partitions: IAM can confine a function's writes to them (dynamodb:LeadingKeys). */
export const EXPORT_PREFIX = 'EXPORT#';
export const EXPORT_FILE_PREFIX = 'FILE#';
