/**
 * The erasure key in AWS: read once per instance through the AWS Parameters and Secrets Lambda
 * Extension (functions/storage/erasure-key.ts). A local HTTP server stands in for the extension on
 * its port (PARAMETERS_SECRETS_EXTENSION_HTTP_PORT) and answers as the extension documents:
 * Secrets Manager's GetSecretValue answer as JSON. Checked: the exact request (path, secret id,
 * the session token header), one read per instance, 503 when the extension fails or is unreachable
 * (and a later request reads again), and a refusal that is not transient stays an error.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DomainError } from '../../functions/shared/errors.js';
import { resetErasureKey, userHmac } from '../../functions/storage/erasure-key.js';

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ErasureKey-AbCdEf';
const KEY = 'k'.repeat(64);
let server: Server;
let seen: { url?: string; token?: string | string[] }[] = [];
let answer: (req: IncomingMessage) => { status: number; body: string } = () => ({ status: 200, body: '' });

const saved = { ...process.env };
beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ url: req.url, token: req.headers['x-aws-parameters-secrets-token'] });
    const { status, body } = answer(req);
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  seen = [];
  delete process.env.CLICKSTREAM_ERASURE_KEY;
  process.env.ERASURE_KEY_SECRET_ARN = SECRET_ARN;
  process.env.AWS_SESSION_TOKEN = 'session-token';
  process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT = String((server.address() as AddressInfo).port);
  resetErasureKey();
});
afterEach(() => {
  process.env = { ...saved };
  resetErasureKey();
});

const hmac = (key: string, user: string) => `hmac-sha256:${createHmac('sha256', key).update(user).digest('hex')}`;
const secretAnswer = () => ({
  status: 200,
  body: JSON.stringify({ ARN: SECRET_ARN, Name: 'ErasureKey', SecretString: KEY }),
});

describe('erasure key through the secrets extension', () => {
  it('asks the extension for the secret once, with the session token, and keys the receipts with it', async () => {
    answer = secretAnswer;
    expect(await userHmac('user-1')).toBe(hmac(KEY, 'user-1'));
    expect(await userHmac('user-2')).toBe(hmac(KEY, 'user-2'));
    expect(seen).toEqual([
      { url: `/secretsmanager/get?secretId=${encodeURIComponent(SECRET_ARN)}`, token: 'session-token' },
    ]);
  });

  it('a failing or throttled extension is a 503-kind error, and the next request reads again', async () => {
    for (const failure of [
      { status: 500, body: '{}' },
      { status: 400, body: '{"__type":"ThrottlingException","message":"Rate exceeded"}' },
    ]) {
      answer = () => failure;
      const caught = await userHmac('user-1').catch((e: unknown) => e);
      expect(caught).toBeInstanceOf(DomainError);
      expect((caught as DomainError).kind).toBe('unavailable');
    }
    answer = secretAnswer;
    expect(await userHmac('user-1')).toBe(hmac(KEY, 'user-1'));
    expect(seen).toHaveLength(3);
  });

  it('an unreachable extension is a 503-kind error', async () => {
    process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT = '1'; // nothing listens there
    const caught = await userHmac('user-1').catch((e: unknown) => e);
    expect((caught as DomainError).kind).toBe('unavailable');
  });

  it('a refusal (no permission) or a secret without a string is an error, not a 503', async () => {
    answer = () => ({ status: 403, body: '{"message":"not authorized"}' });
    const refused = await userHmac('user-1').catch((e: unknown) => e);
    expect(refused).not.toBeInstanceOf(DomainError);
    expect((refused as Error).message).toMatch(/answered 403/);
    answer = () => ({ status: 200, body: JSON.stringify({ ARN: SECRET_ARN, SecretBinary: 'AAAA' }) });
    expect(((await userHmac('user-1').catch((e: unknown) => e)) as Error).message).toMatch(/no secret string/);
  });

  it('locally the given key is used and the extension is never asked', async () => {
    process.env.CLICKSTREAM_ERASURE_KEY = 'local-key';
    expect(await userHmac('user-1')).toBe(hmac('local-key', 'user-1'));
    expect(seen).toEqual([]);
  });
});
