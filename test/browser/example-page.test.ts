/**
 * The README's web page ("From a web page"), as written there, in real headless Chromium (Debian's
 * `chromium`, driven by playwright-core with executablePath; never a downloaded browser). The page
 * is served from its own origin; the API is the local server with that origin in its CORS setting,
 * behind a small proxy that answers the first two pushes with 503 and 429 (with Retry-After) and
 * records every request. Checks: the session and every click stored exactly once, the bearer
 * header on every request, the retries after Retry-After, the last click sent with keepalive as the
 * page goes away, and navigator.sendBeacon's text/plain refused with 415.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/clickstream-function.js';
import { startLocalServer, type LocalServer } from '../../lib/local/server.js';
import { BASE_PATH } from '../../lib/routes.js';
import { useFreshTable } from '../support/table.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The page exactly as the README shows it. */
function readmePage(): string {
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('<!-- browser:start -->'), readme.indexOf('<!-- browser:end -->'));
  const page = /```html\n([\s\S]*?)```/.exec(section)?.[1];
  if (!page) throw new Error('README.md has no ```html block between <!-- browser:start --> and <!-- browser:end -->');
  return page;
}

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

const listen = (server: Server) =>
  new Promise<string>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );

let api: LocalServer;
let site: Server;
let proxy: Server;
let siteOrigin: string;
let proxyUrl: string;
let context: BrowserContext;
let profile: string;
const seen: Seen[] = [];
/** Answers the proxy gives instead of the API, in order, to the pushes (POST /session/events). */
const faults: number[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: sudo apt-get install -y chromium (Debian), or set CHROMIUM_PATH`,
    );
  }
  await useFreshTable();
  const page = readmePage();
  site = createServer((req, res) => {
    res.writeHead(200, { 'content-type': req.url?.startsWith('/bye') ? 'text/plain' : 'text/html; charset=utf-8' });
    res.end(req.url?.startsWith('/bye') ? 'bye' : page);
  });
  siteOrigin = await listen(site);
  api = await startLocalServer({ corsOrigins: [siteOrigin] });
  const target = new URL(api.url);
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const record = (status: number) =>
        seen.push({ method: req.method!, path: req.url!, headers: req.headers, body, status });
      if (req.method === 'POST' && req.url === `${BASE_PATH}/session/events` && faults.length > 0) {
        const status = faults.shift()!;
        record(status);
        // As API Gateway sends them: a throttle (429) or storage failing (503), with CORS headers.
        res.writeHead(status, {
          'content-type': 'application/json',
          'retry-after': '1',
          'access-control-allow-origin': siteOrigin,
          'access-control-expose-headers': 'retry-after',
        });
        res.end(JSON.stringify({ detail: status === 429 ? 'Too Many Requests' : 'Service Unavailable' }));
        return;
      }
      const forward = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          record(answer.statusCode!);
          res.writeHead(answer.statusCode!, answer.headers);
          answer.pipe(res);
        },
      );
      forward.end(body);
    });
  });
  proxyUrl = await listen(proxy);
  profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    timeout: 60_000,
  });
  await context.addInitScript(() => {
    const { sessionStorage } = globalThis as unknown as PageGlobals;
    sessionStorage.setItem('id_token', 'header.payload.signature');
    // Records whether each fetch asked for keepalive; sessionStorage outlives the page (same origin).
    const page = globalThis as unknown as PageGlobals;
    const original = page.fetch;
    page.fetch = (input, init) => {
      if (String(input).endsWith('/session/events')) {
        const log = JSON.parse(sessionStorage.getItem('pushes') ?? '[]') as boolean[];
        sessionStorage.setItem('pushes', JSON.stringify([...log, init?.keepalive === true]));
      }
      return original(input, init);
    };
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await api?.close();
  for (const server of [site, proxy]) if (server) await new Promise((r) => server.close(r));
});

async function until<T>(
  what: string,
  find: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  for (const end = Date.now() + timeoutMs; ;) {
    const found = await find();
    if (found !== undefined) return found;
    if (Date.now() > end)
      throw new Error(
        `${what} did not happen; requests seen: ${JSON.stringify(seen.map((s) => [s.method, s.path, s.status]))}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The browser's globals the page scripts below use (the project's types have no DOM library). */
interface PageGlobals {
  sessionStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
  navigator: { sendBeacon(url: string, data: string): boolean };
  fetch: (input: unknown, init?: { keepalive?: boolean }) => Promise<unknown>;
}

const getSession = async (id: string) =>
  (await fetch(`${api.url}${BASE_PATH}/session?session_id=${encodeURIComponent(id)}`)).json();

describe("the README's web page in headless Chromium", () => {
  it('creates a session, pushes clicks through a 503 and a 429, and sends the last click as the page goes away', async () => {
    faults.push(503, 429);
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // The page logs a push that failed for good; a 503 or 429 must be retried inside post() instead.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
    });
    await page.goto(`${siteOrigin}/?api=${encodeURIComponent(proxyUrl + BASE_PATH)}`);

    const create = await until('create_session', () =>
      seen.find((s) => s.method === 'POST' && s.path.endsWith('/session')),
    );
    expect(create.status).toBe(200);
    const sessionId = (JSON.parse(create.body) as { session_id: string }).session_id;
    // A real CORS preflight from the page's origin, answered by the local server.
    const preflight = seen.find((s) => s.method === 'OPTIONS' && s.path.endsWith('/session'));
    expect(preflight).toMatchObject({ status: 204, headers: { origin: siteOrigin } });

    await page.click('[data-object-id="sku-2"]');
    await page.click('[data-object-id="sku-1"]');
    const stored = await until('two clicks stored', async () => {
      const s = (await getSession(sessionId)) as { events: { object_id: string }[] };
      return s.events?.length === 2 ? s : undefined;
    });
    expect(stored.events.map((e) => e.object_id).sort()).toEqual(['sku-1', 'sku-2']);
    const pushes = seen.filter((s) => s.method === 'POST' && s.path.endsWith('/session/events'));
    expect(pushes.map((p) => p.status)).toEqual([503, 429, 200]);
    expect(new Set(pushes.map((p) => p.body)).size).toBe(1); // the same events each time

    // The user follows a link away: the queued click goes out with keepalive as the page is hidden.
    await page.click('[data-object-id="sku-3"]');
    await page.goto(`${siteOrigin}/bye`);
    const all = await until('the last click stored', async () => {
      const s = (await getSession(sessionId)) as { events: { object_id: string }[] };
      return s.events?.length === 3 ? s : undefined;
    });
    expect(all.events.map((e) => e.object_id).sort()).toEqual(['sku-1', 'sku-2', 'sku-3']);
    expect(
      JSON.parse(
        (await page.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.getItem('pushes'))) ?? '[]',
      ),
    ).toEqual([false, false, false, true]);

    const requests = seen.filter((s) => s.method === 'POST');
    expect(requests.every((s) => s.headers.authorization === 'Bearer header.payload.signature')).toBe(true);
    expect(requests.every((s) => s.headers.origin === siteOrigin)).toBe(true);
    expect(errors).toEqual([]);
  }, 120_000);

  it('navigator.sendBeacon sends text/plain, which the API answers with 415', async () => {
    const page = await context.newPage();
    await page.goto(`${siteOrigin}/bye`);
    const queued = await page.evaluate(
      (url) =>
        (globalThis as unknown as PageGlobals).navigator.sendBeacon(
          url,
          JSON.stringify({ session_id: 'beacon', events: [{ event_id: 'b1', object_id: 'sku-1' }] }),
        ),
      `${proxyUrl}${BASE_PATH}/session/events`,
    );
    expect(queued).toBe(true);
    const beacon = await until('the beacon', () => seen.find((s) => s.body.includes('"beacon"')));
    expect(beacon.headers['content-type']).toMatch(/^text\/plain/);
    expect(beacon.headers.authorization).toBeUndefined();
    expect(beacon.status).toBe(415);
    await page.close();
  }, 60_000);
});
