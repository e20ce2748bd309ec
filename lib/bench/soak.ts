/**
 * The soak: a bounded mixed load against the local server (creates, pushes with duplicates, marks,
 * releases, reads of sessions and of released batches) for a while, then a read-back of everything
 * through the API, checked item for item against a ledger of what the server said it accepted:
 * zero lost, zero duplicated, zero altered, every released batch's membership equal to what its
 * release reported (and unchanged since), every session in exactly one batch, zero 5xx.
 *
 * `npm run bench -- --soak` calls `runSoak`; it talks only to a server on the loopback interface.
 * The table may hold other traffic (the benchmark's own sessions): such sessions are counted as
 * "foreign" where they show up in batches, and are not held against the ledger.
 */
import { randomUUID } from 'node:crypto';

export interface SoakOptions {
  /** The API base, e.g. http://127.0.0.1:3000/api/v1/clickstream (loopback only). */
  baseUrl: string;
  durationMs: number;
  /** Clients sending at once (default 8). */
  concurrency?: number;
  /** Upper bound on requests of the load phase, whatever the duration (default 2,000,000). */
  maxOperations?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

interface Reply {
  status: number;
  body: any;
}

interface EventEntry {
  /** The event as sent (re-sent verbatim as a duplicate). */
  sent: Record<string, unknown>;
}

interface SessionEntry {
  worker: number;
  body: Record<string, any>;
  irrelevant: boolean;
  events: Map<string, EventEntry>;
  /** Event ids this session's owner pushed, for duplicates. */
  eventIds: string[];
}

interface ReleaseEntry {
  answer: { release_id: string; batch_id: string; released_at: number; session_count: number };
  /** Session ids read right after the release answered. */
  members: Set<string>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
const MAX_ATTEMPTS = 8;
const MAX_PAGES = 100_000;

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const chance = (p: number) => Math.random() < p;
const int = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** JSON text with sorted keys: equal texts mean equal JSON values. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
const same = (a: unknown, b: unknown) => canonical(a) === canonical(b);

export async function runSoak(options: SoakOptions): Promise<Record<string, unknown>> {
  const base = new URL(options.baseUrl);
  if (!LOOPBACK.has(base.hostname)) throw new Error(`runSoak sends traffic to the loopback interface only, not to ${base.hostname}`);
  const baseUrl = options.baseUrl.replace(/\/$/, '');
  const concurrency = Math.max(1, Math.min(64, options.concurrency ?? 8));
  const maxOperations = options.maxOperations ?? 2_000_000;
  const log = options.log ?? (() => undefined);
  const runId = randomUUID().slice(0, 8);
  const started = Date.now();
  const deadline = started + Math.max(0, options.durationMs);

  // ------------------------------------------------------------------ counters
  const c = {
    requests: 0,
    serverErrors: 0,
    networkErrors: 0,
    retries: 0,
    unexpectedStatus: 0,
    sessionsCreated: 0,
    createRetries: 0,
    conflicts: 0,
    eventsSent: 0,
    eventsAccepted: 0,
    duplicatesReported: 0,
    duplicatesExpected: 0,
    statusMismatches: 0,
    marks: 0,
    releases: 0,
    emptyReleases: 0,
    releaseRepeats: 0,
    releaseRepeatMismatches: 0,
    sessionReads: 0,
    batchReads: 0,
    liveLost: 0,
    liveDuplicated: 0,
    membershipChangedLive: 0,
  };
  const statuses: Record<string, Record<number, number>> = {};
  const problems: string[] = [];
  const problem = (line: string) => {
    if (problems.length < 50) problems.push(line);
  };

  /** One request; 503 and network failures are retried (the contract makes that safe), up to a bound. */
  async function call(op: string, method: 'GET' | 'POST', path: string, payload?: unknown, query?: Record<string, string | number>): Promise<Reply> {
    const qs = query ? `?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}` : '';
    for (let attempt = 1; ; attempt++) {
      c.requests++;
      let reply: Reply | undefined;
      try {
        const res = await fetch(`${baseUrl}${path}${qs}`, {
          method,
          headers: payload === undefined ? {} : { 'content-type': 'application/json' },
          ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
        });
        const text = await res.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // kept as text
        }
        reply = { status: res.status, body };
      } catch (err) {
        c.networkErrors++;
        problem(`${op}: network error ${(err as Error).message}`);
      }
      if (reply) {
        (statuses[op] ??= {})[reply.status] = (statuses[op]![reply.status] ?? 0) + 1;
        if (reply.status >= 500) {
          c.serverErrors++;
          problem(`${op}: ${reply.status} ${JSON.stringify(reply.body).slice(0, 200)}`);
        }
        if (reply.status !== 503 || attempt >= MAX_ATTEMPTS) return reply;
      } else if (attempt >= MAX_ATTEMPTS) {
        return { status: 0, body: undefined };
      }
      c.retries++;
      await sleep(50 * attempt);
    }
  }

  const expectStatus = (op: string, r: Reply, ...ok: number[]) => {
    if (ok.includes(r.status)) return true;
    c.unexpectedStatus++;
    problem(`${op}: expected ${ok.join('/')}, got ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    return false;
  };

  // ------------------------------------------------------------------ the ledger
  const sessions = new Map<string, SessionEntry>();
  const sessionIds: string[] = [];
  const releases = new Map<string, ReleaseEntry>();
  const releaseIds: string[] = [];

  /** Session ids of a released batch, paging with after_number = last_number. */
  async function members(batchId: string, eventsLimit: number, includeIrrelevant = true): Promise<{ ids: string[]; sessions: any[] } | undefined> {
    const ids: string[] = [];
    const all: any[] = [];
    let after = 0;
    for (let page = 0; page < MAX_PAGES; page++) {
      const r = await call('get_batch_sessions', 'GET', '/internal/batch/sessions', undefined, {
        batch_id: batchId,
        after_number: after,
        limit: 1000,
        events_limit: eventsLimit,
        include_irrelevant: String(includeIrrelevant),
      });
      if (!expectStatus('get_batch_sessions', r, 200)) return undefined;
      if (r.body.last_number === null) return { ids, sessions: all };
      for (const s of r.body.sessions) {
        ids.push(s.session_id);
        all.push(s);
      }
      after = r.body.last_number;
    }
    problem(`paging ${batchId} did not end within ${MAX_PAGES} pages`);
    return undefined;
  }

  function sessionBody(id: string): Record<string, any> {
    const results = Array.from({ length: int(0, 6) }, (_, i) => ({
      object_id: `obj-${int(1, 500)}`,
      ...(chance(0.8) ? { rank: i + 1 } : {}),
      ...(chance(0.3) ? { meta: { title: `item ${i}`, score: Math.round(Math.random() * 1000) / 1000 } } : {}),
    }));
    return {
      session_id: id,
      search_query: chance(0.3) ? { text: `query ${int(1, 99)}`, filters: { color: pick(['red', 'blue', 'green']) } } : `query ${int(1, 99)}`,
      search_results: results,
      ...(chance(0.3) ? { search_meta: { engine: 'soak', page: int(1, 5) } } : {}),
      ...(chance(0.2) ? { payload_filter: { in_stock: chance(0.5) } } : {}),
      ...(chance(0.2) ? { sort_by: { field: 'price', order: pick(['asc', 'desc']) } } : {}),
      ...(chance(0.5) ? { user_id: `user-${int(1, 50)}` } : {}),
      ...(chance(0.3) ? { created_at: Date.now() - int(0, 240_000) } : {}),
    };
  }

  // ------------------------------------------------------------------ operations
  async function create(worker: number, k: number): Promise<void> {
    const id = `soak-${runId}-w${worker}-s${k}`;
    const body = sessionBody(id);
    const r = await call('create_session', 'POST', '/session', body);
    if (!expectStatus('create_session', r, 200)) return;
    if (r.body.created !== true) {
      c.statusMismatches++;
      problem(`create_session ${id}: created=${r.body.created} for a new id`);
    }
    sessions.set(id, { worker, body, irrelevant: false, events: new Map(), eventIds: [] });
    sessionIds.push(id);
    c.sessionsCreated++;
  }

  async function createAgain(worker: number): Promise<void> {
    const own = sessionIds.filter((id) => sessions.get(id)!.worker === worker);
    if (own.length === 0) return;
    const id = pick(own);
    const entry = sessions.get(id)!;
    if (chance(0.7)) {
      const r = await call('create_session', 'POST', '/session', entry.body);
      if (expectStatus('create_session', r, 200) && r.body.created !== false) {
        c.statusMismatches++;
        problem(`create_session retry ${id}: created=${r.body.created}`);
      }
      c.createRetries++;
    } else {
      const r = await call('create_session', 'POST', '/session', { ...entry.body, search_query: `changed ${randomUUID()}` });
      if (expectStatus('create_session', r, 409)) c.conflicts++;
    }
  }

  async function push(worker: number, counter: { n: number }): Promise<void> {
    if (sessionIds.length === 0) return;
    const id = pick(sessionIds);
    const entry = sessions.get(id)!;
    const fresh = Array.from({ length: int(1, 30) }, () => {
      const eventId = `w${worker}-e${counter.n++}`;
      return {
        event_id: eventId,
        object_id: `obj-${int(1, 500)}`,
        ...(chance(0.3) ? { event_type: pick(['view', 'add_to_cart', 'purchase']) } : {}),
        ...(chance(0.3) ? { created_at: chance(0.5) ? Date.now() - int(0, 240_000) : Math.floor(Date.now() / 1000) - int(0, 240) } : {}),
        ...(chance(0.3) ? { meta: { position: int(1, 20), note: 'x'.repeat(int(0, 200)) } } : {}),
      };
    });
    // Duplicates: events this worker already had accepted for this session, and a repeat inside the request.
    const mine = entry.eventIds.filter((e) => e.startsWith(`w${worker}-`));
    const repeats = Array.from({ length: mine.length > 0 ? int(0, Math.min(10, mine.length)) : 0 }, () => entry.events.get(pick(mine))!.sent);
    const events: Record<string, unknown>[] = [...fresh, ...repeats];
    if (chance(0.3)) events.push(fresh[0]!);
    for (let i = events.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [events[i], events[j]] = [events[j]!, events[i]!];
    }
    c.eventsSent += events.length;
    const r = await call('push_events', 'POST', '/session/events', { session_id: id, events });
    if (!expectStatus('push_events', r, 200)) return;
    const seen = new Set<string>();
    events.forEach((e, i) => {
      const eventId = e.event_id as string;
      const status = r.body.results?.[i]?.status;
      const expected = entry.events.has(eventId) || seen.has(eventId) ? 'duplicate' : 'accepted';
      seen.add(eventId);
      if (expected === 'duplicate') c.duplicatesExpected++;
      if (status === 'duplicate') c.duplicatesReported++;
      if (status !== expected) {
        c.statusMismatches++;
        problem(`push_events ${id}/${eventId}: ${status}, expected ${expected}`);
      }
      if (status === 'accepted') {
        entry.events.set(eventId, { sent: e });
        entry.eventIds.push(eventId);
        c.eventsAccepted++;
      }
    });
  }

  async function mark(): Promise<void> {
    if (sessionIds.length === 0) return;
    const id = pick(sessionIds);
    const r = await call('mark_session_irrelevant', 'POST', '/session/irrelevant', { session_id: id });
    if (expectStatus('mark_session_irrelevant', r, 200)) {
      sessions.get(id)!.irrelevant = true;
      c.marks++;
    }
  }

  async function readSession(): Promise<void> {
    if (sessionIds.length === 0) return;
    const id = pick(sessionIds);
    const entry = sessions.get(id)!;
    const expected = new Set(entry.events.keys()); // accepted before this read began
    const r = await call('get_session', 'GET', '/session', undefined, { session_id: id, events_limit: 10_000 });
    if (!expectStatus('get_session', r, 200)) return;
    c.sessionReads++;
    const got = new Set<string>();
    for (const e of r.body.events as { event_id: string }[]) {
      if (got.has(e.event_id)) c.liveDuplicated++;
      got.add(e.event_id);
    }
    if (!r.body.events_truncated) for (const e of expected) if (!got.has(e)) c.liveLost++;
  }

  let lastRelease = Date.now();
  let releaseSeq = 0;
  /** A new release_id, sent twice at once: both answers must be the same release. */
  async function release(w: number): Promise<void> {
    const releaseId = `soak-${runId}-w${w}-r${releaseSeq++}`;
    lastRelease = Date.now();
    const [r, twin] = await Promise.all([
      call('release_batch', 'POST', '/internal/batch/release', { release_id: releaseId }),
      call('release_batch', 'POST', '/internal/batch/release', { release_id: releaseId }),
    ]);
    c.releaseRepeats++;
    if (r.status !== twin.status || !same(r.body, twin.body)) {
      c.releaseRepeatMismatches++;
      problem(`release ${releaseId} sent twice at once: ${r.status} ${JSON.stringify(r.body)} / ${twin.status} ${JSON.stringify(twin.body)}`);
    }
    if (r.status === 404) {
      c.emptyReleases++;
      return;
    }
    if (!expectStatus('release_batch', r, 200)) return;
    const again = await call('release_batch', 'POST', '/internal/batch/release', { release_id: releaseId });
    c.releaseRepeats++;
    if (again.status !== 200 || !same(again.body, r.body)) c.releaseRepeatMismatches++;
    if ([...releases.values()].some((e) => e.answer.batch_id === r.body.batch_id)) {
      c.statusMismatches++;
      problem(`release ${releaseId}: batch ${r.body.batch_id} was released before under another id`);
    }
    const m = await members(r.body.batch_id, 1);
    if (!m) return;
    if (m.ids.length !== r.body.session_count) {
      c.statusMismatches++;
      problem(`release ${releaseId}: ${m.ids.length} members, answered ${r.body.session_count}`);
    }
    releases.set(releaseId, { answer: r.body, members: new Set(m.ids) });
    releaseIds.push(releaseId);
    c.releases++;
  }

  async function repeatRelease(): Promise<void> {
    if (releaseIds.length === 0) return;
    const id = pick(releaseIds);
    const r = await call('release_batch', 'POST', '/internal/batch/release', { release_id: id });
    c.releaseRepeats++;
    if (r.status !== 200 || !same(r.body, releases.get(id)!.answer)) {
      c.releaseRepeatMismatches++;
      problem(`release ${id} repeated: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    }
  }

  async function readBatch(): Promise<void> {
    if (releaseIds.length === 0) return;
    const entry = releases.get(pick(releaseIds))!;
    const m = await members(entry.answer.batch_id, 1);
    c.batchReads++;
    if (m && !same([...m.ids].sort(), [...entry.members].sort())) {
      c.membershipChangedLive++;
      problem(`batch ${entry.answer.batch_id}: membership changed after its release`);
    }
  }

  // ------------------------------------------------------------------ load phase
  const releaseEveryMs = Math.max(2_000, Math.min(15_000, options.durationMs / 12));
  log(`soak ${runId}: ${concurrency} clients for ${Math.round(options.durationMs / 1000)} s against ${baseUrl}`);
  let operations = 0;
  let lastLog = Date.now();
  async function worker(w: number): Promise<void> {
    let k = 0;
    const events = { n: 0 };
    while (Date.now() < deadline && operations < maxOperations) {
      operations++;
      const dice = Math.random();
      if (w === 0 && Date.now() - lastRelease > releaseEveryMs) await release(w);
      else if (dice < 0.22 || sessionIds.length < concurrency) await create(w, k++);
      else if (dice < 0.27) await createAgain(w);
      else if (dice < 0.67) await push(w, events);
      else if (dice < 0.7) await mark();
      else if (dice < 0.88) await readSession();
      else if (dice < 0.93) await readBatch();
      else if (dice < 0.95) await repeatRelease();
      else if (dice < 0.97) await call('get_batch', 'GET', '/internal/batch').then((r) => expectStatus('get_batch', r, 200, 404));
      else if (dice < 0.975) await release(w); // any client, at any time: releases race creates and each other
      if (w === 0 && Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log(`  ${Math.round((Date.now() - started) / 1000)} s: ${c.requests} requests, ${c.sessionsCreated} sessions, ${c.eventsAccepted} events, ${c.releases} releases`);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const loadMs = Date.now() - started;
  const loadRequests = c.requests;
  log(`soak ${runId}: load done (${c.requests} requests); reading everything back`);

  // ------------------------------------------------------------------ read-back: sessions and events
  const v = {
    sessionsChecked: 0,
    eventsChecked: 0,
    lost: 0,
    duplicated: 0,
    unexpected: 0,
    altered: 0,
    sessionsMissing: 0,
    irrelevantMismatches: 0,
    batchesChecked: 0,
    batchSessionsChecked: 0,
    batchEventsChecked: 0,
    membershipChanged: 0,
    countMismatches: 0,
    pagingDuplicates: 0,
    irrelevantFilterMismatches: 0,
    homeless: 0,
    inTwoBatches: 0,
    foreignSessionsInBatches: 0,
  };
  const batchOf = new Map<string, string>();

  const eventMatches = (got: Record<string, any>, sent: Record<string, any>) => {
    const createdAt = sent.created_at === undefined ? undefined : (sent.created_at as number) < 100_000_000_000 ? (sent.created_at as number) * 1000 : sent.created_at;
    return (
      got.object_id === sent.object_id &&
      got.event_type === (sent.event_type ?? 'click') &&
      same(got.meta, sent.meta ?? null) &&
      (createdAt === undefined || got.created_at === createdAt)
    );
  };

  /** Compares the events of a session as returned with the ledger. */
  function checkEvents(id: string, got: Record<string, any>[], counters: { checked: 'eventsChecked' | 'batchEventsChecked' }) {
    const entry = sessions.get(id)!;
    const seen = new Set<string>();
    for (const e of got) {
      if (seen.has(e.event_id)) {
        v.duplicated++;
        problem(`event ${id}/${e.event_id} returned twice`);
        continue;
      }
      seen.add(e.event_id);
      const want = entry.events.get(e.event_id);
      if (!want) {
        v.unexpected++;
        problem(`event ${id}/${e.event_id} stored but never accepted`);
      } else if (!eventMatches(e, want.sent)) {
        v.altered++;
        problem(`event ${id}/${e.event_id} altered`);
      }
      v[counters.checked]++;
    }
    for (const eventId of entry.events.keys()) {
      if (!seen.has(eventId)) {
        v.lost++;
        problem(`event ${id}/${eventId} accepted but not returned`);
      }
    }
  }

  const readBack = async (id: string) => {
    const entry = sessions.get(id)!;
    const got: Record<string, any>[] = [];
    let cursor: string | undefined;
    let session: Record<string, any> | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const r = await call('get_session', 'GET', '/session', undefined, { session_id: id, events_limit: 10_000, ...(cursor ? { events_after: cursor } : {}) });
      if (!expectStatus('get_session', r, 200)) {
        v.sessionsMissing++;
        return;
      }
      session ??= r.body;
      got.push(...r.body.events);
      if (!r.body.events_truncated) break;
      cursor = r.body.events_next_cursor;
    }
    v.sessionsChecked++;
    const s = session!;
    const b = entry.body;
    const fieldsOk =
      same(s.search_query, b.search_query) &&
      same(
        s.search_results,
        (b.search_results as any[]).map((x) => ({ object_id: x.object_id, rank: x.rank ?? null, meta: x.meta ?? null })),
      ) &&
      same(s.search_meta, b.search_meta ?? null) &&
      same(s.payload_filter, b.payload_filter ?? null) &&
      same(s.sort_by, b.sort_by ?? null) &&
      s.user_id === (b.user_id ?? null) &&
      (b.created_at === undefined || s.created_at === b.created_at);
    if (!fieldsOk) {
      v.altered++;
      problem(`session ${id} altered`);
    }
    if (s.is_irrelevant !== entry.irrelevant) v.irrelevantMismatches++;
    if (s.events_count !== entry.events.size) problem(`session ${id}: events_count ${s.events_count}, ledger ${entry.events.size}`);
    batchOf.set(id, s.batch_id);
    checkEvents(id, got, { checked: 'eventsChecked' });
  };
  for (let i = 0; i < sessionIds.length; i += concurrency) {
    await Promise.all(sessionIds.slice(i, i + concurrency).map(readBack));
  }

  // ------------------------------------------------------------------ read-back: batches
  const homes = new Map<string, string[]>();
  for (const releaseId of releaseIds) {
    const entry = releases.get(releaseId)!;
    const batchId = entry.answer.batch_id;
    const all = await members(batchId, 10_000, true);
    if (!all) continue;
    v.batchesChecked++;
    const ids = new Set<string>();
    for (const s of all.sessions) {
      if (ids.has(s.session_id)) v.pagingDuplicates++;
      ids.add(s.session_id);
      if (!sessions.has(s.session_id)) {
        v.foreignSessionsInBatches++;
        continue;
      }
      homes.set(s.session_id, [...(homes.get(s.session_id) ?? []), batchId]);
      v.batchSessionsChecked++;
      if (s.events_truncated) problem(`batch ${batchId}: session ${s.session_id} has more than 10,000 events`);
      else checkEvents(s.session_id, s.events, { checked: 'batchEventsChecked' });
    }
    if (!same([...ids].sort(), [...entry.members].sort())) {
      v.membershipChanged++;
      problem(`batch ${batchId}: membership differs from the one read after its release`);
    }
    if (ids.size !== entry.answer.session_count) {
      v.countMismatches++;
      problem(`batch ${batchId}: ${ids.size} sessions, the release answered ${entry.answer.session_count}`);
    }
    const info = await call('get_batch', 'GET', '/internal/batch', undefined, { batch_id: batchId });
    if (!expectStatus('get_batch', info, 200) || info.body.status !== 'released' || info.body.session_count !== entry.answer.session_count || info.body.release_id !== releaseId) {
      v.countMismatches++;
      problem(`get_batch ${batchId}: ${JSON.stringify(info.body).slice(0, 200)}`);
    }
    const visible = await members(batchId, 1, false);
    const relevant = all.sessions.filter((s) => !s.is_irrelevant).map((s) => s.session_id as string);
    if (visible && !same(visible.ids, relevant)) v.irrelevantFilterMismatches++;
  }
  const collecting = await call('get_batch', 'GET', '/internal/batch');
  const collectingId = collecting.status === 200 ? (collecting.body.batch_id as string) : undefined;
  let inCollecting = 0;
  for (const id of sessionIds) {
    const home = homes.get(id) ?? [];
    if (home.length > 1) v.inTwoBatches++;
    if (home.length === 1 && batchOf.get(id) !== home[0]) {
      v.inTwoBatches++;
      problem(`session ${id}: batch_id ${batchOf.get(id)}, listed in ${home[0]}`);
    }
    if (home.length === 0) {
      if (collectingId !== undefined && batchOf.get(id) === collectingId) inCollecting++;
      else {
        v.homeless++;
        problem(`session ${id}: in no released batch and not in the collecting one (${batchOf.get(id)})`);
      }
    }
  }
  if (collectingId !== undefined && collecting.body.session_count < inCollecting) {
    v.countMismatches++;
    problem(`collecting batch ${collectingId}: count ${collecting.body.session_count} below the ${inCollecting} sessions it holds`);
  }

  const zero =
    c.serverErrors +
    c.networkErrors +
    c.unexpectedStatus +
    c.statusMismatches +
    c.releaseRepeatMismatches +
    c.liveLost +
    c.liveDuplicated +
    c.membershipChangedLive +
    v.lost +
    v.duplicated +
    v.unexpected +
    v.altered +
    v.sessionsMissing +
    v.irrelevantMismatches +
    v.membershipChanged +
    v.countMismatches +
    v.pagingDuplicates +
    v.irrelevantFilterMismatches +
    v.homeless +
    v.inTwoBatches;
  const result = {
    ok: zero === 0,
    runId,
    baseUrl,
    concurrency,
    durationMs: options.durationMs,
    loadMs,
    totalMs: Date.now() - started,
    requests: c.requests,
    loadRequests,
    loadRequestsPerSecond: Math.round(loadRequests / Math.max(1, loadMs / 1000)),
    statuses,
    load: c,
    verification: { ...v, sessionsInCollectingBatch: inCollecting, releasedBatches: releaseIds.length },
    itemsChecked: v.sessionsChecked + v.eventsChecked + v.batchSessionsChecked + v.batchEventsChecked,
    problems,
  };
  log(
    `soak ${runId}: ${result.ok ? 'OK' : 'FAILED'}: ${v.sessionsChecked} sessions and ${v.eventsChecked} events read back, ${v.batchesChecked} released batches (${v.batchSessionsChecked} sessions, ${v.batchEventsChecked} events) paged; lost ${v.lost}, duplicated ${v.duplicated}, 5xx ${c.serverErrors}`,
  );
  return result;
}
