import { useMemo, useRef, type ReactNode } from 'react';
import type { GatewayKeyRequest } from '@quarterdeck/plugin-gateway-common';
import Button, { type ButtonProps } from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Tooltip from '@mui/material/Tooltip';
import type { GatewayApi } from '../api/GatewayClient';
import { formatDateTime, shortUser } from './format';

const REQUEST_COLORS = { pending: 'info', approved: 'success', denied: 'error', expired: 'default' } as const;

export function RequestStatusChip({ request }: { request: GatewayKeyRequest }) {
  return <Chip size="small" color={REQUEST_COLORS[request.status]} label={request.status} />;
}

/**
 * When and by whom a key request was decided, or when it expired unreviewed
 * (`–` while it waits): the API's page and the component's say it alike.
 */
export function reviewedText(request: GatewayKeyRequest): string {
  if (request.reviewedAt) return `${formatDateTime(request.reviewedAt)} by ${shortUser(request.reviewedBy)}`;
  return request.status === 'expired' ? `expired ${formatDateTime(request.expiresAt)}` : '–';
}

/**
 * A button that says why it is disabled: `why` (no permission, nothing to
 * do) shows as a tooltip, and disables it.
 */
export function ExplainedButton(props: ButtonProps & { why?: string; children: ReactNode }) {
  const { why, disabled, ...rest } = props;
  return (
    <Tooltip title={why ?? ''}>
      {/* Focusable while it has a reason, so a keyboard reaches the reason a disabled button cannot show (its tooltip opens on focus). */}
      {/* eslint-disable-next-line jsx-a11y/no-noninteractive-tabindex */}
      <span tabIndex={why ? 0 : undefined}>
        <Button size="small" {...rest} disabled={Boolean(why) || disabled} />
      </span>
    </Tooltip>
  );
}

export { permissionWhy, type PermissionCheck } from '@quarterdeck/plugin-quarterdeck-react';

/**
 * Which read an error came from. usePolling keeps its last value and error
 * when its key changes (a page turned, another window), so a view that shows
 * the page before while the next loads cannot tell a failed refresh of that
 * page from a failed read of the next one: the loader passes each read
 * through `track(key, read)`, and `isFrom(error, key)` says whether the error
 * is what a read for `key` threw (an error it could not tag counts as any key's).
 */
export function useReadFailures() {
  const origins = useRef(new WeakMap<object, string>());
  return useMemo(() => ({
    track: <T,>(key: string, read: Promise<T>): Promise<T> =>
      read.catch((e: unknown) => {
        if (e !== null && typeof e === 'object') origins.current.set(e, key);
        throw e;
      }),
    isFrom: (error: unknown, key: string): boolean =>
      error !== undefined && (error === null || typeof error !== 'object' || (origins.current.get(error) ?? key) === key),
  }), []);
}

/**
 * A table of figures as a narrow window shows it: headings and numbers on
 * one line, other cells broken between words only (Backstage's theme lets a
 * cell break inside a word, which a narrow table does mid-name).
 */
export const FIGURES_TABLE_SX = {
  '& th': { whiteSpace: 'nowrap' },
  '& td': { wordBreak: 'normal' },
  '& td[class*=alignRight]': { whiteSpace: 'nowrap' },
} as const;

/** A 409: what the action was taken on changed meanwhile (decided, revoked, rotated by someone else). */
export function isConflict(error: unknown): boolean {
  return (error as { statusCode?: number } | undefined)?.statusCode === 409;
}

/** How many key requests the backend lists at most (GET /key-requests). */
export const KEY_REQUEST_LIMIT = 100;

/** A count of listed key requests: "100+" when the list reached the limit, and so may hold only some. */
export const keyRequestCount = (listed: number) => (listed >= KEY_REQUEST_LIMIT ? `${listed}+` : String(listed));

/**
 * An API's or a component's key requests: the pending ones, oldest first (a
 * review queue: the next to expire on top), and the decided ones among the
 * newest 100, newest first. Two reads, because the newest 100 alone leave out
 * a pending request that a hundred others came after, and its reviewers would
 * be told that nothing waits.
 */
export async function keyRequestsOf(gateway: GatewayApi, entityRef: string) {
  const [pending, recent] = await Promise.all([
    gateway.listKeyRequests({ entityRef, status: 'pending' }),
    gateway.listKeyRequests({ entityRef }),
  ]);
  return { pending, decided: recent.filter(r => r.status !== 'pending') };
}
