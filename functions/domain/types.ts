/** The domain's records. Field names follow the wire format where they are returned as they are. */

export interface SearchResult {
  object_id: string;
  rank: number | null;
  meta: Record<string, unknown> | null;
}

export interface SortBy {
  field: string;
  order: 'asc' | 'desc';
  /** EmbeddingStudio's flag; false when not given (and in sessions stored before it existed). */
  force_not_payload: boolean;
}

/** What a client sent to create a session, normalized (absent optional fields are null). */
export interface SessionContent {
  search_query: string | Record<string, unknown>;
  search_results: SearchResult[];
  search_meta: Record<string, unknown> | null;
  payload_filter: Record<string, unknown> | null;
  sort_by: SortBy | null;
  user_id: string | null;
}

/** A create_session body's fields, as validated (optional fields absent, null or given). */
export interface SessionFields {
  search_query: string | Record<string, unknown>;
  search_results: readonly { object_id: string; rank?: number | null; meta?: Record<string, unknown> | null }[];
  search_meta?: Record<string, unknown> | null;
  payload_filter?: Record<string, unknown> | null;
  sort_by?: SortBy | null;
  user_id?: string | null;
}

/** The one normalization of a session's content: what is stored, compared on a retry and returned. */
export const sessionContent = (b: SessionFields): SessionContent => ({
  search_query: b.search_query,
  search_results: b.search_results.map((r) => ({ object_id: r.object_id, rank: r.rank ?? null, meta: r.meta ?? null })),
  search_meta: b.search_meta ?? null,
  payload_filter: b.payload_filter ?? null,
  sort_by: b.sort_by ?? null,
  user_id: b.user_id ?? null,
});

export interface SessionRecord {
  sessionId: string;
  content: SessionContent;
  createdAt: number;
  /** The server filled `createdAt` in because the client sent none. */
  createdAtAuto: boolean;
  receivedAt: number;
  isIrrelevant: boolean;
  batchId: string;
  sessionNumber: number;
  /** With clientAuth=jwt: the `sub` of the token that created the session, its owner. */
  ownerSub?: string;
}

export interface EventContent {
  object_id: string;
  event_type: string;
  meta: Record<string, unknown> | null;
}

/** The one normalization of an event's content (event_type has its default already). */
export const eventContent = (e: {
  object_id: string;
  event_type: string;
  meta?: Record<string, unknown> | null;
}): EventContent => ({
  object_id: e.object_id,
  event_type: e.event_type,
  meta: e.meta ?? null,
});

export interface EventRecord {
  sessionId: string;
  eventId: string;
  content: EventContent;
  createdAt: number;
  createdAtAuto: boolean;
  receivedAt: number;
  /**
   * Written with the event, random per push request: when the SDK retries a put whose answer was
   * lost, the item it finds carries its own token, so the event is reported accepted, not duplicate.
   */
  writeToken?: string;
}

export interface BatchRecord {
  batchId: string;
  status: 'collecting' | 'released';
  createdAt: number;
  releasedAt?: number;
  releaseId?: string;
  /** Stored once released; for a collecting batch it is counted from its member partitions. */
  sessionCount?: number;
  /** How many shards the batch's members are spread over (known once released). */
  shardCount?: number;
  /** Sessions per shard, in shard order (stored at release; absent for batches released before). */
  shardCounts?: number[];
  /**
   * Sessions erased from the batch since they joined it (README "Erasing a user"): `sessionCount`
   * still counts them, batch pages and exports leave them out. Absent when none was.
   */
  erasedCount?: number;
  /** When a session of the batch was last erased: exports started before then may hold erased sessions. */
  lastErasedAt?: number;
}

export interface ReleaseRecord {
  releaseId: string;
  batchId: string;
  nextBatchId: string;
  state: 'releasing' | 'released';
  releasedAt?: number;
  sessionCount?: number;
}

/**
 * The collecting-batch pointer of one shard. `sequence` is the last session number sequence
 * reserved on the shard; the batch it names owns the sequences after `since`. The batch it named
 * before owns `prevFrom < sequence <= prevUntil` (recorded by the release that switched it).
 */
export interface ShardRecord {
  shard: number;
  batchId?: string;
  sequence: number;
  since?: number;
  prevBatchId?: string;
  prevFrom?: number;
  prevUntil?: number;
}

export interface RegistryRecord {
  collectingBatchId: string;
  shardCount: number;
  releasingId?: string;
  releasingBatchId?: string;
  /** When the release under way was claimed (absent for claims written before it was kept). */
  releasingSince?: number;
}

/** The two line formats of an export (and of `clickstream export`): functions/domain/training-lines.ts. */
export type ExportFormat = 'sessions' | 'pairs';
export type ExportState = 'running' | 'succeeded' | 'failed';

/** One part of a batch that one worker chain reads: session numbers in (after, until], on one shard. */
export interface ExportRange {
  shard: number;
  after: number;
  until: number;
  /** Sessions of the batch in the range (from the release); the export checks it wrote as many. */
  sessions: number;
}

/** One file of an export, as the manifest lists it; `path` is relative to the export's folder. */
export interface ExportFileEntry {
  path: string;
  sessions: number;
  events: number;
  bytes: number;
  sha256: string;
}

export interface ExportTotals {
  files: number;
  sessions: number;
  events: number;
  bytes: number;
}

export interface ExportRecord {
  exportId: string;
  batchId: string;
  format: ExportFormat;
  state: ExportState;
  /** The export's folder: `s3://bucket/exports/<batch>/<export>/` or `file:///.../exports/<batch>/<export>/`. */
  location: string;
  createdAt: number;
  ranges: ExportRange[];
  finishedAt?: number;
  error?: string;
  /** Set when it succeeded: the manifest's totals. */
  totals?: ExportTotals;
}
