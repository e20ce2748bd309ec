/**
 * fast-check arbitraries for hostile input: ids at and past their limits, values of every wrong type,
 * `__proto__` / `constructor` keys, deep nesting, unsafe numbers, lone surrogates, invalid UTF-8,
 * empty and oversized bodies, wrong media types, and query strings of every shape. At the end: valid
 * bodies with random content for load (the soak, the crash test).
 */
import fc from 'fast-check';

export const MIB = 1024 * 1024;

/** Keys that would pollute or confuse a careless object merge. */
export const PROTO_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
];

/** Makes an object with own properties for every entry, `__proto__` included (as JSON.parse does). */
export function ownObject(entries: [string, unknown][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries)
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

/** A pool the generators draw from at generation time (tests add ids as they create them). */
export class Pool {
  readonly values: string[];
  constructor(initial: string[] = []) {
    this.values = [...initial];
  }
  add(v: string) {
    if (!this.values.includes(v)) this.values.push(v);
  }
  arb(): fc.Arbitrary<string> {
    return fc.nat().map((i) => (this.values.length === 0 ? 'empty-pool' : this.values[i % this.values.length]!));
  }
}

const unit = fc.constantFrom<'grapheme' | 'binary' | 'grapheme-ascii' | 'binary-ascii'>(
  'grapheme',
  'binary',
  'grapheme-ascii',
  'binary-ascii',
);

/** Strings of any code points (no lone surrogates: those cannot travel as UTF-8). */
export const anyString = (maxLength = 40) => unit.chain((u) => fc.string({ unit: u, maxLength }));

/** Id-shaped strings at and around the 1..128 limits, key-prefix look-alikes included. */
export const idEdge = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    'x'.repeat(128),
    'x'.repeat(129),
    'é'.repeat(128),
    'é'.repeat(129),
    '😀'.repeat(128),
    '😀'.repeat(129),
    '#',
    'SESSION#x',
    'EVENT#',
    'BATCH#x#SHARD#0',
    'BATCHES',
    'RELEASE#',
    '__proto__',
    'constructor',
    '../../etc/passwd',
    '%00',
    '\u0000',
    '\u202e',
    '\ufeff',
    'a\nb',
  ),
  anyString(130).filter((s) => s.length > 0),
  fc.string({ unit: 'grapheme-ascii', minLength: 120, maxLength: 140 }),
);

/** Nesting `depth` levels deep, arrays and objects mixed. */
export const deepValue = (depth: number, leaf: unknown = 1): unknown => {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { d: v };
  return v;
};

/** A value of some type a field does not expect, hostile shapes included. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom<unknown>(
      null,
      true,
      false,
      0,
      -1,
      1.5,
      -0.5,
      1e308,
      2 ** 53 - 1,
      '',
      '0',
      '1700000000',
      'true',
      'null',
      [],
      {},
      [null],
      [{}],
      { object_id: 'o' },
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 70 }).map((d) => deepValue(d)) },
  { weight: 1, arbitrary: fc.constantFrom(1, 1000, 100_000, 500_000).map((n) => 'x'.repeat(n)) },
  {
    weight: 1,
    arbitrary: fc.array(fc.constantFrom(...PROTO_KEYS)).map((ks) => ownObject(ks.map((k) => [k, { polluted: 'yes' }]))),
  },
  { weight: 1, arbitrary: idEdge },
);

/** JSON objects for meta-like fields, `__proto__` / `constructor` keys included. */
export const metaObject: fc.Arbitrary<Record<string, unknown>> = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...PROTO_KEYS), anyString(12)), fc.jsonValue({ maxDepth: 3 })), {
    maxLength: 6,
  })
  .map((entries) => ownObject(entries));

/** Timestamps of every accepted and refused form (values relative to now when it is generated). */
export const timestampValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(undefined),
  fc.integer({ min: -3000, max: 100 }).map((d) => Math.floor(Date.now() / 1000) + d),
  fc.integer({ min: -3_000_000, max: 100_000 }).map((d) => Date.now() + d),
  fc.integer({ min: -3000, max: 100 }).map((d) => new Date(Date.now() + d * 1000).toISOString()),
  fc.integer({ min: -3000, max: 100 }).map((d) => new Date(Date.now() + d * 1000).toISOString().replace('Z', '')),
  fc.constantFrom<unknown>(
    0,
    -1,
    1.5,
    true,
    '1700000000',
    '2024-13-01T00:00:00Z',
    'yesterday',
    null,
    99_999_999_999,
    100_000_000_000,
    2 ** 53,
    1e20,
    1e21,
    1e300,
  ),
);

/** Media types: which ones the service must take as JSON. */
export const JSON_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json ; charset=utf-8',
  'application/json;',
  ' application/json\t',
  'APPLICATION/JSON',
  'Application/Json;charset=UTF-8',
  'application/vnd.api+json',
  'application/problem+json',
];
export const NON_JSON_TYPES = [
  'text/plain',
  'text/json',
  'text/plain; x=application/json',
  ' ; application/json',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/jsonx',
  'application/json, text/plain',
  'json',
  '*/*',
  'application/',
  '',
];

export type BodyKind =
  | 'valid'
  | 'mutated'
  | 'arbitrary-json'
  | 'proto'
  | 'malformed'
  | 'invalid-utf8'
  | 'empty'
  | 'huge'
  | 'deep'
  | 'unsafe-number'
  | 'lone-surrogate'
  | 'float-timestamp'
  | 'unknown-field';

export interface PostCase {
  kind: BodyKind;
  contentType: string | undefined;
  body: Buffer;
  /** Delivered base64-encoded, as API Gateway does for binary media types (handler share only). */
  base64: boolean;
  /** The value the body encodes, when it is JSON. */
  value?: unknown;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
export function isUtf8(bytes: Buffer): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** What the request guard must answer regardless of the route (undefined: the route decides). */
export function envelopeStatus(c: PostCase): number | undefined {
  if (c.body.length > MIB) return 413;
  if (c.contentType === undefined || !JSON_TYPES.includes(c.contentType)) return 415;
  if (c.kind === 'invalid-utf8' && isUtf8(c.body)) return undefined; // the inserted bytes happened to form valid text
  if (
    ['malformed', 'invalid-utf8', 'empty', 'deep', 'unsafe-number', 'lone-surrogate', 'float-timestamp'].includes(
      c.kind,
    )
  )
    return 422;
  if (c.value === null || typeof c.value !== 'object' || Array.isArray(c.value)) return 422;
  return undefined;
}

/** Every path (of keys and indexes) into a JSON value, the root excluded. */
export function pathsOf(
  value: unknown,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  if (Array.isArray(value)) value.forEach((v, i) => (out.push([...prefix, i]), pathsOf(v, [...prefix, i], out)));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push([...prefix, k]);
      pathsOf(v, [...prefix, k], out);
    }
  }
  return out;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/**
 * A valid body with a value that JSON.parse would alter (`literal`, as JSON text): inside a stored
 * object (search_meta of a session, meta of an event) it must be refused with 422; in an unknown
 * field (bodies with no such object) it is ignored with the field, and the body is judged as valid.
 */
function alteredValue(v: Record<string, unknown>, kind: 'unsafe-number' | 'lone-surrogate', literal: string) {
  const copy = clone(v) as Record<string, any>;
  const events = copy.events as Record<string, unknown>[] | undefined;
  if (Array.isArray(events) && events.length > 0) events[0]!.meta = FLOAT_MARK;
  else if ('search_results' in copy) copy.search_meta = FLOAT_MARK;
  else {
    const text = withLeading(`"unknown_field":{"x":${literal}}`, v);
    return { kind: 'unknown-field' as const, value: JSON.parse(text) as unknown, body: Buffer.from(text, 'utf8') };
  }
  const text = JSON.stringify(copy).replace(JSON.stringify(FLOAT_MARK), `{"x":${literal}}`);
  return { kind, body: Buffer.from(text, 'utf8') };
}
/** Stands for a number literal while a body is built as a value, then replaced in its text. */
const FLOAT_MARK = '\u0000float-timestamp\u0000';

/** The value with the node at `path` replaced by `replacement`, deleted, or given an extra key. */
export function mutate(
  value: unknown,
  path: (string | number)[],
  how: 'replace' | 'delete' | 'extra',
  replacement: unknown,
): unknown {
  const copy = clone(value);
  if (path.length === 0) return replacement;
  let parent: any = copy;
  for (const p of path.slice(0, -1)) parent = parent[p];
  const last = path.at(-1)!;
  if (how === 'replace') parent[last] = replacement;
  else if (how === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (parent[last] !== null && typeof parent[last] === 'object' && !Array.isArray(parent[last])) {
    Object.defineProperty(parent[last], `unknown_${String(last)}`, {
      value: replacement,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else parent[last] = replacement;
  return copy;
}

/** The JSON text of object `v` with `members` (JSON text of key:value pairs) written first. */
const withLeading = (members: string, v: Record<string, unknown>) => {
  const rest = JSON.stringify(v).slice(1, -1);
  return `{${members}${rest ? `,${rest}` : ''}}`;
};

/** Hostile and valid bodies around a route's valid body. */
export function postCase(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<PostCase> {
  const json = (kind: BodyKind, value: unknown, extra = '') => ({
    kind,
    value,
    body: Buffer.from(JSON.stringify(value) + extra, 'utf8'),
  });
  const bodies = fc.oneof(
    { weight: 30, arbitrary: valid.map((v) => json('valid', v)) },
    {
      weight: 25,
      arbitrary: fc
        .tuple(
          valid,
          fc.nat(),
          fc.constantFrom<'replace' | 'delete' | 'extra'>('replace', 'replace', 'delete', 'extra'),
          wrongValue,
        )
        .map(([v, i, how, w]) => {
          const paths = pathsOf(v);
          return json('mutated', mutate(v, paths.length ? paths[i % paths.length]! : [], how, w));
        }),
    },
    { weight: 8, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => json('arbitrary-json', v)) },
    {
      weight: 8,
      arbitrary: fc
        .tuple(valid, fc.array(fc.tuple(fc.constantFrom(...PROTO_KEYS), wrongValue), { minLength: 1, maxLength: 4 }))
        .map(([v, extra]) => {
          // Own `__proto__` / `constructor` keys at the top, next to (and as text, before) the real fields.
          const text = withLeading(extra.map(([k, x]) => `${JSON.stringify(k)}:${JSON.stringify(x)}`).join(','), v);
          return { kind: 'proto' as const, value: JSON.parse(text), body: Buffer.from(text, 'utf8') };
        }),
    },
    {
      weight: 5,
      arbitrary: fc.tuple(valid, fc.nat()).map(([v, cut]) => {
        const text = JSON.stringify(v);
        return { kind: 'malformed' as const, body: Buffer.from(text.slice(0, cut % text.length), 'utf8') };
      }),
    },
    {
      weight: 3,
      arbitrary: fc
        .constantFrom(
          '{',
          '}',
          '{"a":}',
          "{'a': 1}",
          '{"a": 1,}',
          'NaN',
          '{"a": NaN}',
          '{"a": Infinity}',
          '[',
          'undefined',
          '\u0000',
          '{"a":1}{"b":2}',
          '// x\n{}',
        )
        .map((t) => ({ kind: 'malformed' as const, body: Buffer.from(t) })),
    },
    {
      weight: 6,
      arbitrary: fc
        .tuple(
          valid,
          fc.nat(),
          fc.constantFrom(
            [0xff],
            [0xc3],
            [0xed, 0xa0, 0x80],
            [0xc0, 0xaf],
            [0xf8, 0x88, 0x80, 0x80, 0x80],
            [0x80],
            [0xf4, 0x90, 0x80, 0x80],
          ),
        )
        .map(([v, at, bad]) => {
          const text = Buffer.from(JSON.stringify(v), 'utf8');
          const i = at % (text.length + 1);
          return {
            kind: 'invalid-utf8' as const,
            body: Buffer.concat([text.subarray(0, i), Buffer.from(bad), text.subarray(i)]),
          };
        }),
    },
    { weight: 3, arbitrary: fc.constant({ kind: 'empty' as const, body: Buffer.alloc(0) }) },
    {
      weight: 2,
      arbitrary: fc.tuple(valid, fc.constantFrom(MIB + 1, MIB + 100, 2 * MIB, 6 * MIB + 1)).map(([v, size]) => {
        const text = JSON.stringify(v);
        return {
          kind: 'huge' as const,
          value: v,
          body: Buffer.from(text + ' '.repeat(Math.max(0, size - text.length)), 'utf8'),
        };
      }),
    },
    {
      weight: 3,
      // As text: deeper than JSON.stringify can recurse. The top-level object is the first level.
      arbitrary: fc.tuple(valid, fc.integer({ min: 65, max: 100_000 })).map(([v, depth]) => {
        const text = withLeading(`"deep":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}`, v);
        return { kind: 'deep' as const, body: Buffer.from(text, 'utf8') };
      }),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          valid,
          fc.constantFrom(
            '9007199254740993',
            '-9007199254740993',
            '12345678901234567890',
            '1e400',
            '-1e400',
            '1e-400',
            '123456789012345678901234567890',
          ),
        )
        .map(([v, n]) => alteredValue(v, 'unsafe-number', n)),
    },
    {
      weight: 3,
      // A created_at written as a float literal with a whole value (`1700000000.0`): JSON.parse reads an
      // integer, Python a float, and the contract refuses floats. Sessions and events; other bodies stay valid.
      arbitrary: fc.tuple(valid, fc.constantFrom('.0', 'e0', '.000', 'E+0', '000.0', '0e-1')).map(([v, suffix]) => {
        const copy = clone(v) as Record<string, any>;
        const events = copy.events as Record<string, unknown>[] | undefined;
        if (Array.isArray(events) && events.length > 0) events[0]!.created_at = FLOAT_MARK;
        else if ('search_results' in copy) copy.created_at = FLOAT_MARK;
        else return json('valid', v);
        const text = JSON.stringify(copy).replace(
          JSON.stringify(FLOAT_MARK),
          `${Math.floor(Date.now() / 1000)}${suffix}`,
        );
        return { kind: 'float-timestamp' as const, value: JSON.parse(text), body: Buffer.from(text, 'utf8') };
      }),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(valid, fc.constantFrom('\\ud800', '\\udfff', '\\ud83d x', '\\ud83d\\u0041'))
        .map(([v, s]) => alteredValue(v, 'lone-surrogate', `"${s}"`)),
    },
  );
  const contentType = fc.oneof(
    { weight: 12, arbitrary: fc.constant('application/json') },
    { weight: 3, arbitrary: fc.constantFrom(...JSON_TYPES) },
    { weight: 2, arbitrary: fc.constantFrom<string | undefined>(...NON_JSON_TYPES, undefined) },
  );
  return fc
    .tuple(bodies, contentType, fc.integer({ min: 0, max: 9 }))
    .map(([b, ct, d]) => ({ ...b, contentType: ct, base64: d === 0 }) as PostCase);
}

/**
 * Query strings: each known key present or not, with a likely value or an edge one; repeated keys,
 * unknown and prototype keys; sometimes raw, unencoded garbage.
 */
export function queryCase(
  required: string[],
  optional: string[],
  valueFor: Record<string, fc.Arbitrary<string>>,
): fc.Arbitrary<string> {
  const keys = [...required, ...optional];
  const numbers = fc.constantFrom(
    '0',
    '1',
    '-1',
    '10',
    '1000',
    '1001',
    '10000',
    '10001',
    '9007199254740991',
    '9007199254740992',
    '99999999999999999',
    '1e3',
    '0x10',
    '１０',
    ' 1',
    '01',
    '1.0',
    '',
    'NaN',
    'true',
  );
  const value = (k: string) =>
    fc.oneof(
      { weight: 40, arbitrary: Object.hasOwn(valueFor, k) ? valueFor[k]! : anyString() },
      { weight: 2, arbitrary: numbers },
      { weight: 1, arbitrary: anyString(300) },
      { weight: 1, arbitrary: idEdge },
    );
  // fc.option gives null (key left out) once in `freq` draws.
  const known = fc.tuple(
    ...keys.map((k) =>
      fc.option(
        value(k).map((v) => [k, v] as [string, string]),
        { freq: required.includes(k) ? 12 : 2 },
      ),
    ),
  );
  const extra = fc.array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom(...keys),
        fc.constantFrom(...PROTO_KEYS, 'include_irrelevant', 'events_after'),
        anyString(10),
      ),
      anyString(20),
    ),
    { maxLength: 2 },
  );
  const encoded = fc
    .tuple(
      known,
      fc.oneof({ weight: 4, arbitrary: fc.constant([] as [string, string][]) }, { weight: 1, arbitrary: extra }),
    )
    .map(([pairs, more]) =>
      new URLSearchParams([...pairs.filter((p): p is [string, string] => p !== null), ...more]).toString(),
    );
  const raw = fc.oneof(
    fc.string({
      unit: fc.constantFrom('a', '=', '&', '%', 'z', '2', 'F', '+', ';', '?', '/', ' ', 'é', '[', ']'),
      maxLength: 30,
    }),
    fc
      .tuple(
        fc.constantFrom(...keys),
        fc.constantFrom('%', '%zz', '%E9', '%ED%A0%80', '%00', '%C0%AF', 'a%20b', '%2B', '&', '==', ''),
      )
      .map(([k, v]) => `${k}=${v}`),
  );
  return fc.oneof({ weight: 8, arbitrary: encoded }, { weight: 1, arbitrary: raw });
}

/** Query parameters as API Gateway might hand them over after decoding: any code units, lone surrogates too. */
export function rawParams(
  keys: string[],
  valueFor: Record<string, fc.Arbitrary<string>>,
): fc.Arbitrary<Record<string, string>> {
  const lone = fc.constantFrom('\ud800', '\udfff', '\ud83d', '\u0000', '\ufffe');
  const value = (k: string) =>
    fc.oneof(
      Object.hasOwn(valueFor, k) ? valueFor[k]! : anyString(),
      fc
        .tuple(Object.hasOwn(valueFor, k) ? valueFor[k]! : anyString(), lone, fc.nat())
        .map(([v, l, i]) => v.slice(0, i % (v.length + 1)) + l + v.slice(i % (v.length + 1))),
      fc.string({ unit: 'binary', maxLength: 140 }),
    );
  return fc.tuple(...keys.map((k) => fc.option(value(k), { freq: 4 }))).map((vals) => {
    const out: Record<string, string> = {};
    keys.forEach((k, i) => {
      if (vals[i] !== null) out[k] = vals[i]!;
    });
    return out;
  });
}

// ------------------------------------------------------------------ valid bodies at random (load: the soak, the crash test)

export const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
export const chance = (p: number) => Math.random() < p;
export const int = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
/** `value` with probability `p`, spread into a body. */
export const maybe = (p: number, value: () => Record<string, unknown>) => (chance(p) ? value() : {});
const recent = () => (chance(0.5) ? Date.now() - int(0, 240_000) : Math.floor(Date.now() / 1000) - int(0, 240));

/** A valid create_session body with random content, optional fields now and then. */
export const randomSession = (id: string) => ({
  session_id: id,
  search_query: chance(0.3)
    ? { text: `query ${int(1, 99)}`, filters: { color: pick(['red', 'blue', 'green']) } }
    : `query ${int(1, 99)}`,
  search_results: Array.from({ length: int(0, 6) }, (_, i) => ({
    object_id: `obj-${int(1, 500)}`,
    ...maybe(0.8, () => ({ rank: i + 1 })),
    ...maybe(0.3, () => ({ meta: { title: `item ${i}`, score: Math.round(Math.random() * 1000) / 1000 } })),
  })),
  ...maybe(0.3, () => ({ search_meta: { engine: 'load', page: int(1, 5) } })),
  ...maybe(0.2, () => ({ payload_filter: { in_stock: chance(0.5) } })),
  ...maybe(0.2, () => ({ sort_by: { field: 'price', order: pick(['asc', 'desc']) } })),
  ...maybe(0.5, () => ({ user_id: `user-${int(1, 50)}` })),
  ...maybe(0.3, () => ({ created_at: Date.now() - int(0, 240_000) })),
});

/** A valid event with random content, optional fields now and then. */
export const randomEvent = (eventId: string) => ({
  ...{ event_id: eventId, object_id: `obj-${int(1, 500)}` },
  ...maybe(0.3, () => ({ event_type: pick(['view', 'add_to_cart', 'purchase']) })),
  ...maybe(0.3, () => ({ created_at: recent() })),
  ...maybe(0.3, () => ({ meta: { position: int(1, 20), note: 'x'.repeat(int(0, 200)) } })),
});
