import { ConflictError, InputError, NotFoundError } from '@backstage/errors';

/*
 * Typed errors of the cluster layer. They extend Backstage's errors, whose
 * names the backend's error handler maps to status codes, so a route that
 * lets one through answers 400, 404 or 409 with the message.
 */

/** A manifest or selector the cluster would refuse (400). */
export class InvalidObjectError extends InputError {}

/** No cluster by that name is configured (404). */
export class UnknownClusterError extends NotFoundError {
  constructor(cluster: string) {
    super(`No cluster named '${cluster}' is configured`);
  }
}

/** The object does not exist (404). */
export class ObjectNotFoundError extends NotFoundError {}

/** A resourceVersion or field-ownership conflict (409). */
export class ObjectConflictError extends ConflictError {}
