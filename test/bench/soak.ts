/**
 * The soak: a bounded mixed load against the local server (loopback only), every answer checked with
 * the robustness suite's ledger, then everything read back through the API (docs/benchmarks.md, section 6).
 */
import { randomUUID } from 'node:crypto';
import { mapLimited } from '../../functions/shared/concurrency.js';
import { type Answer, get, post, type RawRequest, releasedSessions, viaHttp } from '../robustness/support/invoke.js';
import { chance, int, maybe, pick, randomEvent, randomSession } from '../robustness/support/generators.js';
import { Ledger, sameJson } from '../robustness/support/model.js';
import { sleep } from './stats.js';

export async function runSoak(o: { origin: string; durationMs: number; log: (line: string) => void }) {
  if (!/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(o.origin))
    throw new Error(`the soak talks to the loopback interface only, not to ${o.origin}`);
  const [concurrency, runId, started, ledger] = [8, randomUUID().slice(0, 8), Date.now(), new Ledger()];
  /** What was done and read back; `failures`: each kind of failure (all must stay 0), with the first problems. */
  const n: Record<string, number> = { requests: 0, retries: 0, creates: 0, pushes: 0, marks: 0, releases: 0 };
  const failures: Record<string, number> = {};
  const [statuses, problems] = [{} as Record<string, Record<number, number>>, [] as string[]];
  const fail = (kind: string, line: string) => {
    failures[kind] = (failures[kind] ?? 0) + 1;
    if (problems.length < 50) problems.push(`${kind}: ${line.slice(0, 300)}`);
  };
  const count = (key: string, by = 1) => void (n[key] = (n[key] ?? 0) + by);
  /** Runs one of the ledger's checks; a failed one is a problem, not the end of the run. */
  const check = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      fail('ledgerMismatches', (err as Error).message);
    }
  };

  /** One request; 503 and network failures are retried (the contract makes that safe), up to 8 times. */
  async function call(op: string, r: RawRequest, ...ok: number[]): Promise<Answer> {
    for (let attempt = 1; ; attempt++) {
      count('requests');
      const a = await viaHttp(o.origin, r).catch((err: Error) => void fail('networkErrors', `${op}: ${err.message}`));
      if (a) (statuses[op] ??= {})[a.status] = (statuses[op]![a.status] ?? 0) + 1;
      if (a && a.status >= 500) fail('serverErrors', `${op}: ${a.status} ${a.text}`);
      if ((a && a.status !== 503) || attempt >= 8) {
        const answer = a ?? { status: 0, headers: {}, text: '', json: undefined };
        if (ok.length > 0 && !ok.includes(answer.status))
          fail('unexpectedStatus', `${op}: expected ${ok.join('/')}, got ${answer.status} ${answer.text}`);
        return answer;
      }
      count('retries');
      await sleep(50 * attempt);
    }
  }
  const json = (a: Answer) => a.json as Record<string, any>;
  const readSession = (id: string) =>
    call('get_session', get('/session', { session_id: id, events_limit: 10_000 }), 200);

  /** Every session of a released batch (the robustness suite's pager), undefined if a page failed. */
  async function batchSessions(batchId: string, eventsLimit: number) {
    const read = await releasedSessions((r) => call('get_batch_sessions', r, 200), batchId, eventsLimit);
    return 'failed' in read ? undefined : read.sessions;
  }

  const ids: string[] = [];
  const sent = new Map<string, { body: Record<string, unknown>; events: Record<string, unknown>[] }>(); // as accepted
  const create = async (w: number, k: number) => {
    const body = randomSession(`soak-${runId}-w${w}-s${k}`);
    const a = await call('create_session', post('/session', body), 200);
    check(() => ledger.onCreate(body, a, 'create_session'));
    if (a.status === 200)
      (ids.push(body.session_id), sent.set(body.session_id, { body, events: [] }), count('creates'));
  };
  /** The same create again (created: false), or other content under the same id (409). */
  const createAgain = async () => {
    const body = { ...sent.get(pick(ids))!.body, ...maybe(0.3, () => ({ search_query: `changed ${randomUUID()}` })) };
    const a = await call('create_session', post('/session', body), 200, 409);
    check(() => ledger.onCreate(body, a, 'create_session again'));
  };
  const push = async (w: number, next: { e: number }) => {
    const id = pick(ids);
    const fresh = Array.from({ length: int(1, 30) }, () => randomEvent(`w${w}-e${next.e++}`));
    // Duplicates: events this worker had accepted for this session before, and a repeat inside the request.
    const mine = sent.get(id)!.events.filter((e) => (e.event_id as string).startsWith(`w${w}-`));
    const again = Array.from({ length: mine.length && int(0, Math.min(10, mine.length)) }, () => pick(mine));
    const events = [...fresh, ...again, ...(chance(0.3) ? [fresh[0]!] : [])];
    events.sort(() => Math.random() - 0.5);
    const body = { session_id: id, events };
    const a = await call('push_events', post('/session/events', body), 200);
    check(() => ledger.onPush(body, a, 'push_events'));
    json(a)?.results?.forEach(
      (r: { status: string }, i: number) => r.status === 'accepted' && sent.get(id)!.events.push(events[i]!),
    );
    count('pushes');
  };
  const mark = async () => {
    const body = { session_id: pick(ids) };
    const a = await call('mark_session_irrelevant', post('/session/irrelevant', body), 200);
    check(() => ledger.onMark(body, a, 'mark_session_irrelevant'));
    count('marks');
  };
  /** A live read: no event twice, none of those accepted before the read began missing. */
  const liveRead = async () => {
    const id = pick(ids);
    const before = [...ledger.sessions.get(id)!.events.keys()];
    const a = await readSession(id);
    const got = (json(a)?.events ?? []).map((e: { event_id: string }) => e.event_id) as string[];
    if (new Set(got).size !== got.length) fail('liveDuplicated', `get_session ${id}`);
    const lost = a.status === 200 && !json(a).events_truncated ? before.filter((e) => !got.includes(e)) : [];
    if (lost.length > 0) fail('liveLost', `get_session ${id}: ${lost.join(', ')}`);
  };
  let [releaseSeq, lastRelease] = [0, Date.now()];
  /** A new release_id sent twice at once (one release, the same answer twice), its members read at once. */
  const release = async (w: number) => {
    const releaseId = `soak-${runId}-w${w}-r${releaseSeq++}`;
    lastRelease = Date.now();
    const r = post('/internal/batch/release', { release_id: releaseId });
    const twice = await Promise.all([call('release_batch', r, 200, 404), call('release_batch', r, 200, 404)]);
    const answered = twice.filter((a) => a.status === 200 || a.status === 404); // others: failures already
    const released = check(() => ledger.onRelease(releaseId, answered, `release ${releaseId} twice at once`));
    if (!released) return void (twice.every((a) => a.status === 404) && count('emptyReleases'));
    const members = await batchSessions(released.batch_id, 1);
    if (!members) return;
    const memberIds = members.map((s) => s.session_id as string);
    check(() => ledger.onMembers(released.batch_id, memberIds, `release ${releaseId}`));
    count('releases');
  };
  const repeatRelease = async () => {
    const [releaseId] = pick([...ledger.releases]);
    const a = await call('release_batch', post('/internal/batch/release', { release_id: releaseId }), 200);
    check(() => ledger.onRelease(releaseId, [a], `release ${releaseId} repeated`));
  };

  // Load.
  o.log(`soak ${runId}: ${concurrency} clients for ${Math.round(o.durationMs / 1000)} s against ${o.origin}`);
  const releaseEveryMs = Math.max(2_000, Math.min(15_000, o.durationMs / 12));
  const worker = async (w: number) => {
    const next = { e: 0 };
    for (let k = 0; Date.now() < started + o.durationMs && n.requests! < 2_000_000;) {
      const dice = Math.random();
      if (w === 0 && Date.now() - lastRelease > releaseEveryMs) await release(w);
      else if (dice < 0.22 || ids.length < concurrency) await create(w, k++);
      else if (dice < 0.27) await createAgain();
      else if (dice < 0.67) await push(w, next);
      else if (dice < 0.7) await mark();
      else if (dice < 0.88) await liveRead();
      else if (dice < 0.95 && ledger.releases.size > 0) await repeatRelease();
      else if (dice < 0.97) await call('get_batch', get('/internal/batch'), 200, 404);
      else if (dice < 0.975) await release(w); // any client, at any time: releases race creates and each other
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const [loadMs, loadRequests] = [Date.now() - started, n.requests!];
  o.log(`soak ${runId}: load done (${loadRequests} requests); reading everything back`);

  // Read-back: every session whole, as the ledger holds it.
  const batchOf = new Map<string, string>();
  await mapLimited(ids, concurrency, async (id) => {
    const a = await readSession(id);
    if (a.status !== 200) return;
    check(() => ledger.expectSession(id, json(a), `read-back ${id}`, true));
    batchOf.set(id, json(a).batch_id);
    count('sessionsChecked');
    count('eventsChecked', json(a).events.length);
  });
  // Read-back: every released batch, its members unchanged; every session in exactly one batch.
  for (const [batchId, members] of ledger.released) {
    const all = await batchSessions(batchId, 10_000);
    if (!all) continue;
    count('batchesChecked');
    if (!sameJson(all.map((s) => s.session_id).sort(), [...members].sort()))
      fail('membershipChanged', `batch ${batchId}: membership changed after its release`);
    for (const s of all.filter((s) => ledger.sessions.has(s.session_id))) {
      if (batchOf.get(s.session_id) !== batchId) fail('inTwoBatches', `session ${s.session_id}: not in ${batchId}`);
      check(() => ledger.expectSession(s.session_id, s, `batch ${batchId}`, true));
      count('batchSessionsChecked');
    }
  }
  const collecting = await call('get_batch', get('/internal/batch'), 200, 404);
  for (const [id, batches] of ledger.homes().batchesOf) {
    if (batches.length > 1) fail('inTwoBatches', `session ${id}: in released batches ${batches.join(', ')}`);
    if (batches.length === 0 && batchOf.get(id) !== json(collecting)?.batch_id)
      fail('homeless', `session ${id}: in no released batch, not in the collecting one`);
  }

  const ok = Object.keys(failures).length === 0;
  const summary = `${n.sessionsChecked} sessions, ${n.eventsChecked} events, ${n.batchesChecked} released batches read back`;
  o.log(`soak ${runId}: ${ok ? 'OK' : 'FAILED'}: ${summary}; 5xx ${failures.serverErrors ?? 0}`);
  const loadRequestsPerSecond = Math.round(loadRequests / Math.max(1, loadMs / 1000));
  const [durationMs, totalMs] = [o.durationMs, Date.now() - started];
  const figures = { ok, runId, concurrency, durationMs, loadMs, totalMs, loadRequests, loadRequestsPerSecond, ...n };
  return { ...figures, failures, statuses, problems };
}
