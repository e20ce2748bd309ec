/** The benchmark's request bodies: a session and click events of realistic size. */

/** Events a push_events request carries in the throughput figures (API and floor). */
export const EVENTS_PER_REQUEST = 100;

/** A session body of realistic size: a query, 10 results with a little meta. */
export function sessionBody(sessionId: string) {
  return {
    session_id: sessionId,
    search_query: 'red running shoes size 42',
    search_results: Array.from({ length: 10 }, (_, i) => ({
      object_id: `product-${1000 + i}`,
      rank: i + 1,
      meta: { score: 0.9 - i * 0.05 },
    })),
    user_id: 'user-12345',
  };
}

/** `count` click events of realistic size (about 150 bytes stored), with ids `${prefix}-0`, `${prefix}-1`... */
export const events = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({
    event_id: `${prefix}-${i}`,
    object_id: `product-${1000 + (i % 10)}`,
    event_type: 'click',
    meta: { position: i % 10 },
  }));
