import type { ServerResponse } from 'node:http';

/**
 * Errors in OpenAI's JSON shape (`{ error: { message, type, param, code } }`),
 * so OpenAI SDKs surface them as they would OpenAI's own. Never a stack trace.
 */
export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  extra: { type?: string; param?: string | null; code?: string | null; headers?: Record<string, string> } = {},
) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  let type = extra.type ?? 'invalid_request_error';
  if (!extra.type && status === 429) type = 'rate_limit_error';
  else if (!extra.type && status >= 500) type = 'api_error';
  const body = JSON.stringify({ error: { message, type, param: extra.param ?? null, code: extra.code ?? null } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...extra.headers });
  res.end(body);
}

export const KEY_ERRORS = {
  missing: 'You didn\'t provide an API key. Send it as "Authorization: Bearer qdk_…".',
  malformed: 'Incorrect API key provided: it is not a Quarterdeck gateway key (qdk_…).',
  unknown: 'Incorrect API key provided.',
  revoked: 'This API key was revoked.',
  expired: 'This API key has expired.',
} as const;
