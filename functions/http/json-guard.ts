/**
 * The JSON guard: parses a request body once (the engine's JSON.parse) and, in one linear pass over
 * the same text, finds what JSON.parse accepts but silently changes: numbers that a double cannot
 * hold exactly (they would be stored altered), strings with unpaired surrogates (they cannot be
 * written as UTF-8), and nesting deeper than we store safely. It also reads the numbers at watched
 * paths as they were written (timestamps: `1700000000.0` is a float to Python, not an integer).
 *
 * Bound: time and memory linear in the length of the text, for any shape. Every character is looked
 * at a constant number of times; each key is decoded at most once, and only when something was found
 * under its object; a value found is moved at most once per enclosing level (at most 64); what a
 * repeated key replaced is dropped in one step (no search); a body with more than
 * MAX_JSON_FINDINGS altered values is refused at once.
 */
export const MAX_JSON_DEPTH = 64;
/** More values that JSON.parse would alter than this, wherever they are: the body is refused. */
export const MAX_JSON_FINDINGS = 100;

export type JsonGuardProblem =
  | { type: 'json_invalid'; msg: string }
  | { type: 'json_depth'; msg: string }
  | { type: 'json_unsafe_values'; msg: string }
  | { type: 'number_precision'; msg: string }
  | { type: 'string_unicode'; msg: string };

/** A path into a JSON value: object keys, and `*` for any index of an array. */
export type PathPattern = readonly string[];
export type JsonPath = (string | number)[];

/** A value JSON.parse would silently alter (an inexact number, a lone surrogate), and where it is. */
export interface Finding {
  path: JsonPath;
  problem: JsonGuardProblem;
}

export interface JsonGuardOptions {
  /** Paths whose numbers are kept as written where their parsed value hides how they were written. */
  watched?: readonly PathPattern[];
  /**
   * What replaces such a number (a float literal such as `1.7e9` or `1700000000.0`, an integer past
   * 2^53) in the parsed value; its own rules judge it. Without it, the parsed number stays.
   */
  asWritten?: (lexeme: string) => unknown;
}

export type JsonRead =
  /** Not JSON, nested too deep, or too many altered values: refused whatever the fields. */
  | { problem: JsonGuardProblem; value?: undefined; findings?: undefined }
  | {
      problem?: undefined;
      /** JSON.parse's value (`__proto__` an own key, the last of repeated keys wins), watched numbers as written. */
      value: unknown;
      /**
       * Values that JSON.parse altered, of the occurrences it keeps (what a repeated key replaced is
       * dropped), in text order. The caller refuses those that land in the validated input; the ones
       * in unknown fields are ignored with their fields.
       */
      findings: Finding[];
    };

const NOT_JSON: JsonGuardProblem = { type: 'json_invalid', msg: 'JSON decode error: the body is not valid JSON' };

/** Parses `text` as JSON.parse does and checks it; never throws. */
export function readJson(text: string, options: JsonGuardOptions = {}): JsonRead {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: NOT_JSON };
  }
  const scan = scanJsonText(text, options.watched);
  if (scan.problem) return { problem: scan.problem };
  if (options.asWritten) {
    for (const { path, lexeme } of scan.literals) {
      if (path.length === 0) continue;
      const holder = holderOf(value, path);
      const last = path[path.length - 1]!;
      if (holder && typeof holder[last] === 'number') holder[last] = options.asWritten(lexeme);
    }
  }
  return { value, findings: scan.findings };
}

const isDigit = (c: number) => c >= 48 && c <= 57;

function numberProblem(token: string): JsonGuardProblem | undefined {
  const value = Number(token);
  if (!Number.isFinite(value)) {
    return { type: 'number_precision', msg: `Number ${token.slice(0, 40)} is out of range` };
  }
  if (/^-?\d+$/.test(token)) {
    // Finite, so at most 309 digits: BigInt is cheap here.
    if (BigInt(token) !== BigInt(value)) {
      return { type: 'number_precision', msg: `Integer ${token.slice(0, 40)} cannot be stored exactly; send it as a string` };
    }
  } else if (value === 0 && /[1-9]/.test(token.split(/[eE]/)[0] ?? '')) {
    return { type: 'number_precision', msg: `Number ${token.slice(0, 40)} is too small to be stored` };
  }
  return undefined;
}

/** A number found at a watched path: where it is and exactly how it was written. */
export interface NumberLiteral {
  path: JsonPath;
  lexeme: string;
}

export interface JsonScan {
  /** Nesting deeper than MAX_JSON_DEPTH, or more than MAX_JSON_FINDINGS findings: refused whatever the field. */
  problem?: JsonGuardProblem;
  /** Values that would be altered, of the occurrences JSON.parse keeps, in text order. */
  findings: Finding[];
  /**
   * Numbers at the watched paths whose parsed value hides how they were written (a float literal,
   * an integer past 2^53), of the occurrences JSON.parse keeps. They skip the precision check: their
   * own rules judge them.
   */
  literals: NumberLiteral[];
}

/** A finding or a literal, on its way up to the top. */
type Found = { path: JsonPath; problem: JsonGuardProblem; lexeme?: undefined } | { path: JsonPath; lexeme: string; problem?: undefined };

interface Frame {
  array: boolean;
  /** Arrays: the index of the current element. */
  index: number;
  /** Objects: where the current key's token is in the text, and the key once decoded. */
  keyStart: number;
  keyEnd: number;
  key: string | undefined;
  expectKey: boolean;
  /** Arrays: what the elements so far hold; objects: what the current member's value holds. */
  found: Found[];
  /** Objects: what each earlier member holds, by key (only members that hold something; the last occurrence). */
  members: Map<string, Found[]> | undefined;
}

const isSafeIntegerLiteral = (lexeme: string) => /^-?\d+$/.test(lexeme) && Number.isSafeInteger(Number(lexeme));

/** Moves `from` to the end of `into` (returns the list that holds both). */
const append = (into: Found[], from: Found[]): Found[] => {
  if (into.length === 0) return from;
  for (const f of from) into.push(f);
  return into;
};

/**
 * Scans a JSON text that JSON.parse accepted, in one pass: nesting depth, numbers a double cannot
 * hold, unpaired surrogates (each with its path), and the numbers at `watched` paths as written.
 */
export function scanJsonText(text: string, watched: readonly PathPattern[] = []): JsonScan {
  const frames: Frame[] = [];
  let top: Found[] = [];
  let findingCount = 0;
  let problem: JsonGuardProblem | undefined;
  const keyOf = (f: Frame) => (f.key ??= JSON.parse(text.slice(f.keyStart, f.keyEnd)) as string);
  const pathHere = (): JsonPath => frames.map((f) => (f.array ? f.index : keyOf(f)));
  const matches = (pattern: PathPattern) =>
    frames.length === pattern.length &&
    pattern.every((p, k) => (p === '*' ? frames[k]!.array : !frames[k]!.array && keyOf(frames[k]!) === p));
  const add = (found: Found) => {
    const f = frames[frames.length - 1];
    if (f) f.found.push(found);
    else top.push(found);
  };
  const find = (p: JsonGuardProblem) => {
    if (++findingCount > MAX_JSON_FINDINGS) {
      problem ??= {
        type: 'json_unsafe_values',
        msg: `The body holds more than ${MAX_JSON_FINDINGS} values that cannot be stored as sent (numbers a double cannot hold exactly, strings with unpaired surrogates)`,
      };
      return;
    }
    add({ path: pathHere(), problem: p });
  };
  /** The current member of object `f` ends: what it holds is kept under its key. */
  const endMember = (f: Frame) => {
    if (f.found.length === 0) return;
    (f.members ??= new Map()).set(keyOf(f), f.found);
    f.found = [];
  };
  const n = text.length;
  let i = 0;
  while (i < n && problem === undefined) {
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
      const f = frames[frames.length - 1];
      if (f && !f.array && f.expectKey) {
        f.expectKey = false;
        f.keyStart = start;
        f.keyEnd = i;
        f.key = undefined;
        // A key seen before in this object: what its earlier value held is dropped, as JSON.parse drops it.
        if (f.members !== undefined && f.members.size > 0) f.members.delete(keyOf(f));
      }
      if (unpaired) find({ type: 'string_unicode', msg: 'String contains an unpaired surrogate; it cannot be stored as UTF-8' });
      continue;
    }
    if (c === 91 /* [ */ || c === 123 /* { */) {
      if (frames.length >= MAX_JSON_DEPTH) {
        problem = { type: 'json_depth', msg: `JSON is nested deeper than ${MAX_JSON_DEPTH} levels` };
        break;
      }
      frames.push({ array: c === 91, index: 0, keyStart: 0, keyEnd: 0, key: undefined, expectKey: c === 123, found: [], members: undefined });
    } else if (c === 93 /* ] */ || c === 125 /* } */) {
      const f = frames.pop()!;
      let held = f.found;
      if (!f.array) {
        endMember(f);
        held = [];
        for (const list of f.members?.values() ?? []) held = append(held, list);
      }
      if (held.length > 0) {
        const parent = frames[frames.length - 1];
        if (parent) parent.found = append(parent.found, held);
        else top = append(top, held);
      }
    } else if (c === 44 /* , */) {
      const f = frames[frames.length - 1]!;
      if (f.array) f.index++;
      else {
        endMember(f);
        f.expectKey = true;
      }
    } else if (c === 45 /* - */ || isDigit(c)) {
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (isDigit(d) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45) j++;
        else break;
      }
      const lexeme = text.slice(i, j);
      if (watched.length > 0 && frames.length > 0 && watched.some(matches)) {
        if (!isSafeIntegerLiteral(lexeme)) add({ path: pathHere(), lexeme });
      } else {
        const p = numberProblem(lexeme);
        if (p) find(p);
      }
      i = j;
      continue;
    }
    i++;
  }
  if (problem) return { problem, findings: [], literals: [] };
  const findings: Finding[] = [];
  const literals: NumberLiteral[] = [];
  for (const f of top) {
    if (f.problem) findings.push({ path: f.path, problem: f.problem });
    else literals.push({ path: f.path, lexeme: f.lexeme });
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
