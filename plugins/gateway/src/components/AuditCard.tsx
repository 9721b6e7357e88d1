import { InfoCard, Progress, ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { EntityRefLink } from '@backstage/plugin-catalog-react';
import type { GatewayAuditEvent } from '@quarterdeck/plugin-gateway-common';
import Box from '@mui/material/Box';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { usePolling } from '@quarterdeck/plugin-quarterdeck-react';
import { gatewayApiRef } from '../api/GatewayClient';
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

/**
 * Who did what on an entity through the gateway, newest first; without an
 * entityRef, across the whole gateway (the admin page), with each row's entity.
 */
export function AuditCard({ entityRef, refreshKey }: { entityRef?: string; refreshKey?: unknown }) {
  const gateway = useApi(gatewayApiRef);
  const { value, error } = usePolling(() => gateway.listAudit({ entityRef }), 30_000, `${entityRef ?? '*'}|${String(refreshKey)}`);
  let body;
  if (error && !value) body = <ResponseErrorPanel error={error} />;
  else if (!value) body = <Progress />;
  else if (value.length === 0) {
    body = <Typography variant="body2" color="text.secondary">Nothing has happened here yet: requests, approvals, rotations and revocations are recorded as they happen.</Typography>;
  } else {
    body = (
      <Table size="small" aria-label="gateway audit trail">
        <TableHead>
          <TableRow>
            <TableCell>When</TableCell><TableCell>Who</TableCell>{!entityRef && <TableCell>On</TableCell>}<TableCell>Action</TableCell><TableCell>Details</TableCell><TableCell>Reason</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {rowsOf(value, !entityRef).map(({ event: e, entityRefs }) => (
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
    );
  }
  return <InfoCard title="Audit trail" subheader={entityRef ? undefined : 'Every API and component, the newest 100'}>{body}</InfoCard>;
}
