import { useState } from 'react';
import { EmptyState, InfoCard, Progress, ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { EntityRefLink, useEntity } from '@backstage/plugin-catalog-react';
import { usePermission } from '@backstage/plugin-permission-react';
import { GATEWAY_PRODUCT_ANNOTATION, gatewayKeyRequestReviewPermission, gatewayProductManagePermission } from '@quarterdeck/plugin-gateway-common';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { usePolling } from '@quarterdeck/plugin-quarterdeck-react';
import { gatewayApiRef } from '../api/GatewayClient';
import { AuditCard } from './AuditCard';
import { ExplainedButton, keyRequestCount, keyRequestsOf, permissionWhy, RequestStatusChip, reviewedText } from './common';
import { formatDateTime, shortUser } from './format';
import { IssuedKeysCard } from './IssuedKeysCard';
import { PendingKeyRequests } from './PendingKeyRequests';
import { ProductCard } from './ProductCard';
import { ProductEditor, type ProductEditorTarget } from './ProductEditor';
import { UsagePanel } from './UsagePanel';

/** The Gateway tab of an API entity: its product, key requests to review, keys, usage and audit trail. */
export function ApiGatewayContent() {
  const { entity } = useEntity();
  const apiRef = stringifyEntityRef(entity);
  const gateway = useApi(gatewayApiRef);
  const review = usePermission({ permission: gatewayKeyRequestReviewPermission, resourceRef: apiRef });
  const manage = usePermission({ permission: gatewayProductManagePermission, resourceRef: apiRef });
  const [editing, setEditing] = useState<ProductEditorTarget | undefined>();
  const title = entity.metadata.title ?? entity.metadata.name;
  const { value, error, loading, retry } = usePolling(async () => {
    const [products, requests] = await Promise.all([gateway.listProducts({ entityRef: apiRef }), keyRequestsOf(gateway, apiRef)]);
    const product = products[0];
    // Without a product, whether it had one: its removal says when, by whom and why, and its usage is still there to see.
    const removal = product ? undefined : (await gateway.listAudit({ entityRef: apiRef, action: 'product.deleted', limit: 1 })).items[0];
    return { product, removal, ...requests };
    // Another API's page shows nothing of this one's (its product, its Edit) while its own loads.
  }, 10_000, apiRef, { resetOnKeyChange: true });
  const [changes, setChanges] = useState(0);
  const changed = () => {
    setChanges(n => n + 1);
    retry();
  };
  const saved = () => {
    setEditing(undefined);
    changed();
  };
  const editor = <ProductEditor target={editing} onClose={() => setEditing(undefined)} onSaved={saved} onRemoved={saved} />;

  if (loading && !value) return <Progress />;
  if (error && !value) return <ResponseErrorPanel error={error} />;
  if (!value?.product) {
    const annotated = entity.metadata.annotations?.[GATEWAY_PRODUCT_ANNOTATION];
    const removal = value?.removal;
    const offering = annotated
      ? `The API names the gateway product "${annotated}" (${GATEWAY_PRODUCT_ANNOTATION}), but no such product is defined for ${apiRef}. Its owners define it here, with PUT /api/gateway/products/${annotated}, or in a YAML file under gateway.products in app-config.yaml.`
      : `To let components request keys for ${apiRef}, its owners define a gateway product for it (here, with PUT /api/gateway/products/<id> and entityRef ${apiRef}, or in a YAML file under gateway.products in app-config.yaml) and annotate the API with ${GATEWAY_PRODUCT_ANNOTATION}: <id>.`;
    // The editor second, as with a product (below).
    return (
      <>
        <Stack spacing={3}>
          <EmptyState
            missing="content"
            title="This API is not offered through the gateway"
            description={removal ? (
              <>
                {/* The reason last, as written: it may end in any punctuation. */}
                <span>{`Its gateway product "${removal.target}" was removed ${formatDateTime(removal.createdAt)} by ${shortUser(removal.actor)}${removal.reason ? `: ${removal.reason}` : '.'}`}</span>
                <br />
                <span>Its usage and audit trail stay below.</span>
                <br />
                <br />
                {offering}
              </>
            ) : offering}
            action={manage.allowed ? (
              <ExplainedButton variant="contained" size="medium" onClick={() => setEditing({ apiRef, title, suggestedId: annotated ?? entity.metadata.name })}>
                Offer through the gateway
              </ExplainedButton>
            ) : undefined}
          />
          {/* What happened to the API's product before (removed, say): its usage and trail outlive it. */}
          {removal && <UsagePanel entityRef={apiRef} title="Usage before the removal" />}
          <AuditCard entityRef={apiRef} refreshKey={changes} />
        </Stack>
        {editor}
      </>
    );
  }
  const { product, pending } = value;
  const decided = value.decided.slice(0, 20);
  const reviewers = `Only those who may review key requests for ${apiRef} (the API's owners and platform admins: ${gatewayKeyRequestReviewPermission.name})`;
  const reviewWhy = permissionWhy(review, `${reviewers} can approve or deny.`);
  const revokeWhy = permissionWhy(review, `${reviewers} can revoke its keys here; a key's own component's owners revoke it on that component's page.`);
  const editWhy = permissionWhy(manage, `Only those who may define the gateway product of ${apiRef} (its owners and platform admins: ${gatewayProductManagePermission.name}) can edit it.`);

  // The editor is the second child here as without a product, so it stays open, with its text, when the product appears.
  return (
    <>
      <Stack spacing={3}>
        {error && <ResponseErrorPanel error={error} title="Could not refresh" />}
        <ProductCard product={product} action={<ExplainedButton why={editWhy} onClick={() => setEditing({ apiRef, title, product })}>Edit</ExplainedButton>} />
        <InfoCard title={`Pending key requests (${keyRequestCount(pending.length)})`} subheader={pending.length > 1 ? 'Oldest first: the next to expire on top' : undefined}>
          <PendingKeyRequests
            requests={pending}
            reviewWhy={() => reviewWhy}
            empty="No request waits for review. Components that list this API in consumesApis request keys from their own Gateway tab."
            onDecided={changed}
          />
          {decided.length > 0 && (
            <>
              <Typography variant="subtitle2" sx={{ mt: 3 }}>Decided requests{value.decided.length > decided.length ? ` (the newest ${decided.length})` : ''}</Typography>
              <Table size="small" aria-label="decided key requests">
                <TableHead>
                  <TableRow><TableCell>Component</TableCell><TableCell>Plan</TableCell><TableCell>Status</TableCell><TableCell>Reviewed</TableCell><TableCell>Reason</TableCell></TableRow>
                </TableHead>
                <TableBody>
                  {decided.map(r => (
                    <TableRow key={r.id}>
                      <TableCell><EntityRefLink entityRef={r.componentRef} defaultKind="component" /></TableCell>
                      <TableCell>{r.plan}</TableCell>
                      <TableCell><RequestStatusChip request={r} /></TableCell>
                      <TableCell>{reviewedText(r)}</TableCell>
                      <TableCell>{r.reviewReason ?? ''}</TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            </>
          )}
        </InfoCard>
        <IssuedKeysCard key={apiRef} apiRef={apiRef} refreshKey={changes} revokeWhy={revokeWhy} onRevoked={changed} />
        <UsagePanel entityRef={apiRef} />
        <AuditCard entityRef={apiRef} refreshKey={changes} />
      </Stack>
      {editor}
    </>
  );
}
