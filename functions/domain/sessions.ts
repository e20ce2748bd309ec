/** The four client operations: create a session, read it, push its events, flag it irrelevant. */
import { randomBytes } from 'node:crypto';
import { backoff, mapLimited } from '../shared/concurrency.js';
import { config } from '../shared/config.js';
import { conflict, DomainError, notFound, unavailable } from '../shared/errors.js';
import { inWindow, type TimeWindow } from '../shared/timestamps.js';
import { assertSessionFits, insertSession } from '../storage/batch-store.js';
import * as store from '../storage/session-store.js';
import { dropBlock, ensureShardsRegistered, takeSlot } from './allocation.js';
import { helpFinishRelease } from './release.js';
import { compareCodePoints, jsonEqual, sameCreatedAt } from './equality.js';
import type { EventContent, EventRecord, SessionContent, SessionRecord } from './types.js';

export interface SentTimestamp {
  ms: number;
  raw: string | number;
}

export interface CreateSessionInput {
  sessionId: string;
  content: SessionContent;
  createdAt?: SentTimestamp;
  /** The creator; with clientAuth=jwt its `sub` becomes the session's owner. */
  caller?: Caller;
}

const window = (): TimeWindow => config();
const MAX_CREATE_ATTEMPTS = 12;

/** Who calls a client operation. With clientAuth=jwt, `sub` is the token's subject. */
export interface Caller {
  sub?: string;
}

/** A session belongs to the `sub` that created it; without a caller's `sub` nothing is checked. */
const owns = (ownerSub: string | undefined, caller: Caller) => caller.sub === undefined || ownerSub === caller.sub;

const invalidTimestamp = (raw: string | number) =>
  new DomainError('invalid_timestamp', `Invalid utc timestamp: ${raw}`);
const sessionNotFound = (id: string) => notFound(`Session with id=${id} not found`);

function isRetryOf(stored: SessionRecord, input: CreateSessionInput): boolean {
  return (
    jsonEqual(stored.content, input.content) &&
    sameCreatedAt(stored, input.createdAt?.ms) &&
    owns(stored.ownerSub, input.caller ?? {})
  );
}

/**
 * Creates a session in the collecting batch; a retry with the same content changes nothing. Never
 * waits for a release: a release abandoned by its caller that this process noticed is helped along
 * only after the session is stored, for at most CREATE_HELP_MS.
 */
export async function createSession(input: CreateSessionInput, now = Date.now()): Promise<{ created: boolean }> {
  const record: SessionRecord = {
    sessionId: input.sessionId,
    content: input.content,
    createdAt: input.createdAt?.ms ?? now,
    createdAtAuto: input.createdAt === undefined,
    receivedAt: now,
    isIrrelevant: false,
    batchId: '00000000-0000-0000-0000-000000000000',
    sessionNumber: Number.MAX_SAFE_INTEGER,
    ...(input.caller?.sub !== undefined ? { ownerSub: input.caller.sub } : {}),
  };
  if (input.createdAt && !inWindow(input.createdAt.ms, now, window())) {
    const stored = await store.getSession(input.sessionId);
    if (stored && isRetryOf(stored, input)) return { created: false };
    throw invalidTimestamp(input.createdAt.raw);
  }
  assertSessionFits(record);
  await ensureShardsRegistered(now);

  for (let attempt = 0; attempt < MAX_CREATE_ATTEMPTS; attempt++) {
    const slot = await takeSlot(now);
    const outcome = await insertSession({ ...record, batchId: slot.batchId, sessionNumber: slot.sessionNumber });
    switch (outcome.kind) {
      case 'created':
        if (slot.abandonedRelease) await helpFinishRelease(slot.abandonedRelease);
        return { created: true };
      case 'exists':
        if (isRetryOf(outcome.existing, input)) return { created: false };
        throw conflict(`Session with id=${input.sessionId} already exists`);
      case 'sealed':
        dropBlock(slot.block); // its batch is being released: the next number comes from a new block
        break;
      case 'contention':
        await backoff(attempt);
        break;
    }
  }
  throw unavailable('Too much contention on the collecting batch; retry the request');
}

export interface SessionView {
  session: SessionRecord;
  events: EventRecord[];
  /** How many events the session has in all. */
  eventCount: number;
  /** Set when `events` is not the whole remainder: where the next read starts. */
  next?: EventPosition;
  /** Stored size of the items read (DynamoDB's rules), when read from storage. */
  storedBytes?: number;
}

export interface EventPosition {
  createdAt: number;
  eventId: string;
}

export interface EventSelection {
  limit: number;
  after?: EventPosition;
  /** Stops adding events once their measured size reaches this budget (at least one is added). */
  maxBytes?: number;
  measure?: (event: EventRecord) => number;
}

export const compareEvents = (a: EventPosition, b: EventPosition) =>
  a.createdAt - b.createdAt || compareCodePoints(a.eventId, b.eventId);

/**
 * Picks, from a session's events seen one by one in any order, what `selectEvents` would pick from
 * all of them sorted: the events after the cursor in (created_at, event_id) order, at most `limit`,
 * within `maxBytes` (at least one). Memory stays bounded whatever the session holds: it keeps at most
 * about twice the selection (count and bytes) and sorts and trims when it grows past that, keeping
 * only the key of the first event that did not fit (every later candidate after it cannot fit either).
 */
export class EventSelector {
  private kept: { event: EventRecord; size: number }[] = [];
  private keptBytes = 0;
  /** The smallest event known not to fit: nothing after it can be selected. */
  private blocker?: EventPosition;
  /** All events seen. */
  count = 0;
  /** Events after the cursor. */
  private remaining = 0;

  constructor(private readonly sel: EventSelection) {}

  add(event: EventRecord): void {
    this.count++;
    if (this.sel.after && compareEvents(event, this.sel.after) <= 0) return;
    this.remaining++;
    if (this.blocker && compareEvents(event, this.blocker) > 0) return;
    const size = this.sel.measure?.(event) ?? 0;
    this.kept.push({ event, size });
    this.keptBytes += size;
    const { limit, maxBytes } = this.sel;
    if (
      this.kept.length > limit + Math.max(limit, 1000) ||
      (maxBytes !== undefined && this.keptBytes > 2 * maxBytes + size)
    )
      this.trim();
  }

  /** Sorts what is kept and cuts it to the selection; remembers the first event that did not fit. */
  private trim(): void {
    this.kept.sort((a, b) => compareEvents(a.event, b.event));
    let bytes = 0;
    let n = 0;
    for (; n < this.kept.length; n++) {
      const { size } = this.kept[n]!;
      if (n >= this.sel.limit) break;
      if (n > 0 && this.sel.maxBytes !== undefined && bytes + size > this.sel.maxBytes) break;
      bytes += size;
    }
    if (n < this.kept.length) {
      const first = this.kept[n]!.event;
      this.blocker = { createdAt: first.createdAt, eventId: first.eventId };
      this.kept.length = n;
    }
    this.keptBytes = bytes;
  }

  result(): Omit<SessionView, 'session'> {
    this.trim();
    const events = this.kept.map((k) => k.event);
    const last = events.at(-1);
    return {
      events,
      eventCount: this.count,
      ...(this.remaining > events.length && last ? { next: { createdAt: last.createdAt, eventId: last.eventId } } : {}),
    };
  }
}

/** Orders a session's events and takes the part that was asked for, saying where the rest starts. */
export function selectEvents(all: EventRecord[], sel: EventSelection): Omit<SessionView, 'session'> {
  const selector = new EventSelector(sel);
  for (const event of all) selector.add(event);
  return selector.result();
}

export interface ReadSessionOptions {
  /** Strongly consistent (default) or eventually consistent reads (half the read units). */
  consistent?: boolean;
  /** False: an irrelevant session is not read past the page that shows its flag, and is left out. */
  includeIrrelevant?: boolean;
  events: EventSelection;
  /** Read no further than the first page of a session this refuses (it is then left out). */
  accept?: (session: SessionRecord) => boolean;
}

/** Items of the first page when irrelevant sessions are skipped: the flag costs at most this page. */
const FIRST_PAGE_ITEMS_SKIPPING = 100;

/**
 * A session and the events that were asked for, read with ONE paged Query of its partition (the
 * session item comes first). Pages hold at most PARTITION_PAGE_ITEMS items (and DynamoDB's 1 MB),
 * and the selector keeps only what can be returned, so memory stays bounded for any session.
 * Undefined when the session does not exist, or is irrelevant and `includeIrrelevant` is false.
 * Events are keyed by event_id but returned by created_at, so every event is read (README).
 */
export async function readSession(sessionId: string, o: ReadSessionOptions): Promise<SessionView | undefined> {
  const selector = new EventSelector(o.events);
  const consistent = o.consistent ?? true;
  let session: SessionRecord | undefined;
  let bytes = 0;
  let first = true;
  const firstLimit = o.includeIrrelevant === false ? FIRST_PAGE_ITEMS_SKIPPING : store.PARTITION_PAGE_ITEMS;
  for await (const page of store.sessionPartitionPages(sessionId, { consistent, firstLimit })) {
    if (page.session) session = page.session;
    if (!session) return undefined; // the first item of the partition read backwards is the session
    if (first && o.includeIrrelevant === false && session.isIrrelevant) return undefined;
    if (first && o.accept && !o.accept(session)) return undefined;
    for (const event of page.events) selector.add(event);
    bytes += page.bytes;
    first = false;
  }
  return { session: session!, ...selector.result(), storedBytes: bytes };
}

/** A session with the events asked for; another caller's session is as unknown as a missing one. */
export async function getSession(sessionId: string, sel: EventSelection, caller: Caller = {}): Promise<SessionView> {
  const view = await readSession(sessionId, { events: sel, accept: (s) => owns(s.ownerSub, caller) });
  if (!view) throw sessionNotFound(sessionId);
  return view;
}

export async function markIrrelevant(sessionId: string, caller: Caller = {}): Promise<void> {
  if (!(await store.markIrrelevant(sessionId, caller.sub))) throw sessionNotFound(sessionId);
}

export interface EventInput {
  eventId: string;
  content: EventContent;
  createdAt?: SentTimestamp;
}

export type EventStatus = 'accepted' | 'duplicate' | 'conflict' | 'rejected';

export interface EventOutcome {
  event_id: string;
  status: EventStatus;
  detail?: string;
}

export interface PushResult {
  accepted: number;
  duplicates: number;
  rejected: number;
  results: EventOutcome[];
}

export const PUT_CONCURRENCY = 32;

/**
 * Stores a session's events. Each (session_id, event_id) is written once with a conditional put
 * (first write wins); a repeat with the same content is a duplicate, with other content a conflict.
 * A session holds at most `maxEventsPerSession` events: the request first reserves a slot for each
 * event id it may write (one atomic update of the session's counter), gives back the slots it did
 * not use, and reports events past the cap `rejected`. A retry of a stored event is a duplicate,
 * also at the cap. Resolves only when every accepted event is stored; a storage failure rejects
 * the whole call.
 */
export async function pushEvents(
  sessionId: string,
  inputs: EventInput[],
  now = Date.now(),
  caller: Caller = {},
): Promise<PushResult> {
  const head = await store.getSessionHead(sessionId);
  if (!head || !owns(head.ownerSub, caller)) throw sessionNotFound(sessionId);

  const writeToken = randomBytes(9).toString('base64url');
  const records = inputs.map((e): EventRecord => ({
    sessionId,
    eventId: e.eventId,
    content: e.content,
    createdAt: e.createdAt?.ms ?? now,
    createdAtAuto: e.createdAt === undefined,
    receivedAt: now,
    writeToken,
  }));
  records.forEach((r) => store.assertEventFits(r));

  // Occurrences of one event_id are handled in request order, like retries; ids run in parallel.
  const groups = new Map<string, number[]>();
  inputs.forEach((e, i) => {
    const indexes = groups.get(e.eventId);
    if (indexes) indexes.push(i);
    else groups.set(e.eventId, [i]);
  });
  const results: EventOutcome[] = new Array(inputs.length);
  const w = window();
  const cap = config().maxEventsPerSession;
  const inTime = (i: number) => !inputs[i]!.createdAt || inWindow(records[i]!.createdAt, now, w);

  // Ids that may be written (an occurrence inside the time window) need a slot each.
  const candidates = [...groups.values()].filter((indexes) => indexes.some(inTime));
  const reserved = candidates.length > 0 ? await store.reserveEventSlots(head, candidates.length, cap) : 0;
  if (reserved === 'expired') throw sessionNotFound(sessionId);
  // How each id is settled where it would be written: put it, or (no slot) only look it up.
  const plan = new Map<number[], { put: true } | { put: false; stored: EventRecord | undefined }>();
  if (reserved < candidates.length) {
    // At the cap: ids already stored need no slot (a retry is a duplicate, never refused for the
    // cap); the slots go to the new ids in request order, and the rest are rejected.
    const stored = await mapLimited(candidates, PUT_CONCURRENCY, (indexes) =>
      store.getEvent(sessionId, inputs[indexes[0]!]!.eventId),
    );
    let free = reserved;
    candidates.forEach((indexes, k) => {
      if (stored[k] === undefined && free > 0) {
        free--;
        plan.set(indexes, { put: true });
      } else plan.set(indexes, { put: false, stored: stored[k] });
    });
  }
  let written = 0;

  const handleGroup = async (indexes: number[]) => {
    let stored: EventRecord | undefined;
    for (const i of indexes) {
      const input = inputs[i]!;
      const record = records[i]!;
      const matches = (s: EventRecord) => jsonEqual(s.content, input.content) && sameCreatedAt(s, input.createdAt?.ms);
      if (stored) {
        results[i] = matches(stored)
          ? { event_id: input.eventId, status: 'duplicate' }
          : conflictOutcome(input.eventId);
        continue;
      }
      if (!inTime(i)) {
        const existing = await store.getEvent(sessionId, input.eventId);
        if (existing && matches(existing)) {
          stored = existing;
          results[i] = { event_id: input.eventId, status: 'duplicate' };
        } else {
          results[i] = {
            event_id: input.eventId,
            status: 'rejected',
            detail: `Invalid utc timestamp: ${input.createdAt!.raw} (allowed: ${w.maxDeltaMinusSec} s before to ${w.maxDeltaPlusSec} s after the server's time)`,
          };
        }
        continue;
      }
      const how = plan.get(indexes) ?? { put: true };
      if (!how.put && !how.stored) {
        results[i] = {
          event_id: input.eventId,
          status: 'rejected',
          detail: `Session ${sessionId} holds its maximum of ${cap} events; the event was not stored`,
        };
        continue;
      }
      const put = how.put ? await store.putEventOnce(record) : { stored: false as const, existing: how.stored! };
      if (put.stored) {
        written++;
        stored = record;
        results[i] = { event_id: input.eventId, status: 'accepted' };
      } else {
        stored = put.existing;
        results[i] = matches(put.existing)
          ? { event_id: input.eventId, status: 'duplicate' }
          : conflictOutcome(input.eventId);
      }
    }
  };

  try {
    // Resolves once every write in flight has finished, also when one of them failed.
    await mapLimited([...groups.values()], PUT_CONCURRENCY, handleGroup);
  } finally {
    // Slots not used go back. Should that fail, the counter counts a few events too many (a cap
    // reached a little early), never too few: the cap is never exceeded.
    await store.releaseEventSlots(head, reserved - written).catch(() => undefined);
  }

  const count = (s: EventStatus) => results.filter((r) => r.status === s).length;
  return {
    accepted: count('accepted'),
    duplicates: count('duplicate'),
    rejected: count('rejected') + count('conflict'),
    results,
  };
}

const conflictOutcome = (eventId: string): EventOutcome => ({
  event_id: eventId,
  status: 'conflict',
  detail: `Event with id=${eventId} already exists with different content; the first write is kept`,
});
