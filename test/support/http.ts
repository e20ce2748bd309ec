/** The local server (the same route table and handlers as the stack) on a free port, and a client. */
import { startLocalServer, type LocalServer } from '../../lib/local/server.js';
import { BASE_PATH } from '../../lib/routes.js';

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

export class Api {
  private constructor(readonly server: LocalServer) {}

  static async start(): Promise<Api> {
    return new Api(await startLocalServer());
  }

  url(path: string): string {
    return `${this.server.url}${BASE_PATH}${path}`;
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' || body instanceof Uint8Array ? (body as string) : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const res = await fetch(this.url(path), init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  post(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request('POST', path, body, headers);
  }

  get(path: string, query: Record<string, string | number | boolean> = {}) {
    const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
    return this.request('GET', qs ? `${path}?${qs}` : path);
  }

  close() {
    return this.server.close();
  }
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

export function sessionBody(id: string, extra: Record<string, unknown> = {}) {
  return {
    session_id: id,
    search_query: 'red shoes',
    search_results: [
      { object_id: 'o1', rank: 1, meta: { title: 'Red shoe' } },
      { object_id: 'o2', rank: 2 },
    ],
    ...extra,
  };
}
