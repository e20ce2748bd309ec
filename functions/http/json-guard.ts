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

/** A number found at a watched path: where it is and exactly how it was written. */
export interface NumberLiteral {
  path: (string | number)[];
  lexeme: string;
}

export interface JsonScan {
  problem?: JsonGuardProblem;
  /** Numbers at the watched paths, the last occurrence of each path only (as JSON.parse keeps it). */
  literals: NumberLiteral[];
}

interface Frame {
  array: boolean;
  /** Objects: the key whose value comes next. Arrays: the index of the next element. */
  key: string | undefined;
  index: number;
  expectKey: boolean;
}

/** Keys longer than any watched key are never decoded. */
const MAX_WATCHED_KEY_CHARS = 64;

function matches(frames: Frame[], pattern: PathPattern): boolean {
  if (frames.length !== pattern.length) return false;
  for (let k = 0; k < pattern.length; k++) {
    const f = frames[k]!;
    if (pattern[k] === '*' ? !f.array : f.array || f.key !== pattern[k]) return false;
  }
  return true;
}

/**
 * Scans a JSON text that JSON.parse accepted. Reports the first problem, and collects the numbers at
 * `watched` paths as written (JSON.parse turns `1.0` into 1 and rounds integers past 2^53; the
 * timestamp rules need the literal). Numbers at watched paths skip the precision check: their own
 * rules judge them. One pass over the text.
 */
export function scanJsonText(text: string, watched: readonly PathPattern[] = []): JsonScan {
  const frames: Frame[] = [];
  const literals = new Map<string, NumberLiteral>();
  const result = (problem?: JsonGuardProblem): JsonScan => ({ ...(problem ? { problem } : {}), literals: [...literals.values()] });
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const start = i;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) {
          if (text.charCodeAt(i + 1) === 117 /* u */) {
            const unit = parseInt(text.slice(i + 2, i + 6), 16);
            if (unit >= 0xd800 && unit <= 0xdbff) {
              const next = text.slice(i + 6, i + 8) === '\\u' ? parseInt(text.slice(i + 8, i + 12), 16) : -1;
              if (next < 0xdc00 || next > 0xdfff) return result(unpaired());
              i += 12;
              continue;
            }
            if (unit >= 0xdc00 && unit <= 0xdfff) return result(unpaired());
            i += 6;
            continue;
          }
          i += 2;
          continue;
        }
        if (d >= 0xd800 && d <= 0xdfff) {
          const next = text.charCodeAt(i + 1);
          if (d > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return result(unpaired());
          i += 2;
          continue;
        }
        i++;
        if (d === 34) break;
      }
      const top = frames[frames.length - 1];
      if (top && !top.array && top.expectKey) {
        top.expectKey = false;
        top.key = watched.length > 0 && i - start <= MAX_WATCHED_KEY_CHARS + 2 ? (JSON.parse(text.slice(start, i)) as string) : undefined;
      }
      continue;
    }
    if (c === 91 /* [ */ || c === 123 /* { */) {
      if (frames.length >= MAX_JSON_DEPTH) {
        return result({ type: 'json_depth', msg: `JSON is nested deeper than ${MAX_JSON_DEPTH} levels` });
      }
      frames.push({ array: c === 91, key: undefined, index: 0, expectKey: c === 123 });
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
      if (watched.length > 0 && frames.length > 0 && watched.some((p) => matches(frames, p))) {
        const path = frames.map((f) => (f.array ? f.index : f.key!));
        literals.set(JSON.stringify(path), { path, lexeme });
      } else {
        const problem = numberProblem(lexeme);
        if (problem) return result(problem);
      }
      i = j;
      continue;
    }
    i++;
  }
  return result();
}

/** The scan without watched paths: the first problem, if any. */
export const checkJsonText = (text: string): JsonGuardProblem | undefined => scanJsonText(text).problem;

function unpaired(): JsonGuardProblem {
  return { type: 'string_unicode', msg: 'String contains an unpaired surrogate; it cannot be stored as UTF-8' };
}
