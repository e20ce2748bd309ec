/**
 * The soak: a bounded mixed load against the local server (loopback only), every answer checked with
 * the robustness suite's ledger, then everything read back through the API (docs/benchmarks.md, section 6).
 */
import { randomUUID } from 'node:crypto';
import { type Answer, get, post, type RawRequest, viaHttp } from '../robustness/support/invoke.js';
import { Ledger, sameJson } from '../robustness/support/model.js';
import { sleep } from './stats.js';

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const chance = (p: number) => Math.random() < p;
const int = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
/** `value` with probability `p`, spread into a body. */
const maybe = (p: number, value: () => Record<string, unknown>) => (chance(p) ? value() : {});
const recent = () => (chance(0.5) ? Date.now() - int(0, 240_000) : Math.floor(Date.now() / 1000) - int(0, 240));

const sessionBody = (id: string) => ({
  session_id: id,
  search_query: chance(0.3)
    ? { text: `query ${int(1, 99)}`, filters: { color: pick(['red', 'blue', 'green']) } }
    : `query ${int(1, 99)}`,
  search_results: Array.from({ length: int(0, 6) }, (_, i) => ({
    object_id: `obj-${int(1, 500)}`,
    ...maybe(0.8, () => ({ rank: i + 1 })),
    ...maybe(0.3, () => ({ meta: { title: `item ${i}`, score: Math.round(Math.random() * 1000) / 1000 } })),
  })),
  ...maybe(0.3, () => ({ search_meta: { engine: 'soak', page: int(1, 5) } })),
  ...maybe(0.2, () => ({ payload_filter: { in_stock: chance(0.5) } })),
  ...maybe(0.2, () => ({ sort_by: { field: 'price', order: pick(['asc', 'desc']) } })),
  ...maybe(0.5, () => ({ user_id: `user-${int(1, 50)}` })),
  ...maybe(0.3, () => ({ created_at: Date.now() - int(0, 240_000) })),
});

const freshEvent = (eventId: string) => ({
  ...{ event_id: eventId, object_id: `obj-${int(1, 500)}` },
  ...maybe(0.3, () => ({ event_type: pick(['view', 'add_to_cart', 'purchase']) })),
  ...maybe(0.3, () => ({ created_at: recent() })),
  ...maybe(0.3, () => ({ meta: { position: int(1, 20), note: 'x'.repeat(int(0, 200)) } })),
});

export async function runSoak(o: {
  origin: string;
  durationMs: number;
  concurrency?: number;
  log: (line: string) => void;
}) {
  if (!/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(o.origin))
    throw new Error(`the soak talks to the loopback interface only, not to ${o.origin}`);
  const [concurrency, runId, started, ledger] = [
    o.concurrency ?? 8,
    randomUUID().slice(0, 8),
    Date.now(),
    new Ledger(),
  ];
  const c = { requests: 0, retries: 0, serverErrors: 0, networkErrors: 0, unexpectedStatus: 0, ledgerMismatches: 0 };
  const done = { creates: 0, pushes: 0, marks: 0 };
  const v = { releases: 0, emptyReleases: 0, releaseMismatches: 0, liveLost: 0, liveDuplicated: 0 };
  const read = { sessionsChecked: 0, eventsChecked: 0, batchesChecked: 0, batchSessionsChecked: 0 };
  const b = { membershipChanged: 0, countMismatches: 0, foreignSessions: 0, homeless: 0, inTwoBatches: 0 };
  const statuses: Record<string, Record<number, number>> = {};
  const problems: string[] = [];
  const problem = (line: string) => void (problems.length < 50 && problems.push(line));
  /** Runs one of the ledger's checks; a failed one is a problem, not the end of the run. */
  const check = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      c.ledgerMismatches++;
      problem((err as Error).message.slice(0, 300));
    }
  };

  /** One request; 503 and network failures are retried (the contract makes that safe), up to 8 times. */
  async function call(op: string, r: RawRequest, ...ok: number[]): Promise<Answer> {
    for (let attempt = 1; ; attempt++) {
      c.requests++;
      const a = await viaHttp(o.origin, r).catch(
        (err: Error) => (c.networkErrors++, problem(`${op}: ${err.message}`), undefined),
      );
      if (a) (statuses[op] ??= {})[a.status] = (statuses[op]![a.status] ?? 0) + 1;
      if (a && a.status >= 500) (c.serverErrors++, problem(`${op}: ${a.status} ${a.text.slice(0, 200)}`));
      if ((a && a.status !== 503) || attempt >= 8) {
        const answer = a ?? { status: 0, headers: {}, text: '', json: undefined };
        if (ok.length > 0 && !ok.includes(answer.status))
          (c.unexpectedStatus++,
            problem(`${op}: expected ${ok.join('/')}, got ${answer.status} ${answer.text.slice(0, 200)}`));
        return answer;
      }
      c.retries++;
      await sleep(50 * attempt);
    }
  }
  const json = (a: Answer) => a.json as Record<string, any>;
  const readSession = (id: string) =>
    call('get_session', get('/session', { session_id: id, events_limit: 10_000 }), 200);

  /** Every session of a released batch (all events, irrelevant ones included), paging on last_number. */
  async function batchSessions(batchId: string, eventsLimit: number): Promise<Record<string, any>[] | undefined> {
    const all: Record<string, any>[] = [];
    for (let after = 0; ;) {
      const q = {
        batch_id: batchId,
        after_number: after,
        limit: 1000,
        events_limit: eventsLimit,
        include_irrelevant: true,
      };
      const a = await call('get_batch_sessions', get('/internal/batch/sessions', q), 200);
      if (a.status !== 200) return undefined;
      if (json(a).last_number === null) return all;
      all.push(...json(a).sessions);
      after = json(a).last_number;
    }
  }

  const ids: string[] = [];
  const sent = new Map<string, { body: Record<string, unknown>; events: Record<string, unknown>[] }>(); // as sent and accepted
  const create = async (w: number, k: number) => {
    const body = sessionBody(`soak-${runId}-w${w}-s${k}`);
    const a = await call('create_session', post('/session', body), 200);
    check(() => ledger.onCreate(body, a, 'create_session'));
    if (a.status === 200) (ids.push(body.session_id), sent.set(body.session_id, { body, events: [] }), done.creates++);
  };
  /** The same create again (created: false), or other content under the same id (409). */
  const createAgain = async () => {
    const body = { ...sent.get(pick(ids))!.body, ...maybe(0.3, () => ({ search_query: `changed ${randomUUID()}` })) };
    const a = await call('create_session', post('/session', body), 200, 409);
    check(() => ledger.onCreate(body, a, 'create_session again'));
  };
  const push = async (w: number, n: { next: number }) => {
    const id = pick(ids);
    const fresh = Array.from({ length: int(1, 30) }, () => freshEvent(`w${w}-e${n.next++}`));
    // Duplicates: events this worker had accepted for this session before, and a repeat inside the request.
    const mine = sent.get(id)!.events.filter((e) => (e.event_id as string).startsWith(`w${w}-`));
    const events = [
      ...fresh,
      ...Array.from({ length: mine.length > 0 ? int(0, Math.min(10, mine.length)) : 0 }, () => pick(mine)),
    ];
    if (chance(0.3)) events.push(fresh[0]!);
    events.sort(() => Math.random() - 0.5);
    const body = { session_id: id, events };
    const a = await call('push_events', post('/session/events', body), 200);
    check(() => ledger.onPush(body, a, 'push_events'));
    json(a)?.results?.forEach(
      (r: { status: string }, i: number) => r.status === 'accepted' && sent.get(id)!.events.push(events[i]!),
    );
    done.pushes++;
  };
  const mark = async () => {
    const body = { session_id: pick(ids) };
    const a = await call('mark_session_irrelevant', post('/session/irrelevant', body), 200);
    check(() => ledger.onMark(body, a, 'mark_session_irrelevant'));
    done.marks++;
  };
  /** A live read: no event twice, none of those accepted before the read began missing. */
  const liveRead = async () => {
    const id = pick(ids);
    const before = [...ledger.sessions.get(id)!.events.keys()];
    const a = await readSession(id);
    const got = new Set((json(a)?.events ?? []).map((e: { event_id: string }) => e.event_id));
    if (got.size !== (json(a)?.events ?? []).length) v.liveDuplicated++;
    if (a.status === 200 && !json(a).events_truncated) v.liveLost += before.filter((e) => !got.has(e)).length;
  };
  let [releaseSeq, lastRelease] = [0, Date.now()];
  /** A new release_id sent twice at once (one release, the same answer twice), its members read at once. */
  const release = async (w: number) => {
    const releaseId = `soak-${runId}-w${w}-r${releaseSeq++}`;
    lastRelease = Date.now();
    const r = post('/internal/batch/release', { release_id: releaseId });
    const [a, twin] = await Promise.all([call('release_batch', r, 200, 404), call('release_batch', r, 200, 404)]);
    if (a.status !== twin.status || !sameJson(a.json, twin.json))
      (v.releaseMismatches++, problem(`release ${releaseId} twice at once: ${a.text} / ${twin.text}`));
    if (a.status === 404) return void v.emptyReleases++;
    const batchId = json(a).batch_id as string;
    if (ledger.released.has(batchId)) (v.releaseMismatches++, problem(`batch ${batchId} released twice`));
    const members = await batchSessions(batchId, 1);
    if (!members) return;
    if (members.length !== json(a).session_count)
      (b.countMismatches++,
        problem(`release ${releaseId}: ${members.length} members, answered ${json(a).session_count}`));
    ledger.releases.set(releaseId, json(a));
    ledger.released.set(batchId, new Set(members.map((s) => s.session_id as string)));
    v.releases++;
  };
  const repeatRelease = async () => {
    const [releaseId, answer] = pick([...ledger.releases]);
    const a = await call('release_batch', post('/internal/batch/release', { release_id: releaseId }), 200);
    if (!sameJson(a.json, answer))
      (v.releaseMismatches++, problem(`release ${releaseId} repeated: ${a.text.slice(0, 200)}`));
  };

  // Load.
  o.log(`soak ${runId}: ${concurrency} clients for ${Math.round(o.durationMs / 1000)} s against ${o.origin}`);
  const releaseEveryMs = Math.max(2_000, Math.min(15_000, o.durationMs / 12));
  const worker = async (w: number) => {
    const n = { next: 0 };
    for (let k = 0; Date.now() < started + o.durationMs && c.requests < 2_000_000;) {
      const dice = Math.random();
      if (w === 0 && Date.now() - lastRelease > releaseEveryMs) await release(w);
      else if (dice < 0.22 || ids.length < concurrency) await create(w, k++);
      else if (dice < 0.27) await createAgain();
      else if (dice < 0.67) await push(w, n);
      else if (dice < 0.7) await mark();
      else if (dice < 0.88) await liveRead();
      else if (dice < 0.95 && ledger.releases.size > 0) await repeatRelease();
      else if (dice < 0.97) await call('get_batch', get('/internal/batch'), 200, 404);
      else if (dice < 0.975) await release(w); // any client, at any time: releases race creates and each other
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const [loadMs, loadRequests] = [Date.now() - started, c.requests];
  o.log(`soak ${runId}: load done (${loadRequests} requests); reading everything back`);

  // Read-back: every session whole, as the ledger holds it.
  const batchOf = new Map<string, string>();
  for (let i = 0; i < ids.length; i += concurrency) {
    const readBack = async (id: string) => {
      const a = await readSession(id);
      if (a.status !== 200) return;
      check(() => ledger.expectSession(id, json(a), `read-back ${id}`, true));
      batchOf.set(id, json(a).batch_id);
      read.sessionsChecked++;
      read.eventsChecked += json(a).events.length;
    };
    await Promise.all(ids.slice(i, i + concurrency).map(readBack));
  }
  // Read-back: every released batch, its members unchanged.
  const homes = new Map<string, number>();
  for (const [batchId, members] of ledger.released) {
    const all = await batchSessions(batchId, 10_000);
    if (!all) continue;
    read.batchesChecked++;
    if (!sameJson(all.map((s) => s.session_id).sort(), [...members].sort()))
      (b.membershipChanged++, problem(`batch ${batchId}: membership changed after its release`));
    for (const s of all) {
      if (!ledger.sessions.has(s.session_id)) {
        b.foreignSessions++;
        continue;
      }
      homes.set(s.session_id, (homes.get(s.session_id) ?? 0) + 1);
      if (batchOf.get(s.session_id) !== batchId) b.inTwoBatches++;
      check(() => ledger.expectSession(s.session_id, s, `batch ${batchId}`, true));
      read.batchSessionsChecked++;
    }
  }
  const collecting = await call('get_batch', get('/internal/batch'), 200, 404);
  for (const id of ids) {
    if ((homes.get(id) ?? 0) > 1) b.inTwoBatches++;
    if (!homes.has(id) && batchOf.get(id) !== json(collecting)?.batch_id)
      (b.homeless++, problem(`session ${id}: in no released batch, not in the collecting one`));
  }

  const { requests, retries, ...failures } = c;
  const { releases, emptyReleases, ...wrong } = v;
  const { foreignSessions, ...misplaced } = b;
  const ok = [failures, wrong, misplaced].flatMap(Object.values).every((n) => n === 0);
  const summary = `${read.sessionsChecked} sessions, ${read.eventsChecked} events, ${read.batchesChecked} released batches read back`;
  o.log(`soak ${runId}: ${ok ? 'OK' : 'FAILED'}: ${summary}; 5xx ${c.serverErrors}`);
  return {
    ...{
      ok,
      runId,
      concurrency,
      durationMs: o.durationMs,
      loadMs,
      totalMs: Date.now() - started,
      requests,
      loadRequests,
    },
    loadRequestsPerSecond: Math.round(loadRequests / Math.max(1, loadMs / 1000)),
    ...{ statuses, load: { ...c, ...done }, verification: { ...v, ...read, ...b }, problems },
    itemsChecked: read.sessionsChecked + read.eventsChecked + read.batchSessionsChecked,
  };
}
