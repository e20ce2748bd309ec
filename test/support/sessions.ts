/** The content of a plain test session number `i`: one result, nothing optional. */
export const content = (i: number) => ({
  search_query: `query ${i}`,
  search_results: [{ object_id: `o${i}`, rank: 1, meta: null }],
  search_meta: null,
  payload_filter: null,
  sort_by: null,
  user_id: null,
});

/** The least content a session can have: a query, no results, nothing optional. */
export const emptyContent = () => ({
  search_query: 'q',
  search_results: [],
  search_meta: null,
  payload_filter: null,
  sort_by: null,
  user_id: null,
});
