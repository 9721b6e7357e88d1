import { ConflictError, InputError, NotFoundError } from '@backstage/errors';

/*
 * Typed errors of the cluster layer. They extend Backstage's errors, whose
 * names the backend's error handler maps to status codes, so a route that
 * lets one through answers 400, 404 or 409 with the message.
 */

/** A manifest or selector the cluster refuses (400). */
export class InvalidObjectError extends InputError {}

/** No cluster by that name is configured (404). */
export class UnknownClusterError extends NotFoundError {
  constructor(cluster: string) {
    super(`No cluster named '${cluster}' is configured`);
  }
}

/** The object does not exist (404). */
export class ObjectNotFoundError extends NotFoundError {}

/** A resourceVersion conflict, or an object that already exists (409). */
export class ObjectConflictError extends ConflictError {}

/** A field another manager owns, as server-side apply reports it. */
export interface FieldConflict {
  manager: string;
  /** e.g. `.spec.replicas` */
  field: string;
}

/** Server-side apply found fields owned by other managers (409). */
export class ApplyConflictError extends ObjectConflictError {
  constructor(readonly conflicts: FieldConflict[], message?: string) {
    super(
      message ??
        `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'}: ${conflicts
          .map(c => `conflict with "${c.manager}": ${c.field}`)
          .join('; ')}`,
    );
  }
}

/**
 * The watch's resourceVersion is older than what the cluster retains (the
 * API server's 410 Gone): list again and watch from the list's version.
 */
export class WatchExpiredError extends Error {
  readonly statusCode = 410;
  constructor(message = 'too old resource version') {
    super(message);
    this.name = 'WatchExpiredError';
  }
}
