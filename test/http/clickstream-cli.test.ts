/**
 * The `clickstream` command against the local server (the real handlers on DynamoDB Local), run as
 * a user runs it (node bin/clickstream.mjs, a process of its own): release and batch; export in both
 * formats holds every session of the batch exactly once with all of its events (also one larger
 * than a page's 4.5 MB budget, continued through get_session's cursor); an export killed midway and
 * run again gives the same file, byte for byte; smoke passes against the server and fails with a
 * clear message against one that answers wrongly.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { resetAllocation } from '../../functions/domain/allocation.js';
import { Api, nowSeconds } from '../support/http.js';
import { useFreshTable } from '../support/table.js';

const root = new URL('../../', import.meta.url).pathname;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bin/clickstream.mjs'), ...args], {
      cwd: root,
      env: { ...process.env, CLICKSTREAM_URL: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));

describe('clickstream command', () => {
  let api: Api;
  let url: string;
  let dir: string;
  let batchId: string;
  /** `clickstream export` of the released batch into `out`, with `flags`, against the local server. */
  const exportTo = (out: string, flags: string[] = [], env: Record<string, string> = {}) =>
    cli(['export', '--batch', batchId, '--out', out, ...flags, '--url', url], env);
  /** Every session of the batch: its results, irrelevant flag and pushed events. */
  const sessions = new Map<
    string,
    { results: string[]; irrelevant: boolean; events: { id: string; object: string }[] }
  >();
  const BIG_EVENTS = 1_200; // with 4 KB of meta each, more than a page's 4.5 MB budget

  beforeAll(async () => {
    await useFreshTable({ CLICKSTREAM_BATCH_SHARDS: '4' });
    api = await Api.start();
    url = api.url('');
    dir = await mkdtemp(join(tmpdir(), 'clickstream-cli-'));
    const t = nowSeconds();
    for (let i = 0; i < 45; i++) {
      const id = `cli-${i}`;
      const results = [`a${i}`, `b${i}`, `c${i}`];
      // A process keeps one block of numbers on one random shard: start a new "process" every 12
      // sessions, on shard 0, 1, 2 and 3 in turn, so that every range of the batch holds sessions.
      const newBlock = i % 12 === 0;
      if (newBlock) {
        resetAllocation();
        vi.spyOn(Math, 'random').mockReturnValue((i / 12 + 0.5) / 4);
      }
      const create = await api
        .post('/session', {
          session_id: id,
          search_query: i % 4 === 0 ? { text: `query ${i}`, lang: 'en' } : `query ${i}`,
          search_results: results.map((object_id, r) => ({ object_id, rank: r + 1 })),
          created_at: t,
        })
        .finally(() => newBlock && vi.restoreAllMocks());
      expect(create.status).toBe(200);
      const events = Array.from({ length: i % 3 }, (_, k) => ({ id: `e${k}`, object: results[(i + k) % 3]! }));
      if (i % 7 === 0) events.push({ id: 'e-off', object: 'not-shown' }); // an event on an object that was not shown
      if (events.length > 0) {
        const push = await api.post('/session/events', {
          session_id: id,
          events: events.map((e, k) => ({ event_id: e.id, object_id: e.object, created_at: t + k })),
        });
        expect(push.body.accepted).toBe(events.length);
      }
      const irrelevant = i % 5 === 2;
      if (irrelevant) expect((await api.post('/session/irrelevant', { session_id: id })).status).toBe(200);
      sessions.set(id, { results, irrelevant, events });
    }
    // One session larger than a batch page may answer.
    const bigEvents: { id: string; object: string }[] = [];
    expect(
      (
        await api.post('/session', {
          session_id: 'cli-big',
          search_query: 'big',
          search_results: [{ object_id: 'x1' }],
          created_at: t,
        })
      ).status,
    ).toBe(200);
    for (let k = 0; k < BIG_EVENTS; k += 200) {
      const chunk = Array.from({ length: 200 }, (_, j) => ({
        event_id: `big-${String(k + j).padStart(5, '0')}`,
        object_id: 'x1',
        meta: { pad: 'p'.repeat(4000) },
      }));
      expect((await api.post('/session/events', { session_id: 'cli-big', events: chunk })).body.accepted).toBe(200);
      bigEvents.push(...chunk.map((e) => ({ id: e.event_id, object: 'x1' })));
    }
    sessions.set('cli-big', { results: ['x1'], irrelevant: false, events: bigEvents });

    const release = await cli(['release', '--release-id', 'cli-release', '--url', url]);
    expect(release.code).toBe(0);
    batchId = JSON.parse(release.stdout).batch_id;
    expect(JSON.parse(release.stdout)).toMatchObject({ release_id: 'cli-release', session_count: sessions.size });
  }, 300_000);

  afterAll(async () => {
    await api?.close();
  });

  it('prints a released batch with its ranges', async () => {
    const run = await cli(['batch', batchId, '--url', url]);
    expect(run.code).toBe(0);
    const batch = JSON.parse(run.stdout);
    expect(batch).toMatchObject({ batch_id: batchId, status: 'released', session_count: sessions.size });
    expect(batch.ranges).toHaveLength(4);
    expect(batch.ranges.reduce((n: number, r: { session_count: number }) => n + r.session_count, 0)).toBe(
      sessions.size,
    );
  });

  it(
    'exports the sessions format: every session once, with all of its events (gzip)',
    { timeout: 300_000 },
    async () => {
      const out = join(dir, 'sessions.jsonl.gz');
      const run = await exportTo(out, ['--workers', '3', '--page-size', '7']);
      expect(run.stderr).toContain(`exported ${sessions.size}/${sessions.size} sessions`);
      expect(run.code).toBe(0);
      expect(existsSync(`${out}.parts`)).toBe(false);
      const got = lines(gunzipSync(readFileSync(out)).toString('utf8'));
      expect(got.map((s) => s.session_id).sort()).toEqual([...sessions.keys()].sort());
      const numbers = got.map((s) => s.session_number);
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b)); // shard by shard, ascending
      for (const s of got) {
        const want = sessions.get(s.session_id)!;
        expect(s.batch_id).toBe(batchId);
        expect(s.is_irrelevant).toBe(want.irrelevant);
        expect(s.events.map((e: { event_id: string }) => e.event_id).sort()).toEqual(
          want.events.map((e) => e.id).sort(),
        );
        expect(s.events_count).toBe(want.events.length);
        expect(s.events_truncated).toBe(false);
        expect(s).not.toHaveProperty('events_next_cursor');
      }
      // The same lines as get_session answers (plus every event).
      const direct = await api.get('/session', { session_id: 'cli-8' });
      expect(got.find((s) => s.session_id === 'cli-8')).toEqual(direct.body);
    },
  );

  it(
    'exports the pairs format: query, results, clicked and negatives; irrelevant sessions all negative',
    { timeout: 300_000 },
    async () => {
      const out = join(dir, 'pairs.jsonl');
      const run = await exportTo(out, ['--format', 'pairs', '--workers', '8']);
      expect(run.code).toBe(0);
      const got = lines(readFileSync(out, 'utf8'));
      expect(got.map((s) => s.session_id).sort()).toEqual([...sessions.keys()].sort());
      for (const p of got) {
        const want = sessions.get(p.session_id)!;
        expect(Object.keys(p)).toEqual([
          'session_id',
          'session_number',
          'batch_id',
          'created_at',
          'user_id',
          'query',
          'is_irrelevant',
          'results',
          'clicked',
          'negatives',
        ]);
        expect(p.results).toEqual(
          want.results.map((object_id, position) => ({
            object_id,
            rank: p.session_id === 'cli-big' ? null : position + 1,
            position,
          })),
        );
        const clickedObjects = want.irrelevant
          ? []
          : want.results.filter((o) => want.events.some((e) => e.object === o));
        expect(p.clicked.map((c: { object_id: string }) => c.object_id)).toEqual(clickedObjects);
        for (const c of p.clicked) {
          expect(c.times).toHaveLength(want.events.filter((e) => e.object === c.object_id).length);
          expect(c.event_types.every((t: string) => t === 'click')).toBe(true);
        }
        expect(p.negatives).toEqual(want.results.filter((o) => !clickedObjects.includes(o)));
        if (p.session_id === 'cli-0') expect(p.query).toEqual({ text: 'query 0', lang: 'en' });
      }
      expect(got.find((p) => p.session_id === 'cli-big').clicked[0].times).toHaveLength(BIG_EVENTS);
    },
  );

  it(
    'resumes an export killed midway into the same file, byte for byte; stdout gets the same lines',
    { timeout: 300_000 },
    async () => {
      const whole = join(dir, 'whole.jsonl.gz');
      expect((await exportTo(whole, ['--workers', '2', '--page-size', '4', '--quiet'])).code).toBe(0);

      const resumed = join(dir, 'resumed.jsonl.gz');
      const flags = ['--workers', '1', '--page-size', '4'];
      // Killed after k pages (the last one written but not committed): the first k at which some range
      // is complete and another is not, so that both kinds of part are resumed.
      let killedBetween = false;
      for (let k = 2; k < 40 && !killedBetween; k++) {
        rmSync(`${resumed}.parts`, { recursive: true, force: true });
        const crashed = await exportTo(resumed, flags, { CLICKSTREAM_EXPORT_CRASH_AFTER_PAGES: String(k) });
        expect(crashed.signal).toBe('SIGKILL');
        expect(existsSync(resumed)).toBe(false);
        const state = JSON.parse(readFileSync(`${resumed}.parts/state.json`, 'utf8')) as {
          ranges: Record<string, { done: boolean; sessions: number }>;
        };
        const states = Object.values(state.ranges);
        killedBetween = states.some((r) => r.done && r.sessions > 0) && states.some((r) => !r.done);
      }
      expect(killedBetween).toBe(true);
      // Whatever a crash leaves after the committed part of a file must not reach the output.
      for (const part of readdirSync(`${resumed}.parts`).filter((f) => f.startsWith('range-')))
        appendFileSync(join(`${resumed}.parts`, part), '{"garbage":true}\n');
      const again = await exportTo(resumed, flags);
      expect(again.code).toBe(0);
      expect(again.stderr).toMatch(/resumed: [1-9]\d* sessions were already exported/); // not read again
      expect(readFileSync(resumed).equals(readFileSync(whole))).toBe(true);

      // A different export into the same parts is refused, not mixed.
      const other = join(dir, 'other.jsonl');
      expect(
        (
          await exportTo(other, [], {
            CLICKSTREAM_EXPORT_CRASH_AFTER_PAGES: '1',
          })
        ).signal,
      ).toBe('SIGKILL');
      const mixed = await exportTo(other, ['--format', 'pairs']);
      expect(mixed.code).toBe(1);
      expect(mixed.stderr).toContain('--restart');

      const stdout = await exportTo('-', ['--workers', '4', '--quiet']);
      expect(stdout.code).toBe(0);
      expect(stdout.stdout).toBe(gunzipSync(readFileSync(whole)).toString('utf8'));
    },
  );

  it('refuses a batch that still collects, and bad options, with a clear message', async () => {
    await api.post('/session', { session_id: 'cli-collecting', search_query: 'q', search_results: [] });
    const collecting = JSON.parse((await cli(['batch', '--url', url])).stdout).batch_id;
    const run = await cli(['export', '--batch', collecting, '--out', join(dir, 'x.jsonl'), '--url', url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('still collecting');
    const bad = await cli([
      'export',
      '--batch',
      batchId,
      '--out',
      join(dir, 'x.jsonl'),
      '--format',
      'csv',
      '--url',
      url,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--format');
    expect((await cli(['export', '--batch', batchId, '--out', 'x'])).stderr).toContain('--url is required');
    const mixed = await cli([
      'export',
      '--batch',
      batchId,
      '--server-side',
      '--out',
      join(dir, 'y.jsonl'),
      '--url',
      url,
    ]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('--out goes with an export by this command');
    const help = await cli(['export', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--workers N');
  });

  it('smoke passes against the local server', { timeout: 120_000 }, async () => {
    const run = await cli(['smoke', '--url', url]);
    expect(run.stderr).toContain('ok  get_session');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^smoke: OK \(session clickstream-smoke-/);
    const id = /session (clickstream-smoke-\S+),/.exec(run.stdout)![1]!;
    expect((await api.get('/session', { session_id: id })).body).toMatchObject({
      is_irrelevant: true,
      events_count: 2,
    });
  });

  it('smoke fails with the step, the expectation and the answer when the server answers wrongly', async () => {
    // A server that takes every request and answers created=false to a first create.
    const liar: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ session_id: JSON.parse(body || '{}').session_id, created: false }));
      });
    });
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    try {
      const port = (liar.address() as AddressInfo).port;
      const run = await cli(['smoke', '--url', `http://127.0.0.1:${port}/api/v1/clickstream`]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /smoke FAILED: create_session: answer: expected \{.*"created":true\}, got \{.*"created":false\}/,
      );
    } finally {
      liar.close();
    }
    const missing = await cli(['smoke', '--url', `${url}/nope`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('smoke FAILED: create_session: POST /api/v1/clickstream/nope/session: HTTP 404');
  });
});
