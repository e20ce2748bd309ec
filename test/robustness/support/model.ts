/**
 * What the service must have stored, kept by the tests from the answers they got (a ledger), the
 * checks every answer must pass, and the audit that compares the ledger with the table itself.
 */
import { expect } from 'vitest';
import { jsonEqual } from '../../../functions/domain/equality.js';
import {
  eventContent as normalizedEvent,
  sessionContent as normalizedSession,
  type SessionFields,
} from '../../../functions/domain/types.js';
import { toMillis, WrittenNumber } from '../../../functions/shared/timestamps.js';
import type { Answer } from './invoke.js';
import type { AckedWrite, StoredState } from './storage.js';

/** JSON text with object keys sorted, own `__proto__` keys included: equal texts mean equal JSON values. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

/** The service's own JSON equality (functions/domain/equality.ts): key order does not matter, array order does. */
export const sameJson = jsonEqual;

/** Every answer, whatever the input: no 5xx, JSON, and the contract's error body. */
export function checkAnswer(a: Answer, context: string): void {
  const where = `${context} -> ${a.status} ${a.text.slice(0, 300)}`;
  expect(a.status, where).toBeGreaterThanOrEqual(200);
  expect(a.status, where).toBeLessThan(500);
  expect(a.headers['content-type'] ?? '', where).toMatch(/^application\/json/);
  expect(a.json, where).toBeDefined();
  if (a.status < 400) return;
  const body = a.json as { detail?: unknown };
  expect(body !== null && typeof body === 'object' && !Array.isArray(body), where).toBe(true);
  expect(body, where).toHaveProperty('detail');
  if (a.status === 422) {
    expect(Array.isArray(body.detail), where).toBe(true);
    const issues = body.detail as unknown[];
    expect(issues.length, where).toBeGreaterThan(0);
    for (const issue of issues) {
      const i = issue as { loc: unknown[]; msg: unknown; type: unknown };
      expect(Array.isArray(i.loc), where).toBe(true);
      expect(['body', 'query'], where).toContain(i.loc[0]);
      for (const part of i.loc) expect(['string', 'number'], where).toContain(typeof part);
      expect(typeof i.msg, where).toBe('string');
      expect(typeof i.type, where).toBe('string');
    }
  } else {
    expect(typeof body.detail, where).toBe('string');
    expect((body.detail as string).length, where).toBeGreaterThan(0);
  }
  if (a.status === 405) expect(a.headers.allow, where).toBeTruthy();
}

/** A refused request may reserve session numbers on a shard counter; it never writes a record. */
export function expectNoRecordWritten(writes: AckedWrite[], context: string): void {
  const records = writes.flatMap((w) =>
    w.keys.filter((k) => !k.pk.startsWith('SHARD#')).map((k) => `${w.operation} ${k.pk} ${k.sk}`),
  );
  expect(records, `${context}: a refused request wrote records`).toEqual([]);
}

// ------------------------------------------------------------------ the ledger

export interface SessionEntry {
  content: Record<string, unknown>;
  /** undefined: the server filled it in */
  createdAt: number | undefined;
  irrelevant: boolean;
  events: Map<string, EventEntry>;
}

export interface EventEntry {
  content: { object_id: unknown; event_type: unknown; meta: unknown };
  createdAt: number | undefined;
}

/**
 * The timestamp a value stands for once JSON.stringify wrote it: integers from 2^53 up to 1e21 are
 * written as integer literals (milliseconds far outside every window), from 1e21 as float literals
 * (`1e+21`, refused).
 */
const ms = (v: unknown) =>
  v === undefined || v === null
    ? undefined
    : typeof v === 'number' && v >= 2 ** 53 && v < 1e21
      ? toMillis(new WrittenNumber(JSON.stringify(v)))
      : toMillis(v);

/** The normalized content of a create_session body, as the contract stores it (sort_by with the schema's defaults). */
export function sessionContent(body: Record<string, any>): Record<string, unknown> {
  const sortBy =
    body.sort_by == null
      ? null
      : {
          field: body.sort_by.field,
          order: body.sort_by.order ?? 'asc',
          force_not_payload: body.sort_by.force_not_payload ?? false,
        };
  return { ...normalizedSession({ ...body, sort_by: sortBy } as SessionFields) };
}

export const eventContent = (e: Record<string, any>) =>
  normalizedEvent({ ...e, event_type: e.event_type ?? 'click' } as Parameters<typeof normalizedEvent>[0]);

export type ReleaseJson = { release_id: string; batch_id: string; released_at: number; session_count: number };

export class Ledger {
  readonly sessions = new Map<string, SessionEntry>();
  /** release id -> the answer it got */
  readonly releases = new Map<string, Record<string, unknown>>();
  /** batch id -> session ids, for released batches */
  readonly released = new Map<string, Set<string>>();

  /**
   * Checks a create_session answer against the ledger and records a new session. `retried`: the same
   * request was sent before and got no answer (its sender crashed), so it may have created the
   * session already: `created: false` is then right for a session the ledger does not know yet.
   */
  onCreate(body: Record<string, any>, a: Answer, context: string, o: { retried?: boolean } = {}): void {
    const id = typeof body?.session_id === 'string' ? body.session_id : undefined;
    const known = id !== undefined ? this.sessions.get(id) : undefined;
    if (a.status === 200) {
      if (o.retried && !known)
        expect(a.json, context).toEqual({
          session_id: id,
          created: (a.json as { created?: unknown })?.created === true,
        });
      else expect(a.json, context).toEqual({ session_id: id, created: !known });
      const content = sessionContent(body);
      const createdAt = ms(body.created_at);
      if (known) {
        expect(
          sameJson(known.content, content) && known.createdAt === createdAt,
          `${context}: created:false for different content`,
        ).toBe(true);
      } else {
        this.sessions.set(id!, { content, createdAt, irrelevant: false, events: new Map() });
      }
    } else if (a.status === 409) {
      expect(known, `${context}: 409 for an unknown session`).toBeDefined();
      expect(a.json, context).toEqual({ detail: `Session with id=${id} already exists` });
    } else if (a.status === 400) {
      expect(String((a.json as { detail: string }).detail), context).toMatch(/^Invalid utc timestamp: /);
    }
  }

  /** `retried`: as for onCreate, an event of this very request may have been stored by its unanswered first attempt. */
  onPush(body: Record<string, any>, a: Answer, context: string, o: { retried?: boolean } = {}): void {
    const id = typeof body?.session_id === 'string' ? body.session_id : undefined;
    const session = id !== undefined ? this.sessions.get(id) : undefined;
    if (a.status === 404) {
      expect(session, `${context}: 404 for a known session`).toBeUndefined();
      expect(a.json, context).toEqual({ detail: `Session with id=${id} not found` });
      return;
    }
    if (a.status !== 200) return;
    expect(session, `${context}: 200 for an unknown session`).toBeDefined();
    const res = a.json as {
      session_id: string;
      accepted: number;
      duplicates: number;
      rejected: number;
      results: { event_id: string; status: string; detail?: string }[];
    };
    const events = body.events as Record<string, any>[];
    expect(res.session_id, context).toBe(id);
    expect(res.results.length, context).toBe(events.length);
    let accepted = 0;
    let duplicates = 0;
    let rejected = 0;
    events.forEach((e, i) => {
      const r = res.results[i]!;
      expect(r.event_id, context).toBe(e.event_id);
      const stored = session!.events.get(e.event_id);
      const content = eventContent(e);
      const createdAt = ms(e.created_at);
      const same = stored && sameJson(stored.content, content) && stored.createdAt === createdAt;
      switch (r.status) {
        case 'accepted':
          accepted++;
          expect(stored, `${context}: accepted an event stored already`).toBeUndefined();
          session!.events.set(e.event_id, { content, createdAt });
          break;
        case 'duplicate':
          duplicates++;
          if (o.retried && !stored) {
            session!.events.set(e.event_id, { content, createdAt }); // stored by the unanswered attempt
            break;
          }
          expect(same, `${context}: duplicate of different or missing content`).toBe(true);
          break;
        case 'conflict':
          rejected++;
          expect(stored !== undefined && !same, `${context}: conflict without a different stored event`).toBe(true);
          expect(r.detail, context).toMatch(/already exists with different content/);
          break;
        case 'rejected':
          rejected++;
          expect(createdAt, `${context}: rejected without created_at`).toBeDefined();
          expect(r.detail, context).toMatch(/^Invalid utc timestamp: /);
          break;
        default:
          throw new Error(`${context}: unknown status ${r.status}`);
      }
    });
    expect([res.accepted, res.duplicates, res.rejected], context).toEqual([accepted, duplicates, rejected]);
  }

  onMark(body: Record<string, any>, a: Answer, context: string): void {
    const id = typeof body?.session_id === 'string' ? body.session_id : undefined;
    const session = id !== undefined ? this.sessions.get(id) : undefined;
    if (a.status === 200) {
      expect(session, `${context}: marked an unknown session`).toBeDefined();
      expect(a.json, context).toEqual({ session_id: id, is_irrelevant: true });
      session!.irrelevant = true;
    } else if (a.status === 404) {
      expect(session, `${context}: 404 for a known session`).toBeUndefined();
    }
  }

  /** A get_session answer (200) against the ledger: every field as sent, events verbatim. */
  onGetSession(id: string | undefined, a: Answer, context: string, full: boolean): void {
    const session = id !== undefined ? this.sessions.get(id) : undefined;
    if (a.status === 404) {
      expect(session, `${context}: 404 for a known session`).toBeUndefined();
      return;
    }
    if (a.status !== 200) return;
    expect(session, `${context}: 200 for an unknown session`).toBeDefined();
    const got = a.json as Record<string, any>;
    this.expectSession(id!, got, context, full);
  }

  expectSession(id: string, got: Record<string, any>, context: string, full: boolean): void {
    const session = this.sessions.get(id)!;
    expect(got.session_id, context).toBe(id);
    for (const [k, v] of Object.entries(session.content)) {
      expect(sameJson(got[k], v), `${context}: field ${k} not returned as stored`).toBe(true);
    }
    if (session.createdAt !== undefined) expect(got.created_at, context).toBe(session.createdAt);
    expect(got.is_irrelevant, context).toBe(session.irrelevant);
    expect(got.events_count, context).toBe(session.events.size);
    if (full) {
      expect(got.events_truncated, context).toBe(false);
      expect(got.events.length, context).toBe(session.events.size);
    }
    const seen = new Set<string>();
    for (const e of got.events as Record<string, any>[]) {
      expect(seen.has(e.event_id), `${context}: event ${e.event_id} twice`).toBe(false);
      seen.add(e.event_id);
      const want = session.events.get(e.event_id);
      expect(want, `${context}: event ${e.event_id} not in the ledger`).toBeDefined();
      expect(
        sameJson({ object_id: e.object_id, event_type: e.event_type, meta: e.meta }, want!.content),
        `${context}: event ${e.event_id} altered`,
      ).toBe(true);
      if (want!.createdAt !== undefined) expect(e.created_at, context).toBe(want!.createdAt);
    }
  }

  /**
   * The answers (none of them 503) of concurrent calls with one release_id. Calls that counted an empty
   * batch may answer 404 while another call with the same id releases (README); every 200 for one id
   * is the identical answer, forever. Returns the answer of a release the ledger did not know (recorded).
   */
  onRelease(releaseId: string, answers: Answer[], context: string): ReleaseJson | undefined {
    const before = this.releases.get(releaseId);
    for (const a of answers) {
      if (a.status === 404) {
        expect(a.json, context).toEqual({ detail: 'There is no collecting batch' });
        expect(before, `${context}: 404 for a release_id that was answered before`).toBeUndefined();
      } else expect(a.status, `${context}: ${a.text}`).toBe(200);
    }
    const ok = answers.filter((a) => a.status === 200).map((a) => a.json as ReleaseJson);
    for (const r of ok) expect(r, `${context}: concurrent calls with one release_id`).toEqual(ok[0]);
    if (before && ok.length > 0) expect(ok[0], `${context}: the same release_id later`).toEqual(before);
    if (before || ok.length === 0) return undefined;
    expect(ok[0]!.release_id, context).toBe(releaseId);
    for (const other of this.releases.values())
      expect(other.batch_id, `${context}: a batch released twice`).not.toBe(ok[0]!.batch_id);
    this.releases.set(releaseId, ok[0]!);
    return ok[0];
  }

  /** The members of a released batch, read after its release answered: as many as it counted, each once. */
  onMembers(batchId: string, members: string[], context: string): void {
    const answer = [...this.releases.values()].find((r) => r.batch_id === batchId)!;
    expect(members, `${context}: members of batch ${batchId}`).toHaveLength(answer.session_count as number);
    expect(new Set(members).size, `${context}: members of batch ${batchId} listed twice`).toBe(members.length);
    this.released.set(batchId, new Set(members));
  }

  /** The released batches of each session of the ledger (one each, once every batch is released), and members it does not know. */
  homes(): { batchesOf: Map<string, string[]>; strangers: string[] } {
    const batchesOf = new Map([...this.sessions.keys()].map((id) => [id, [] as string[]]));
    const strangers: string[] = [];
    for (const [batchId, members] of this.released)
      for (const id of members) batchesOf.get(id)?.push(batchId) ?? strangers.push(id);
    return { batchesOf, strangers };
  }

  /** The table holds exactly the ledger's sessions and events, stored whole; every session in one batch. */
  audit(state: StoredState, context: string): { sessions: number; events: number } {
    expect([...state.sessions.keys()].sort(), `${context}: sessions in the table`).toEqual(
      [...this.sessions.keys()].sort(),
    );
    let events = 0;
    for (const [id, entry] of this.sessions) {
      const item = state.sessions.get(id)!;
      const stored = JSON.parse(item.content as string) as Record<string, unknown>;
      expect(sameJson(stored, entry.content), `${context}: session ${id} stored altered`).toBe(true);
      expect(item.isIrrelevant === true, `${context}: irrelevant flag of ${id}`).toBe(entry.irrelevant);
      const storedEvents = state.events.get(id) ?? new Map();
      expect([...storedEvents.keys()].sort(), `${context}: events of ${id}`).toEqual([...entry.events.keys()].sort());
      for (const [eid, e] of entry.events) {
        const content = JSON.parse(storedEvents.get(eid)!.content as string);
        expect(sameJson(content, e.content), `${context}: event ${id}/${eid} stored altered`).toBe(true);
        events++;
      }
    }
    for (const sid of state.events.keys())
      expect(this.sessions.has(sid), `${context}: events of unknown session ${sid}`).toBe(true);
    const memberships = new Map<string, number>();
    for (const members of state.members.values())
      for (const m of members)
        memberships.set(m.sessionId as string, (memberships.get(m.sessionId as string) ?? 0) + 1);
    for (const id of this.sessions.keys())
      expect(memberships.get(id), `${context}: batch memberships of ${id}`).toBe(1);
    expect(memberships.size, `${context}: members without a session`).toBe(this.sessions.size);
    expect([...state.releases.keys()].sort(), `${context}: releases in the table`).toEqual(
      [...this.releases.keys()].sort(),
    );
    return { sessions: this.sessions.size, events };
  }
}

/** Object.prototype as it was when the run began; polluting it shows up as a difference. */
export function prototypeSnapshot(): string[] {
  return Object.getOwnPropertyNames(Object.prototype).sort();
}

export function expectNoPollution(before: string[], context: string): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort(), `${context}: Object.prototype changed`).toEqual(before);
  const probe = {} as Record<string, unknown>;
  expect(probe.polluted, `${context}: polluted`).toBeUndefined();
  expect(Object.getPrototypeOf(probe), context).toBe(Object.prototype);
}
