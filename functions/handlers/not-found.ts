import { HttpError } from '../http/errors.js';
import { API_ROUTES, fullPath } from '../http/api-routes.js';
import { httpHandler } from '../http/handler.js';

/** API Gateway's `$default` route: any path or method the API does not have. */
export const handler = httpHandler({ name: 'not_found' }, async ({ event }) => {
  const { method } = event.requestContext.http;
  const allowed = Object.values(API_ROUTES)
    .filter((r) => fullPath(r) === event.rawPath)
    .map((r) => r.method);
  if (allowed.length > 0) {
    throw new HttpError(405, `Method ${method} is not allowed on ${event.rawPath}`, { allow: allowed.join(', ') });
  }
  throw new HttpError(404, 'Not Found');
});
