/**
 * Erasure of everything stored about a user (issue 12; README "Erasing a user").
 *
 * - `requestErasure` records a request under its request_id (the idempotency key) with the user id
 *   only as an HMAC, and queues it. `getErasure` answers its state: the receipt.
 * - `workOnErasures` is the worker: one step at a time, it runs a *pass* that serves every queued
 *   request at once. A pass
 *     1. takes the queued requests accepted at least `settleMs` ago (every create that started before
 *        a request was accepted has then committed: the function's maximum duration is less);
 *     2. scans the whole table in parallel segments (each segment's cursor is stored after every page,
 *        so a pass continues across invocations and crashes), and erases each session whose user_id
 *        has one of the requests' HMACs and that was received no later than that request was accepted
 *        (sessions created after it are new data and are kept): first a note for the sweep, then its
 *        batch membership (counted on the batch: `erasedCount`), then every item of its partition;
 *     3. once every segment is scanned (`scannedAt`), waits `sweepDelayMs` (more than a push's
 *        maximum duration) and sweeps each erased session's partition again: a push that read the
 *        session before it was deleted may have written events since. Items received up to
 *        `scannedAt` go; only a session created anew with the same session_id after the pass scanned
 *        stays. Then the requests are done.
 *   In AWS a schedule invokes the worker every few minutes; locally an in-process runner runs it at
 *   once (lib/local/erasure-runner.ts).
 */
import { randomUUID } from 'node:crypto';
import { mapLimited } from '../shared/concurrency.js';
import { conflict, notFound } from '../shared/errors.js';
import { userHmac } from '../storage/erasure-key.js';
import * as store from '../storage/erasure-store.js';
import type { ErasureRecord, ErasurePass, QueuedErasure, ScannedSession } from '../storage/erasure-store.js';

export type { ErasureRecord } from '../storage/erasure-store.js';

/** How the worker runs; AWS_ERASURE_POLICY in AWS, shorter waits locally. */
export interface ErasurePolicy {
  /** Scan segments of a pass (TotalSegments). */
  segments: number;
  /** Segments scanned at once by one worker. */
  concurrency: number;
  /** A request waits at least this long before a pass takes it (> create_session's maximum duration). */
  settleMs: number;
  /** The second sweep starts this long after the scan ended (> push_events' maximum duration). */
  sweepDelayMs: number;
  /** A pass starts only once the oldest queued request has waited this long: one Scan serves many requests. */
  batchWaitMs: number;
}

/** In AWS: functions run at most 29 s (API Gateway), so a minute covers any create or push in flight. */
export const AWS_ERASURE_POLICY: ErasurePolicy = {
  segments: 64,
  concurrency: 8,
  settleMs: 60_000,
  sweepDelayMs: 60_000,
  batchWaitMs: 12 * 3600_000,
};

/** The stack invokes the worker this often (an EventBridge schedule), each run for up to its timeout. */
export const ERASURE_SCHEDULE_MINUTES = 15;
export const ERASURE_WORKER_TIMEOUT_SECONDS = 900;

/** Requests one pass serves at most (the pass item lists them; the rest wait for the next pass). */
const MAX_PASS_REQUESTS = 1000;
const DELETE_CONCURRENCY = 16;

/** Something that runs the worker soon after a request (the local runner); in AWS the schedule does. */
export interface ErasureKicker {
  kick(): void;
}

let kicker: ErasureKicker | undefined;

export function setErasureKicker(next: ErasureKicker | undefined): void {
  kicker = next;
}

const erasureNotFound = (id: string) => notFound(`Erasure request with id=${id} not found`);

/**
 * Accepts the erasure of every session of `userId`, or answers the request already recorded under
 * `requestId`: the same request_id always names the same request. The same request_id with another
 * user is a conflict (409), and the stored request is not touched.
 */
export async function requestErasure(
  input: { requestId: string; userId: string },
  now = Date.now(),
): Promise<ErasureRecord> {
  const hmac = await userHmac(input.userId);
  const record: ErasureRecord = {
    requestId: input.requestId,
    userHmac: hmac,
    state: 'pending',
    acceptedAt: now,
    sessions: 0,
    events: 0,
    memberships: 0,
  };
  const outcome = await store.createErasure(record);
  const stored = outcome.created ? record : outcome.existing;
  if (stored.userHmac !== hmac)
    throw conflict(`Erasure request with id=${input.requestId} already exists for another user`);
  if (stored.state !== 'done') kicker?.kick();
  return outcome.created ? record : stored;
}

export async function getErasure(requestId: string): Promise<ErasureRecord> {
  const record = await store.getErasure(requestId);
  if (!record) throw erasureNotFound(requestId);
  return record;
}

export type WorkStep = { kind: 'idle' } | { kind: 'more' } | { kind: 'wait'; until: number };

/**
 * One step of the worker: start a pass, scan (until `deadline`), or sweep and finish. Call again
 * while it answers `more`; `wait` says when something becomes due; `idle`: nothing is queued.
 */
export async function workOnErasures(policy: ErasurePolicy, deadline: number, now = Date.now()): Promise<WorkStep> {
  let pass = await store.getPass();
  if (!pass) {
    const queued = await store.queuedErasures();
    if (queued.length === 0) return { kind: 'idle' };
    const due = queued.filter((q) => q.acceptedAt <= now - policy.settleMs);
    const oldest = queued[0]!.acceptedAt;
    if (due.length === 0 || oldest > now - policy.batchWaitMs) {
      return { kind: 'wait', until: Math.max(oldest + policy.batchWaitMs, oldest + policy.settleMs) };
    }
    pass = {
      passId: randomUUID(),
      requests: due.slice(0, MAX_PASS_REQUESTS),
      segments: policy.segments,
      phase: 'scan',
      startedAt: now,
    };
    if (!(await store.createPass(pass))) return { kind: 'more' };
    for (const r of pass.requests) await store.markRunning(r.requestId, pass.passId, now);
  }
  if (pass.phase === 'scan') {
    const finished = await scanPass(pass, policy.concurrency, deadline);
    if (!finished) return { kind: 'more' };
    await store.passScanned(pass.passId, Date.now());
    pass = await store.getPass();
    if (!pass) return { kind: 'more' };
  }
  const sweepAt = (pass.scannedAt ?? 0) + policy.sweepDelayMs;
  if (Date.now() < sweepAt) return { kind: 'wait', until: sweepAt };
  await sweepPass(pass);
  return { kind: 'more' };
}

/** Scans the segments not done yet, `concurrency` at a time; true when every segment is done. */
async function scanPass(pass: ErasurePass, concurrency: number, deadline: number): Promise<boolean> {
  const segments = Array.from({ length: pass.segments }, (_, s) => s);
  const done = await mapLimited(segments, concurrency, async (segment) => {
    let state = await store.getSegment(pass.passId, segment);
    while (!state.done) {
      if (Date.now() > deadline) return false;
      const page = await store.scanSessions(segment, pass.segments, state.cursor);
      for (const s of page.sessions) {
        const request = await requestFor(pass.requests, s);
        if (request) await eraseSession(request.requestId, s);
      }
      state = page.next ? { cursor: page.next, done: false } : { done: true };
      await store.putSegment(pass.passId, segment, state);
    }
    return true;
  });
  return done.every(Boolean);
}

/** The request of the pass that takes this session: its user's, accepted no earlier than the session was received. */
async function requestFor(requests: QueuedErasure[], s: ScannedSession): Promise<QueuedErasure | undefined> {
  let userId: unknown;
  try {
    userId = (JSON.parse(s.content) as { user_id?: unknown }).user_id;
  } catch {
    return undefined;
  }
  if (typeof userId !== 'string') return undefined;
  const hmac = await userHmac(userId);
  return requests.find((r) => r.userHmac === hmac && s.receivedAt <= r.acceptedAt);
}

/**
 * Erases one session: a note for the sweep first (so a crash leaves nothing unswept), then its batch
 * membership (no push can reserve event slots after that), then every item of its partition, the
 * session item last. Repeating it deletes nothing twice and counts nothing twice.
 */
async function eraseSession(requestId: string, s: ScannedSession): Promise<void> {
  const now = Date.now();
  await store.putErasedNote(requestId, {
    sessionId: s.sessionId,
    batchId: s.batchId,
    sessionNumber: s.sessionNumber,
    erasedAt: now,
  });
  const membership = await store.deleteMembership(s.batchId, s.sessionNumber, now);
  const erased = await erasePartition(s.sessionId, Number.MAX_SAFE_INTEGER);
  await store.addCounts(requestId, {
    sessions: erased.sessions,
    events: erased.events,
    memberships: membership ? 1 : 0,
  });
}

/** Deletes the items of a session's partition received no later than `until`, events before the session item. */
async function erasePartition(sessionId: string, until: number): Promise<{ sessions: number; events: number }> {
  const items: { pk: string; sk: string }[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await store.partitionItems(sessionId, start);
    for (const i of page.items) if ((i.receivedAt ?? 0) <= until) items.push({ pk: i.pk, sk: i.sk });
    start = page.next;
  } while (start);
  const events = items.filter((i) => !store.isSessionItem(i.sk));
  const deleted = await mapLimited(events, DELETE_CONCURRENCY, (key) => store.deleteItem(key));
  let sessions = 0;
  for (const i of items.filter((x) => store.isSessionItem(x.sk))) if (await store.deleteItem(i)) sessions++;
  return { sessions, events: deleted.filter(Boolean).length };
}

/**
 * The second sweep: each erased session's partition again, for events written by pushes that read
 * the session before it was deleted (they ended within the sweep delay), then the requests are done.
 */
async function sweepPass(pass: ErasurePass): Promise<void> {
  const until = pass.scannedAt ?? Date.now();
  for (const r of pass.requests) {
    const notes = await store.erasedNotes(r.requestId);
    await mapLimited(notes, DELETE_CONCURRENCY, async (note) => {
      const late = await erasePartition(note.sessionId, until);
      await store.addCounts(r.requestId, { sessions: late.sessions, events: late.events, memberships: 0 });
      await store.deleteErasedNote(r.requestId, note.sessionId);
    });
    await store.markDone(r.requestId, Date.now());
  }
  for (let s = 0; s < pass.segments; s++) await store.deleteSegment(s);
  await store.deletePass(pass.passId);
}
