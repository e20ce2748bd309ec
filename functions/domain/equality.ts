/** Equality of JSON values as JSON means it: object key order does not matter, array order does. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => jsonEqual(v, bb[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every(
    (k) =>
      Object.prototype.hasOwnProperty.call(b, k) &&
      jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}

/**
 * Whether a retry's timestamp matches a stored one: a retry that omits created_at matches a value
 * the server filled in; an explicit one must be the same instant.
 */
export function sameCreatedAt(
  stored: { createdAt: number; createdAtAuto: boolean },
  sent: number | undefined,
): boolean {
  return sent === undefined ? stored.createdAtAuto : stored.createdAt === sent;
}

/** Orders strings by Unicode code point (as Python does), not by UTF-16 unit. */
export function compareCodePoints(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
