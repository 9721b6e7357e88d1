import { useState } from 'react';
import { InfoCard, Progress, ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { EntityRefLink } from '@backstage/plugin-catalog-react';
import { GATEWAY_AUDIT_ACTIONS, type GatewayAuditAction, type GatewayAuditEvent } from '@quarterdeck/plugin-gateway-common';
import ChevronLeftIcon from '@mui/icons-material/ChevronLeft';
import ChevronRightIcon from '@mui/icons-material/ChevronRight';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import LinearProgress from '@mui/material/LinearProgress';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { usePolling } from '@quarterdeck/plugin-quarterdeck-react';
import { gatewayApiRef } from '../api/GatewayClient';
import { useReadFailures } from './common';
import { formatDateTime, shortUser } from './format';

/** The details worth a glance: plan, component, new key, grace period… */
function detailText(event: GatewayAuditEvent): string {
  const d = event.details ?? {};
  const parts: string[] = [];
  if (typeof d.componentRef === 'string') parts.push(d.componentRef);
  if (typeof d.productId === 'string') parts.push(`product ${d.productId}`);
  if (typeof d.plan === 'string') parts.push(`plan ${d.plan}`);
  if (typeof d.publicId === 'string') parts.push(`key qdk_${d.publicId}_…`);
  // A rotation says until when the old key works (older events only had the grace asked for).
  if (typeof d.graceUntil === 'string') parts.push(`old key works until ${formatDateTime(d.graceUntil)}`);
  else if (typeof d.graceSeconds === 'number') parts.push(`grace ${d.graceSeconds} s`);
  if (typeof d.route === 'string') parts.push(`route ${d.route}`);
  if (d.weights && typeof d.weights === 'object') {
    parts.push(Object.entries(d.weights as Record<string, number>).map(([m, w]) => `${m} ${w}%`).join(', '));
  }
  // A product edit says what it changed: "plan batch added, plan standard changed".
  if (Array.isArray(d.changes)) parts.push(d.changes.length ? d.changes.join(', ') : 'no change');
  // A removal says which plans the product had.
  if (Array.isArray(d.plans)) parts.push(d.plans.length === 1 ? `had plan ${d.plans[0]}` : `had plans ${d.plans.join(', ')}`);
  return parts.join(' · ');
}

type AuditRow = { event: GatewayAuditEvent; entityRefs: string[] };

/**
 * One row per action: an action on two entities (a key request is recorded
 * on the API and on the component) is written as one event each, next to
 * each other; across the gateway they read as one row on both.
 */
function rowsOf(events: GatewayAuditEvent[], merge: boolean): AuditRow[] {
  const rows: AuditRow[] = [];
  for (const event of events) {
    const last = rows[rows.length - 1]?.event;
    const same = merge && last && last.createdAt === event.createdAt && last.actor === event.actor && last.action === event.action && last.target === event.target;
    if (same) {
      if (event.entityRef) rows[rows.length - 1].entityRefs.push(event.entityRef);
    } else {
      rows.push({ event, entityRefs: event.entityRef ? [event.entityRef] : [] });
    }
  }
  return rows;
}

/** How many entries a page asks for (a page keeps a change's rows together, so it may show a few more). */
export const AUDIT_PAGE_SIZE = 25;

/**
 * Who did what on an entity through the gateway, newest first, a page at a
 * time; without an entityRef, across the whole gateway (the admin page), with
 * each row's entity. Narrowed to one action on demand. Pages go back from a
 * cursor (each page's `next`), so entries that arrive meanwhile do not shift
 * the older pages; the first page is read again every 30 s.
 */
export function AuditCard({ entityRef, refreshKey }: { entityRef?: string; refreshKey?: unknown }) {
  const gateway = useApi(gatewayApiRef);
  const [action, setAction] = useState<GatewayAuditAction | ''>('');
  const trailKey = `${entityRef ?? '*'}|${action}`;
  // The cursors of the pages gone through, newest first; a page belongs to its trail and action.
  const [visited, setVisited] = useState<{ trailKey: string; cursors: Array<string | undefined> }>({ trailKey, cursors: [undefined] });
  const cursors = visited.trailKey === trailKey ? visited.cursors : [undefined];
  const before = cursors[cursors.length - 1];
  const pageKey = `${trailKey}|${before ?? ''}`;
  const reads = useReadFailures();
  const { value, error } = usePolling(
    async () => ({ entityRef, trailKey, before, page: await reads.track(pageKey, gateway.listAudit({ entityRef, action: action || undefined, before, limit: AUDIT_PAGE_SIZE })) }),
    30_000,
    `${pageKey}|${String(refreshKey)}`,
  );
  const turning = value !== undefined && (value.trailKey !== trailKey || value.before !== before);
  const failedHere = reads.isFrom(error, pageKey);
  // The page turned to could not be read: its error, not the page before's rows under its number (the poll reads it again).
  const turnFailed = turning && failedHere;
  // Another entity's trail (the page moved to another entity) is not shown under this one's while it loads.
  const page = turnFailed || !value || value.entityRef !== entityRef ? undefined : value.page;

  let body;
  if (failedHere && !page) body = <ResponseErrorPanel error={error!} />;
  else if (!page) body = <Progress />;
  else if (page.items.length === 0) {
    body = (
      <Typography variant="body2" color="text.secondary">
        {action
          ? `No ${action} here.`
          : 'Nothing has happened here yet: requests, approvals, rotations and revocations are recorded as they happen.'}
      </Typography>
    );
  } else {
    body = (
      <>
        {/* This page's own failed refresh only: a page turned back to is shown at once, before its read, and the
            error of the page that could not be read is not this one's. */}
        {failedHere && <ResponseErrorPanel error={error!} title="Could not refresh the audit trail" />}
        <Box sx={{ height: 4 }}>{turning && <LinearProgress aria-label="loading audit entries" />}</Box>
        <Table size="small" aria-label="gateway audit trail">
          <TableHead>
            <TableRow>
              <TableCell>When</TableCell><TableCell>Who</TableCell>{!entityRef && <TableCell>On</TableCell>}<TableCell>Action</TableCell><TableCell>Details</TableCell><TableCell>Reason</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {rowsOf(page.items, !entityRef).map(({ event: e, entityRefs }) => (
              <TableRow key={e.id}>
                <TableCell sx={{ whiteSpace: 'nowrap' }}>{formatDateTime(e.createdAt)}</TableCell>
                <TableCell sx={{ whiteSpace: 'nowrap' }}>{shortUser(e.actor)}</TableCell>
                {!entityRef && (
                  <TableCell sx={{ whiteSpace: 'nowrap' }}>
                    {entityRefs.map(ref => <Box key={ref}><EntityRefLink entityRef={ref} /></Box>)}
                  </TableCell>
                )}
                <TableCell sx={{ whiteSpace: 'nowrap' }}>{e.action}</TableCell>
                <TableCell>{detailText(e)}</TableCell>
                <TableCell>{e.reason ?? ''}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </>
    );
  }
  const pages = (next: Array<string | undefined>) => setVisited({ trailKey, cursors: next });
  // After a failed turn too, so Newer still leads back.
  const paging = (page || turnFailed) && (cursors.length > 1 || page?.next) ? (
    <Stack direction="row" spacing={1} alignItems="center" justifyContent="flex-end" sx={{ mt: 1 }}>
      <Typography variant="body2" color="text.secondary">Page {cursors.length}</Typography>
      <Button size="small" startIcon={<ChevronLeftIcon />} disabled={cursors.length === 1 || (turning && !turnFailed)} onClick={() => pages(cursors.slice(0, -1))}>Newer</Button>
      <Button size="small" endIcon={<ChevronRightIcon />} disabled={!page?.next || turning} onClick={() => pages([...cursors, page?.next])}>Older</Button>
    </Stack>
  ) : null;
  return (
    <InfoCard
      title="Audit trail"
      subheader={entityRef ? undefined : 'Every API and component'}
      action={
        <TextField
          select
          size="small"
          label="Action"
          value={action}
          onChange={e => setAction(e.target.value as GatewayAuditAction | '')}
          SelectProps={{ native: true }}
          InputLabelProps={{ shrink: true }}
          sx={{ mt: 1, mr: 1, minWidth: 200 }}
        >
          <option value="">All actions</option>
          {GATEWAY_AUDIT_ACTIONS.map(a => <option key={a} value={a}>{a}</option>)}
        </TextField>
      }
    >
      {body}
      {paging}
    </InfoCard>
  );
}
