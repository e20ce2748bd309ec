/**
 * The API's CORS policy, apart from the origins (the `corsOrigins` setting): the stack configures
 * API Gateway with it, and the local server (`npm start -- --cors-origin ...`) answers the same way.
 * Pure data, no CDK imports.
 */
export const CORS_POLICY = {
  allowMethods: ['GET', 'POST'],
  /** content-type for JSON bodies, authorization for JWT bearer tokens, the rest for SigV4. */
  allowHeaders: ['content-type', 'authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'],
  /** A browser client reads Retry-After to wait before retrying a 503 or 429. */
  exposeHeaders: ['retry-after'],
  maxAgeSeconds: 3600,
} as const;
