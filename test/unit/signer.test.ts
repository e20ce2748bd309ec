/**
 * The `clickstream` command's signing: the SDK's SigV4 signer as the command configures it
 * reproduces AWS's published SigV4 test vector (aws-sig-v4-test-suite, "get-vanilla"); requests to
 * an execute-api URL carry a signature for execute-api in the URL's region that the SDK's signer,
 * given the same request and time, computes identically; local URLs go unsigned; a JWT goes to
 * client routes only.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Api, createSigner, signedHeaders } from '../../lib/cli/api.js';

const VECTOR_CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

afterEach(() => vi.unstubAllGlobals());

/** Captures the requests the command sends. */
function captureFetch() {
  const sent: { url: string; method: string; headers: Record<string, string> }[] = [];
  vi.stubGlobal('fetch', async (url: URL, init: RequestInit) => {
    sent.push({ url: String(url), method: String(init.method), headers: init.headers as Record<string, string> });
    return new Response('{"ok":true}', { status: 200, headers: { 'content-type': 'application/json' } });
  });
  return sent;
}

describe('SigV4 signing', () => {
  it("reproduces AWS's published test vector get-vanilla", async () => {
    const signer = createSigner({ region: 'us-east-1', service: 'service', credentials: VECTOR_CREDENTIALS });
    const headers = await signedHeaders(
      signer,
      'GET',
      new URL('https://example.amazonaws.com/'),
      {},
      undefined,
      new Date('2015-08-30T12:36:00Z'),
    );
    expect(headers['x-amz-date']).toBe('20150830T123600Z');
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });

  it("signs execute-api requests in the URL's region, as the SDK's signer does for the same request", async () => {
    const sent = captureFetch();
    const credentials = { ...VECTOR_CREDENTIALS, sessionToken: 'session-token' };
    const api = new Api({
      url: 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/api/v1/clickstream',
      credentials,
    });
    await api.request('GET', '/internal/batch/sessions', { query: { batch_id: 'b 1/ü', after_number: 0, limit: 100 } });
    await api.request('POST', '/internal/batch/release', { body: { release_id: 'r1' } });
    for (const [i, req] of sent.entries()) {
      const url = new URL(req.url);
      expect(req.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]*host;[a-z0-9;-]*x-amz-date[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
      );
      expect(req.headers['x-amz-security-token']).toBe('session-token');
      // Re-sign the very request with a separately built SDK signer at the same instant.
      const xAmzDate = req.headers['x-amz-date']!;
      const when = new Date(
        `${xAmzDate.slice(0, 4)}-${xAmzDate.slice(4, 6)}-${xAmzDate.slice(6, 8)}T${xAmzDate.slice(9, 11)}:${xAmzDate.slice(11, 13)}:${xAmzDate.slice(13, 15)}Z`,
      );
      const reference = new SignatureV4({
        service: 'execute-api',
        region: 'eu-west-1',
        credentials,
        sha256: Sha256,
        applyChecksum: false,
      });
      const body = i === 1 ? JSON.stringify({ release_id: 'r1' }) : undefined;
      const expected = await reference.sign(
        {
          method: req.method,
          protocol: 'https:',
          hostname: url.hostname,
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: {
            accept: 'application/json',
            ...(body ? { 'content-type': 'application/json' } : {}),
            host: url.host,
          },
          ...(body ? { body } : {}),
        },
        { signingDate: when },
      );
      expect(req.headers.authorization).toBe(expected.headers.authorization);
    }
  });

  it('sends requests to a local server unsigned, and a JWT only to client routes', async () => {
    const sent = captureFetch();
    const local = new Api({ url: 'http://127.0.0.1:3999/api/v1/clickstream', credentials: VECTOR_CREDENTIALS });
    expect(local.signed).toBe(false);
    await local.request('GET', '/internal/batch');
    expect(sent[0]!.headers.authorization).toBeUndefined();

    const remote = new Api({
      url: 'https://a1b2c3d4e5.execute-api.us-west-2.amazonaws.com/api/v1/clickstream',
      token: 'jwt-token',
      credentials: VECTOR_CREDENTIALS,
    });
    await remote.request('GET', '/session', { query: { session_id: 's' } });
    await remote.request('GET', '/internal/batch');
    expect(sent[1]!.headers.authorization).toBe('Bearer jwt-token');
    expect(sent[2]!.headers.authorization).toMatch(/\/us-west-2\/execute-api\/aws4_request/);
  });

  it('asks for a region when the URL does not name one', () => {
    const region = process.env.AWS_REGION;
    delete process.env.AWS_REGION;
    try {
      expect(
        () => new Api({ url: 'https://api.example.com/api/v1/clickstream', credentials: VECTOR_CREDENTIALS }),
      ).toThrow(/--region/);
      expect(
        new Api({
          url: 'https://api.example.com/api/v1/clickstream',
          region: 'ap-south-1',
          credentials: VECTOR_CREDENTIALS,
        }).signed,
      ).toBe(true);
    } finally {
      if (region !== undefined) process.env.AWS_REGION = region;
    }
  });
});
