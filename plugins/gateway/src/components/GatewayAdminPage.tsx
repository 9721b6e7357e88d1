import { useState } from 'react';
import { EmptyState, InfoCard, Progress, ResponseErrorPanel, StructuredMetadataTable } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { EntityRefLink } from '@backstage/plugin-catalog-react';
import { permissionApiRef, usePermission } from '@backstage/plugin-permission-react';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { gatewayAdminPermission, gatewayKeyRequestReviewPermission, type GatewayProduct } from '@quarterdeck/plugin-gateway-common';
import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { errorMessage, usePolling } from '@quarterdeck/plugin-quarterdeck-react';
import { gatewayApiRef } from '../api/GatewayClient';
import { AuditCard } from './AuditCard';
import { FIGURES_TABLE_SX, keyRequestCount } from './common';
import { formatDateTime, formatNumber, shortUser } from './format';
import { PendingKeyRequests } from './PendingKeyRequests';
import { UsagePanel } from './UsagePanel';

type KeyCounts = { totalItems: number; activeItems: number };

type Overview = {
  products: GatewayProduct[];
  /** Every product's key counts, or why they could not be read (the products are still listed). */
  counts?: Map<string, KeyCounts>;
  countError?: string;
};

const formatKeyCounts = (counts?: KeyCounts) =>
  (counts ? `${formatNumber(counts.activeItems)} of ${formatNumber(counts.totalItems)}` : '–');

function ProductsOverview({ refreshKey }: { refreshKey: number }) {
  const gateway = useApi(gatewayApiRef);
  // Two reads whatever the number of products: the products, and every product's key counts in one grouped count.
  const { value, error } = usePolling(async (): Promise<Overview> => {
    const [products, counts] = await Promise.all([
      gateway.listProducts(),
      gateway.countKeysByProduct().then(byProduct => new Map(Object.entries(byProduct)), (e: unknown) => errorMessage(e)),
    ]);
    return typeof counts === 'string' ? { products, countError: counts } : { products, counts };
  }, 30_000, String(refreshKey));

  if (error && !value) return <ResponseErrorPanel error={error} />;
  if (!value) return <Progress />;
  const { products, counts, countError } = value;
  // A product without keys has no count of its own: 0 of 0.
  const keysOf = (id: string) => (counts ? counts.get(id) ?? { totalItems: 0, activeItems: 0 } : undefined);
  if (products.length === 0) {
    return (
      <EmptyState missing="content" title="No gateway products yet"
        description="A product puts an API entity behind the gateway: define one with PUT /api/gateway/products/<id>, or list its YAML under gateway.products in app-config.yaml." />
    );
  }
  return (
    <InfoCard title={`Products (${products.length})`} subheader="Every API offered through the gateway, its plans and keys; their calls are under Usage">
      {error && <ResponseErrorPanel error={error} title="Could not refresh" />}
      {countError && <Typography variant="body2" color="error">Could not count the products' keys: {countError}</Typography>}
      <Table size="small" aria-label="gateway products" sx={FIGURES_TABLE_SX}>
        <TableHead>
          <TableRow>
            <TableCell>Product</TableCell><TableCell>API</TableCell><TableCell>Kind</TableCell><TableCell>Plans</TableCell>
            <TableCell align="right">Active keys</TableCell><TableCell>Updated</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {products.map(product => (
            <TableRow key={product.id}>
              <TableCell><b>{product.title ?? product.id}</b><Typography variant="caption" display="block" color="text.secondary">{product.id}</Typography></TableCell>
              <TableCell sx={{ whiteSpace: 'nowrap' }}><EntityRefLink entityRef={product.entityRef} defaultKind="api" /></TableCell>
              <TableCell><Chip size="small" label={product.kind} /></TableCell>
              <TableCell>{product.plans.map(p => p.name).join(', ')}</TableCell>
              <TableCell align="right">{formatKeyCounts(keysOf(product.id))}</TableCell>
              <TableCell sx={{ whiteSpace: 'nowrap' }}>{formatDateTime(product.updatedAt)}<br />by {shortUser(product.updatedBy)}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </InfoCard>
  );
}

/** This replica's data plane: is it serving, since when, how often it died, and the policy it holds. */
function DataPlaneCard() {
  const gateway = useApi(gatewayApiRef);
  const { value, error } = usePolling(() => gateway.getStatus(), 10_000);
  if (error && !value) return <InfoCard title="Data plane"><ResponseErrorPanel error={error} /></InfoCard>;
  if (!value) return <InfoCard title="Data plane"><Progress /></InfoCard>;
  const { dataPlane, limits, allowedUpstreamHosts, held } = value;
  // A replica from before watchers (a rolling upgrade) does not say: read as none.
  const watchers = value.keyRequestWatchers ?? [];
  const exit = dataPlane.lastExit;
  const metadata = {
    replica: dataPlane.host,
    listening: dataPlane.url ?? '–',
    process: dataPlane.running ? `${dataPlane.pid}, serving since ${formatDateTime(dataPlane.since)}` : 'starting',
    restarts: dataPlane.restarts === 0 || !exit
      ? 'none since the portal started'
      : `${dataPlane.restarts}; last exit ${formatDateTime(exit.at)} (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`,
    streamedEvents: dataPlane.streams.relay === 'native' ? 'forwarded by the native relay' : `forwarded in JavaScript: ${dataPlane.streams.reason ?? 'no native relay'}`,
    limitsAndBudgets: limits === 'redis' ? 'counted in Redis, shared by every replica' : "counted in this replica's memory",
    holds: `${formatNumber(held.keys)} key${held.keys === 1 ? '' : 's'}, ${formatNumber(held.products)} product${held.products === 1 ? '' : 's'}`,
    // A backlog that keeps growing is a database that does not keep up with the calls (a replica from before does not say).
    ...(value.usageRows ? {
      usageRows: `${formatNumber(value.usageRows.waiting)} waiting to be written; ${value.usageRows.dropped === 0 ? 'none' : formatNumber(value.usageRows.dropped)} dropped since the portal started`,
    } : {}),
    upstreamAllowlist: allowedUpstreamHosts.length === 0
      ? 'empty: no upstream may be added'
      : <Stack direction="row" spacing={1} useFlexGap flexWrap="wrap">{allowedUpstreamHosts.map(host => <Chip key={host} size="small" label={host} />)}</Stack>,
    keyRequestsToldTo: (
      <Stack direction="row" spacing={1} useFlexGap flexWrap="wrap" alignItems="center">
        <span>each API's owners{watchers.length === 0 ? ' only (gateway.keyRequestWatchers names no one else)' : ', and'}</span>
        {watchers.map((ref, i) => <span key={ref}><EntityRefLink entityRef={ref} />{i < watchers.length - 1 ? ',' : ''}</span>)}
      </Stack>
    ),
  };
  const outside = value.upstreamsOutsideAllowlist ?? [];
  return (
    <InfoCard
      title={<Stack direction="row" spacing={1} alignItems="center"><span>Data plane</span><Chip size="small" color={dataPlane.running ? 'success' : 'error'} label={dataPlane.running ? 'serving' : 'starting again'} /></Stack>}
      subheader="The replica that answered; each runs its own"
    >
      {error && <ResponseErrorPanel error={error} title="Could not refresh: this is the last status read" />}
      {outside.length > 0 && (
        <Alert severity="warning" sx={{ mb: 2 }}>
          <AlertTitle>Not called: {outside.length === 1 ? 'an upstream' : `${outside.length} upstreams`} outside the allowlist</AlertTitle>
          {outside.map(o => `${o.productId} → ${o.upstream} (${o.host})`).join(', ')}. The allowlist no longer takes
          their hosts, so the data plane refuses their calls (502 upstream_not_allowed): allow the host again, or edit the product.
        </Alert>
      )}
      <StructuredMetadataTable metadata={metadata} dense />
    </InfoCard>
  );
}

/** Every API's pending key requests, oldest first, to decide from one place. */
function ReviewQueue({ onDecided }: { onDecided: () => void }) {
  const gateway = useApi(gatewayApiRef);
  const permissionApi = useApi(permissionApiRef);
  const { value, error, retry } = usePolling(async () => {
    const requests = await gateway.listKeyRequests({ status: 'pending' });
    // The page needs gateway.admin; deciding needs gateway.key-request.review on each request's API.
    const apis = [...new Set(requests.map(r => r.apiRef))];
    const decisions = await Promise.all(apis.map(resourceRef => permissionApi.authorize({ permission: gatewayKeyRequestReviewPermission, resourceRef })));
    return { requests, reviewable: new Set(apis.filter((_, i) => decisions[i].result === AuthorizeResult.ALLOW)) };
  }, 15_000);
  let body;
  if (error && !value) body = <ResponseErrorPanel error={error} />;
  else if (!value) body = <Progress />;
  else {
    const { requests, reviewable } = value;
    body = (
      <>
        {error && <ResponseErrorPanel error={error} title="Could not refresh" />}
        <PendingKeyRequests
          requests={requests}
          showApi
          reviewWhy={r => (reviewable.has(r.apiRef) ? undefined : `You may not review key requests for ${r.apiRef} (${gatewayKeyRequestReviewPermission.name} on the API).`)}
          empty="No request waits for review on any API. Components request keys from their own Gateway tab; each API's owners decide on its Gateway tab, or platform admins here."
          onDecided={() => {
            retry();
            onDecided();
          }}
        />
      </>
    );
  }
  return (
    <InfoCard title={`Key requests waiting for review${value ? ` (${keyRequestCount(value.requests.length)})` : ''}`} subheader="Every API's, oldest first: the next to expire on top">
      {body}
    </InfoCard>
  );
}

/**
 * The gateway admin page, for platform admins: this replica's data plane,
 * every product with its keys, the whole gateway's usage over time, every API's pending key requests, and the whole gateway's
 * audit trail.
 */
export function GatewayAdminPage() {
  const { allowed, loading, error } = usePermission({ permission: gatewayAdminPermission });
  // A decision here changes the products' key counts and the audit trail: both read again.
  const [changes, setChanges] = useState(0);
  let content;
  if (loading) content = <Progress />;
  // A check that failed is no answer: not "admins only" to an admin during a permission outage.
  else if (error) content = <ResponseErrorPanel error={error} title="Could not check whether you may open the gateway admin page: try again later" />;
  else if (!allowed) {
    content = (
      <EmptyState
        missing="data"
        title="Platform admins only"
        description={`The gateway admin page shows every product, key and its usage; it needs the ${gatewayAdminPermission.name} permission, which members of platform-admins hold. To manage an API's product, keys and requests, open the API's Gateway tab; to request a key, open your component's Gateway tab.`}
      />
    );
  } else {
    content = (
      <Stack spacing={3}>
        <DataPlaneCard />
        <ProductsOverview refreshKey={changes} />
        <UsagePanel title="Usage" subheader="Every product's calls, a removed product's included" />
        <ReviewQueue onDecided={() => setChanges(n => n + 1)} />
        <AuditCard refreshKey={changes} />
      </Stack>
    );
  }
  return <Box sx={{ p: 3 }}>{content}</Box>;
}
