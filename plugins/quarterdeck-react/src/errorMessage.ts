/**
 * What a failed call says: the backend's `{error: {message}}` (a
 * ResponseError's body, which names what was wrong), else the error's own
 * message. ResponseError's `message` alone is only "Request failed with 409
 * Conflict".
 */
export function errorMessage(error: unknown): string {
  const e = error as { body?: { error?: { message?: string } }; message?: string };
  return e?.body?.error?.message ?? e?.message ?? String(error);
}
