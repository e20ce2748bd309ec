/**
 * Bodies built to make a request check slow (issue 15): the body that took 8.5 s before the JSON guard
 * became linear, and shapes of about 1 MiB (just under the body limit) that aim at each part of the
 * guard: deep arrays, repeated keys, many keys after a finding, long numbers, many surrogates, many
 * findings, many containers. Each is a push_events body with the answer it must get. The property
 * suite sends them through the real handler (the answers); the bench times the guard on them
 * against JSON.parse (`guard_worst_ratio`).
 */
import { MAX_JSON_FINDINGS } from '../../../functions/http/json-guard.js';

export const MIB = 1024 * 1024;

export interface AdversarialBody {
  name: string;
  text: string;
  /** The answer: 200, or 422 with this issue type (the first issue). */
  status: 200 | 422;
  type?: string;
  /** For a 422 at a field: where. */
  loc?: (string | number)[];
}

/** Copies of `unit` joined by `sep`, as many as fit in `bytes` (all ASCII here). */
const fill = (unit: string, bytes: number, sep = ',') =>
  Array(Math.max(1, Math.floor(bytes / (unit.length + sep.length))))
    .fill(unit)
    .join(sep);

/** Members `"k0":0,"k1":0,...` (distinct keys), as many as fit in `bytes`. */
const distinctKeys = (bytes: number) => {
  const out: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes - 20; i++) {
    const member = `"k${i}":0`;
    out.push(member);
    size += member.length + 1;
  }
  return out.join(',');
};

/**
 * The adversarial bodies for session `sessionId`. `eventPrefix` makes the event ids unique per call
 * (so that a second run reports `accepted` again, not `duplicate`); `nowSec` is a valid timestamp.
 */
export function adversarialBodies(sessionId: string, eventPrefix: string, nowSec: number): AdversarialBody[] {
  const event = (suffix: string, extra = '') => `{"event_id":"${eventPrefix}-${suffix}","object_id":"o"${extra}}`;
  // `{"session_id":..,"events":[..],<rest>}` of about `size` bytes; `rest` gets what is left.
  const head = (events: string) => `{"session_id":${JSON.stringify(sessionId)},"events":[${events}]`;
  const budget = (events: string, tail = 0) => MIB - 256 - head(events).length - tail;
  const issue15Events = Array.from({ length: 10 }, (_, i) => event(`i${i}`)).join(',');
  const one = event('one');
  const bodies: AdversarialBody[] = [
    {
      // The body of issue 15 (440 KB): 20,000 out-of-range numbers and 40,000 objects in unknown fields.
      name: 'issue-15',
      text: `${head(issue15Events)},"x":[${Array(20_000).fill('1e999').join(',')}],"y":[${Array(40_000).fill('{"a":0}').join(',')}]}`,
      status: 422,
      type: 'json_unsafe_values',
    },
    {
      name: 'many-findings',
      text: `${head(one)},"x":[${fill('1e999', budget(one))}]}`,
      status: 422,
      type: 'json_unsafe_values',
    },
    {
      // At the cap, in an unknown field (ignored), then a wide object: every later key is checked for a repeat.
      name: 'keys-after-findings',
      text: `${head(one)},"x":[${Array(MAX_JSON_FINDINGS).fill('1e999').join(',')}],${distinctKeys(budget(one, 700))}}`,
      status: 200,
    },
    {
      // One key repeated over and over, each occurrence holding a finding: the cap counts every one.
      name: 'repeated-keys-with-findings',
      text: `${head(one)},"x":{${fill('"a":[1.5,"\\ud800"]', budget(one))}}}`,
      status: 422,
      type: 'json_unsafe_values',
    },
    {
      // A finding under one key, then another key repeated: each repeat is looked up (and found absent).
      name: 'repeated-keys-after-a-finding',
      text: `${head(one)},"x":{"a":1e999,${fill('"b":0', budget(one))}}}`,
      status: 200,
    },
    {
      // The same without findings: only float timestamps replaced, then the valid one; 200.
      name: 'repeated-timestamps',
      text: `${head(event('rt', `,${fill('"created_at":1.5', MIB - 1024)},"created_at":${nowSec}`))}}`,
      status: 200,
    },
    {
      name: 'deep-arrays',
      text: `${head(one)},"x":[${fill(`${'['.repeat(62)}0${']'.repeat(62)}`, budget(one))}]}`,
      status: 200,
    },
    {
      name: 'too-deep',
      text: `${head(one)},"x":${'['.repeat(budget(one) / 2)}${']'.repeat(budget(one) / 2)}}`,
      status: 422,
      type: 'json_depth',
    },
    {
      name: 'long-integer-ignored',
      text: `${head(one)},"x":1${'0'.repeat(budget(one))}}`,
      status: 200,
    },
    {
      name: 'long-fraction-ignored',
      text: `${head(one)},"x":0.${'0'.repeat(budget(one))}1}`,
      status: 200,
    },
    {
      name: 'long-integer-used',
      text: `${head(event('liu', `,"meta":{"n":1${'0'.repeat(budget(one) - 100)}}`))}}`,
      status: 422,
      type: 'number_precision',
      loc: ['body', 'events', 0, 'meta', 'n'],
    },
    {
      name: 'lone-surrogates-ignored',
      text: `${head(one)},"x":"${fill('\\ud800', budget(one), '')}"}`,
      status: 200,
    },
    {
      name: 'lone-surrogates-used',
      text: `${head(event('lsu', `,"meta":{"s":"${fill('\\udc00', budget(one) - 100, '')}"}`))}}`,
      status: 422,
      type: 'string_unicode',
      loc: ['body', 'events', 0, 'meta', 's'],
    },
    {
      name: 'paired-surrogates',
      text: `${head(event('ps', `,"meta":{"s":"${fill('\\ud83d\\ude00', budget(one) - 100, '')}"}`))}}`,
      status: 200,
    },
    {
      name: 'many-containers',
      text: `${head(one)},"x":[${fill('{},[],{"a":[]}', budget(one))}]}`,
      status: 200,
    },
    {
      name: 'escapes',
      text: `${head(one)},"x":"${fill('\\n\\"\\u0041', budget(one), '')}"}`,
      status: 200,
    },
  ];
  for (const b of bodies) {
    if (Buffer.byteLength(b.text) > MIB)
      throw new Error(`adversarial body ${b.name} is ${Buffer.byteLength(b.text)} bytes`);
  }
  return bodies;
}
