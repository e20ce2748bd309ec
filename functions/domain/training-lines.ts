/**
 * The two training line formats of an export (JSON Lines, one line per session), built from the
 * wire shape of a session (get_session's answer, which carries `session_number`) with ALL of its
 * events. The one definition of both formats: the `clickstream export` command and the server-side
 * export use these functions, and the README documents them.
 *
 *  - `sessions`: the session exactly in get_session's shape, every event included
 *    (`events_count` = number of events, `events_truncated` false, no cursor).
 *  - `pairs`: what a ranking or embedding fine-tuning needs, read the way EmbeddingStudio's
 *    ClickstreamSessionConverter reads a session: `results` are the shown results in order, an
 *    object counts as clicked when the session has at least one event (any event_type) on it, and
 *    every result without an event is a negative. An irrelevant session has no positives at all:
 *    `clicked` is empty and every result is a negative (EmbeddingStudio treats a session without
 *    events as irrelevant, with all its results as negatives).
 *
 * Both return the JSON text of the line without its trailing newline; the key order is fixed, so
 * the same session always gives the same bytes.
 */

export interface WireEvent {
  event_id: string;
  object_id: string;
  event_type: string;
  created_at: number;
  meta: Record<string, unknown> | null;
  received_at: number;
}

export interface WireSearchResult {
  object_id: string;
  rank: number | null;
  meta: Record<string, unknown> | null;
}

/** A session as get_session (and a batch page) returns it. */
export interface WireSession {
  session_id: string;
  search_query: string | Record<string, unknown>;
  search_results: WireSearchResult[];
  search_meta: Record<string, unknown> | null;
  payload_filter: Record<string, unknown> | null;
  sort_by: { field: string; order: 'asc' | 'desc' } | null;
  user_id: string | null;
  created_at: number;
  received_at: number;
  is_irrelevant: boolean;
  batch_id: string;
  session_number: number;
  events: WireEvent[];
  events_count: number;
  events_truncated: boolean;
  events_next_cursor?: string;
}

/** A line of the `sessions` format. */
export type SessionsLine = Omit<WireSession, 'events_next_cursor'> & { events_truncated: false };

/** A line of the `pairs` format. */
export interface PairsLine {
  session_id: string;
  session_number: number;
  batch_id: string;
  created_at: number;
  user_id: string | null;
  /** search_query as sent (a string or an object). */
  query: string | Record<string, unknown>;
  is_irrelevant: boolean;
  /** Every shown result, in the order shown; position counts from 0. */
  results: { object_id: string; rank: number | null; position: number }[];
  /**
   * Results with at least one event (none when the session is irrelevant), in result order (the
   * first position of the object), with the times (ms) and types of their events, by time.
   */
  clicked: { object_id: string; position: number; times: number[]; event_types: string[] }[];
  /** Object ids of the results not in `clicked`, in result order: every result when irrelevant. */
  negatives: string[];
}

export const FORMATS = ['sessions', 'pairs'] as const;
export type LineFormat = (typeof FORMATS)[number];

/** Refuses a session whose events are not all there: a line never holds a cut session. */
function assertWhole(s: WireSession): void {
  if (s.events_truncated || s.events.length !== s.events_count) {
    throw new Error(
      `Session ${s.session_id} holds ${s.events.length} of ${s.events_count} events${s.events_truncated ? ' (truncated)' : ''}; read the rest first`,
    );
  }
}

const byTime = (a: WireEvent, b: WireEvent) =>
  a.created_at - b.created_at || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0);

export function sessionsLineObject(s: WireSession): SessionsLine {
  assertWhole(s);
  return {
    session_id: s.session_id,
    search_query: s.search_query,
    search_results: s.search_results,
    search_meta: s.search_meta,
    payload_filter: s.payload_filter,
    sort_by: s.sort_by,
    user_id: s.user_id,
    created_at: s.created_at,
    received_at: s.received_at,
    is_irrelevant: s.is_irrelevant,
    batch_id: s.batch_id,
    session_number: s.session_number,
    events: s.events,
    events_count: s.events.length,
    events_truncated: false,
  };
}

export function pairsLineObject(s: WireSession): PairsLine {
  assertWhole(s);
  const firstPosition = new Map<string, number>();
  s.search_results.forEach((r, position) => {
    if (!firstPosition.has(r.object_id)) firstPosition.set(r.object_id, position);
  });
  const eventsByObject = new Map<string, WireEvent[]>();
  if (!s.is_irrelevant) {
    for (const e of [...s.events].sort(byTime)) {
      if (!firstPosition.has(e.object_id)) continue; // an event on an object that was not shown
      const list = eventsByObject.get(e.object_id);
      if (list) list.push(e);
      else eventsByObject.set(e.object_id, [e]);
    }
  }
  const clicked = [...eventsByObject.entries()]
    .map(([objectId, events]) => ({
      object_id: objectId,
      position: firstPosition.get(objectId)!,
      times: events.map((e) => e.created_at),
      event_types: events.map((e) => e.event_type),
    }))
    .sort((a, b) => a.position - b.position);
  return {
    session_id: s.session_id,
    session_number: s.session_number,
    batch_id: s.batch_id,
    created_at: s.created_at,
    user_id: s.user_id,
    query: s.search_query,
    is_irrelevant: s.is_irrelevant,
    results: s.search_results.map((r, position) => ({ object_id: r.object_id, rank: r.rank, position })),
    clicked,
    negatives: s.search_results.filter((r) => !eventsByObject.has(r.object_id)).map((r) => r.object_id),
  };
}

/** One line of the `sessions` format (JSON, no trailing newline). */
export const sessionsLine = (s: WireSession): string => JSON.stringify(sessionsLineObject(s));

/** One line of the `pairs` format (JSON, no trailing newline). */
export const pairsLine = (s: WireSession): string => JSON.stringify(pairsLineObject(s));

export const lineOf = (format: LineFormat, s: WireSession): string =>
  format === 'pairs' ? pairsLine(s) : sessionsLine(s);
