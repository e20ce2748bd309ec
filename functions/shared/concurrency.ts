/**
 * Maps with at most `limit` calls in flight; results keep the input's order. On a failure no new
 * call starts, and the returned promise rejects only once every call in flight has finished, so a
 * caller never answers while writes it started are still running.
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let failure: unknown;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length && !failed; i = next++) {
        try {
          out[i] = await fn(items[i]!, i);
        } catch (err) {
          if (!failed) failure = err;
          failed = true;
        }
      }
    }),
  );
  if (failed) throw failure;
  return out;
}

/** Waits a little longer after each attempt (exponential, with jitter, at most about a second). */
export const backoff = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.min(1000, 10 * 2 ** attempt) * (0.5 + Math.random())));
