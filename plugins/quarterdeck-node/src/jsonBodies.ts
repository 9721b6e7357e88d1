import { InputError } from '@backstage/errors';
import express from 'express';

/**
 * A request body that is not JSON is refused (415), not ignored: express.json()
 * leaves it unread, and a POST would then run on its defaults (a rotation with
 * a day's grace instead of the `graceSeconds: 0` that was sent as text, say).
 */
function refuseBodiesNotJson(req: express.Request, _res: express.Response, next: express.NextFunction) {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (!hasBody || req.is('application/json')) {
    next();
    return;
  }
  next(Object.assign(new Error(`The body must be JSON (content-type: application/json), not ${req.headers['content-type'] ?? 'unnamed'}`), { name: 'UnsupportedMediaTypeError', statusCode: 415 }));
}

/** Express's JSON parser's own errors, said as the API says a bad body: `body:` and what is wrong. */
function sayWhyJsonFailed(error: Error & { type?: string }, _req: express.Request, _res: express.Response, next: express.NextFunction) {
  if (error.type === 'entity.parse.failed') next(new InputError(`body: not valid JSON, or not an object or array (${error.message})`));
  else next(error);
}

/**
 * The body parsing of a plugin's router: JSON up to `limit` (a larger body is
 * Express's 413), anything else a 415, JSON that does not parse a 400 that
 * says so. `router.use(...jsonBodies())`.
 */
export function jsonBodies(options: { limit?: string } = {}) {
  return [express.json({ limit: options.limit ?? '100kb' }), refuseBodiesNotJson, sayWhyJsonFailed] as const;
}
