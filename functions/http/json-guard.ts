/**
 * Checks a JSON text for what JSON.parse would accept but silently change: numbers that a double
 * cannot hold exactly (they would be stored altered), nesting deeper than we store safely, and
 * strings with unpaired surrogates (they cannot be written as UTF-8). One pass over the text.
 */
export const MAX_JSON_DEPTH = 64;

export type JsonGuardProblem =
  | { type: 'json_depth'; msg: string }
  | { type: 'number_precision'; msg: string }
  | { type: 'string_unicode'; msg: string };

const isDigit = (c: number) => c >= 48 && c <= 57;

function numberProblem(token: string): JsonGuardProblem | undefined {
  const value = Number(token);
  if (!Number.isFinite(value)) {
    return { type: 'number_precision', msg: `Number ${token.slice(0, 40)} is out of range` };
  }
  if (/^-?\d+$/.test(token)) {
    if (BigInt(token) !== BigInt(value)) {
      return { type: 'number_precision', msg: `Integer ${token.slice(0, 40)} cannot be stored exactly; send it as a string` };
    }
  } else if (value === 0 && /[1-9]/.test(token.split(/[eE]/)[0] ?? '')) {
    return { type: 'number_precision', msg: `Number ${token.slice(0, 40)} is too small to be stored` };
  }
  return undefined;
}

/** A path into a JSON value: object keys, and `*` for any index of an array. */
export type PathPattern = readonly string[];
export type JsonPath = (string | number)[];

/** A number found at a watched path: where it is and exactly how it was written. */
export interface NumberLiteral {
  path: JsonPath;
  lexeme: string;
}

/** A value JSON.parse would silently alter (an inexact number, a lone surrogate), and where it is. */
export interface Finding {
  path: JsonPath;
  problem: JsonGuardProblem;
}

export interface JsonScan {
  /** Nesting deeper than MAX_JSON_DEPTH: refused whatever the field. */
  problem?: JsonGuardProblem;
  /**
   * Values that would be altered, of the occurrence JSON.parse keeps (a key repeated in an object
   * drops what its earlier values held). The caller refuses those that land in the validated input;
   * the ones in unknown fields are ignored with their fields.
   */
  findings: Finding[];
  /**
   * Numbers at the watched paths whose parsed value hides how they were written (a float literal,
   * an integer past 2^53), of the occurrence JSON.parse keeps. They skip the precision check: their
   * own rules judge them.
   */
  literals: NumberLiteral[];
}

interface Frame {
  array: boolean;
  /** Arrays: the index of the current element. */
  index: number;
  /** Objects: where the current key's token is in the text, and the key once decoded. */
  keyStart: number;
  keyEnd: number;
  key: string | undefined;
  expectKey: boolean;
}

const isSafeIntegerLiteral = (lexeme: string) => /^-?\d+$/.test(lexeme) && Number.isSafeInteger(Number(lexeme));
const startsWith = (path: JsonPath, prefix: JsonPath) => prefix.length <= path.length && prefix.every((p, i) => path[i] === p);

/**
 * Scans a JSON text that JSON.parse accepted, in one pass: nesting depth, numbers a double cannot
 * hold, unpaired surrogates (each with its path), and the numbers at `watched` paths as written.
 * Keys are decoded only when a path is needed.
 */
export function scanJsonText(text: string, watched: readonly PathPattern[] = []): JsonScan {
  const frames: Frame[] = [];
  let findings: Finding[] = [];
  let literals: NumberLiteral[] = [];
  const keyOf = (f: Frame) => (f.key ??= JSON.parse(text.slice(f.keyStart, f.keyEnd)) as string);
  const pathHere = (): JsonPath => frames.map((f) => (f.array ? f.index : keyOf(f)));
  const matches = (pattern: PathPattern) =>
    frames.length === pattern.length &&
    pattern.every((p, k) => (p === '*' ? frames[k]!.array : !frames[k]!.array && keyOf(frames[k]!) === p));
  const find = (problem: JsonGuardProblem) => findings.push({ path: pathHere(), problem });
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const start = i;
      let unpaired = false;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) {
          if (text.charCodeAt(i + 1) === 117 /* u */) {
            const unit = parseInt(text.slice(i + 2, i + 6), 16);
            if (unit >= 0xd800 && unit <= 0xdbff) {
              const next = text.slice(i + 6, i + 8) === '\\u' ? parseInt(text.slice(i + 8, i + 12), 16) : -1;
              if (next >= 0xdc00 && next <= 0xdfff) {
                i += 12;
                continue;
              }
              unpaired = true;
            } else if (unit >= 0xdc00 && unit <= 0xdfff) unpaired = true;
            i += 6;
            continue;
          }
          i += 2;
          continue;
        }
        if (d >= 0xd800 && d <= 0xdfff) {
          const next = text.charCodeAt(i + 1);
          if (d <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
            i += 2;
            continue;
          }
          unpaired = true;
        }
        i++;
        if (d === 34) break;
      }
      const top = frames[frames.length - 1];
      if (top && !top.array && top.expectKey) {
        // A key: what earlier occurrences of it in this object held is dropped, as JSON.parse does.
        top.expectKey = false;
        top.keyStart = start;
        top.keyEnd = i;
        top.key = undefined;
        if (findings.length > 0 || literals.length > 0) {
          const prefix = pathHere();
          findings = findings.filter((f) => !startsWith(f.path, prefix));
          literals = literals.filter((l) => !startsWith(l.path, prefix));
        }
      }
      if (unpaired) find({ type: 'string_unicode', msg: 'String contains an unpaired surrogate; it cannot be stored as UTF-8' });
      continue;
    }
    if (c === 91 /* [ */ || c === 123 /* { */) {
      if (frames.length >= MAX_JSON_DEPTH) {
        return { problem: { type: 'json_depth', msg: `JSON is nested deeper than ${MAX_JSON_DEPTH} levels` }, findings, literals };
      }
      frames.push({ array: c === 91, index: 0, keyStart: 0, keyEnd: 0, key: undefined, expectKey: c === 123 });
    } else if (c === 93 || c === 125) {
      frames.pop();
    } else if (c === 44 /* , */) {
      const top = frames[frames.length - 1]!;
      if (top.array) top.index++;
      else top.expectKey = true;
    } else if (c === 45 /* - */ || isDigit(c)) {
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (isDigit(d) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45) j++;
        else break;
      }
      const lexeme = text.slice(i, j);
      if (watched.length > 0 && frames.length > 0 && watched.some(matches)) {
        if (!isSafeIntegerLiteral(lexeme)) literals.push({ path: pathHere(), lexeme });
      } else {
        const problem = numberProblem(lexeme);
        if (problem) find(problem);
      }
      i = j;
      continue;
    }
    i++;
  }
  return { findings, literals };
}

/** The object or array that holds the value at `path` in `value`, if that value is there (own properties only). */
export function holderOf(value: unknown, path: readonly PropertyKey[]): Record<PropertyKey, unknown> | undefined {
  let v = value;
  for (const [k, step] of path.entries()) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, step)) return undefined;
    if (k === path.length - 1) return v as Record<PropertyKey, unknown>;
    v = (v as Record<PropertyKey, unknown>)[step];
  }
  return undefined;
}

/** Whether `path` leads to a value in `value`. */
export const hasPath = (value: unknown, path: JsonPath): boolean => path.length === 0 || holderOf(value, path) !== undefined;
