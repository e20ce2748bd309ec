/**
 * The `clickstream` command's HTTP client: requests to the API, signed with SigV4 for `execute-api`
 * by the AWS SDK's own signer (@smithy/signature-v4 with @aws-crypto/sha256-js) and credentials from
 * the SDK's default provider chain (environment, profile, SSO, instance or container role). Requests
 * to a local server (localhost, 127.0.0.1, ::1) go unsigned. A JWT, when given, is sent as a bearer
 * token on the client routes (`/session...`, for stacks deployed with clientAuth=jwt); internal routes
 * are always signed. Transient answers (429, 5xx, network errors) are retried with backoff.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, HttpRequest } from '@smithy/types';

export const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export const isLocal = (url: URL) => LOCAL_HOSTS.has(url.hostname);

/** The region of an execute-api URL (`<api-id>.execute-api.<region>.amazonaws.com`), if it is one. */
export function regionOfUrl(url: URL): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(url.hostname)?.[1];
}

export interface SignerOptions {
  region: string;
  /** Default `execute-api`. */
  service?: string;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
}

/**
 * The SDK's SigV4 signer. No payload-hash header (`applyChecksum: false`): the canonical request is
 * the plain SigV4 one that API Gateway checks (and that AWS's published test vectors use).
 */
export const createSigner = (o: SignerOptions) =>
  new SignatureV4({
    service: o.service ?? 'execute-api',
    region: o.region,
    credentials: o.credentials,
    sha256: Sha256,
    applyChecksum: false,
  });

/** Signs a request for `url` and returns the headers to send (host, x-amz-date, authorization, ...). */
export async function signedHeaders(
  signer: SignatureV4,
  method: string,
  url: URL,
  headers: Record<string, string>,
  body: string | undefined,
  signingDate?: Date,
): Promise<Record<string, string>> {
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const request: HttpRequest = {
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    query,
    headers: { ...headers, host: url.host },
    ...(body !== undefined ? { body } : {}),
  };
  const signed = await signer.sign(request, signingDate ? { signingDate } : {});
  return signed.headers;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    what: string,
  ) {
    const detail = (body as { detail?: unknown } | undefined)?.detail;
    super(
      `${what}: HTTP ${status}${detail !== undefined ? ` ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : ''}`,
    );
    this.name = 'ApiError';
  }
}

export interface ApiOptions {
  /** Base URL: the stack's ApiUrl output (ending in /api/v1/clickstream) or a local server's. */
  url: string;
  /** Region for signing when the URL does not name one (a custom domain); default AWS_REGION. */
  region?: string;
  /** A JWT for the client routes (clientAuth=jwt). */
  token?: string;
  /** Retries of a transient failure (default 8). */
  retries?: number;
  /** Credentials instead of the SDK's default chain (tests). */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
}

const TRANSIENT = new Set([429, 500, 502, 503, 504]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Api {
  readonly base: URL;
  private signer?: SignatureV4;
  requests = 0;

  constructor(private readonly o: ApiOptions) {
    let base: URL;
    try {
      base = new URL(o.url.replace(/\/+$/, ''));
    } catch {
      throw new Error(`--url: not a URL: ${o.url}`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:')
      throw new Error(`--url: use http:// or https:// (got ${o.url})`);
    this.base = base;
    if (!isLocal(base)) {
      const region = regionOfUrl(base) ?? o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
      if (!region) throw new Error(`Cannot tell the AWS region of ${base.host}: pass --region or set AWS_REGION`);
      this.signer = createSigner({ region, credentials: o.credentials ?? fromNodeProviderChain() });
    }
  }

  get signed(): boolean {
    return this.signer !== undefined;
  }

  url(path: string, query: Record<string, string | number | boolean | undefined> = {}): URL {
    const url = new URL(`${this.base.href}${path}`);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  /** Sends a request and returns the parsed JSON answer; throws ApiError on a non-2xx answer. */
  async request<T = any>(
    method: 'GET' | 'POST',
    path: string,
    o: { query?: Record<string, string | number | boolean | undefined>; body?: unknown; expect?: number[] } = {},
  ): Promise<{ status: number; body: T }> {
    const url = this.url(path, o.query);
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    const clientRoute = path.startsWith('/session');
    const retries = this.o.retries ?? 8;
    for (let attempt = 0; ; attempt++) {
      let headers: Record<string, string> = {
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      };
      if (clientRoute && this.o.token) headers.authorization = `Bearer ${this.o.token}`;
      else if (this.signer) headers = await signedHeaders(this.signer, method, url, headers, body);
      let status: number;
      let text: string;
      let retryAfter: string | null = null;
      try {
        this.requests++;
        const res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
        status = res.status;
        retryAfter = res.headers.get('retry-after');
        text = await res.text();
      } catch (err) {
        if (attempt >= retries)
          throw new Error(
            `${method} ${url.pathname}: ${(err as Error).message}${(err as { cause?: Error }).cause ? ` (${(err as { cause: Error }).cause.message})` : ''}`,
          );
        await sleep(backoffMs(attempt));
        continue;
      }
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      if ((o.expect ?? [200]).includes(status)) return { status, body: parsed as T };
      if (TRANSIENT.has(status) && attempt < retries) {
        const hinted = Number(retryAfter);
        await sleep(Number.isFinite(hinted) && hinted > 0 ? Math.min(hinted * 1000, 20_000) : backoffMs(attempt));
        continue;
      }
      throw new ApiError(status, parsed, `${method} ${url.pathname}${url.search}`);
    }
  }
}

const backoffMs = (attempt: number) => Math.min(10_000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
