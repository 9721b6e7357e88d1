import type { ReactNode } from 'react';
import { EntityRefLink } from '@backstage/plugin-catalog-react';
import type { GatewayKeyView } from '@quarterdeck/plugin-gateway-common';
import Chip from '@mui/material/Chip';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Tooltip from '@mui/material/Tooltip';
import { formatDateTime, shortUser } from './format';

/** A key's state in a word: active, rotated (still valid for its grace period), revoked or expired. */
export function KeyStatusChip({ gatewayKey }: { gatewayKey: GatewayKeyView }) {
  if (gatewayKey.status === 'active' && gatewayKey.replacedBy) {
    return (
      <Tooltip title={`Replaced by a new key; valid until ${formatDateTime(gatewayKey.expiresAt)}`}>
        <Chip size="small" color="warning" label="rotated" />
      </Tooltip>
    );
  }
  const colors = { active: 'success', revoked: 'error', expired: 'default' } as const;
  const chip = <Chip size="small" color={colors[gatewayKey.status]} label={gatewayKey.status} />;
  if (gatewayKey.status === 'revoked') {
    return <Tooltip title={`Revoked ${formatDateTime(gatewayKey.revokedAt)} by ${shortUser(gatewayKey.revokedBy)}`}>{chip}</Tooltip>;
  }
  return chip;
}

/** Keys, masked: the secret is never listed. */
export function KeysTable(props: {
  keys: GatewayKeyView[];
  showConsumer?: boolean;
  showProduct?: boolean;
  actions?: (key: GatewayKeyView) => ReactNode;
  label?: string;
}) {
  const { keys, showConsumer, showProduct, actions, label = 'keys' } = props;
  return (
    <Table size="small" aria-label={label}>
      <TableHead>
        <TableRow>
          <TableCell>Key</TableCell>
          {showConsumer && <TableCell>Consumer</TableCell>}
          {showProduct && <TableCell>Product</TableCell>}
          <TableCell>Plan</TableCell>
          <TableCell>Status</TableCell>
          <TableCell>Created</TableCell>
          <TableCell>Expires</TableCell>
          {actions && <TableCell align="right">Actions</TableCell>}
        </TableRow>
      </TableHead>
      <TableBody>
        {keys.map(k => (
          <TableRow key={k.id}>
            <TableCell sx={{ fontFamily: 'monospace' }}>{k.masked}</TableCell>
            {showConsumer && <TableCell><EntityRefLink entityRef={k.componentRef} defaultKind="component" /></TableCell>}
            {showProduct && <TableCell>{k.productId}</TableCell>}
            <TableCell>{k.plan}{k.models ? ` (${k.models.join(', ')})` : ''}</TableCell>
            <TableCell><KeyStatusChip gatewayKey={k} /></TableCell>
            <TableCell>{formatDateTime(k.createdAt)}<br />by {shortUser(k.createdBy)}</TableCell>
            <TableCell>{k.expiresAt ? formatDateTime(k.expiresAt) : 'never'}</TableCell>
            {actions && <TableCell align="right">{actions(k)}</TableCell>}
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}
