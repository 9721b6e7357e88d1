import { EmptyState, Progress, ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { useEntity } from '@backstage/plugin-catalog-react';
import Alert from '@mui/material/Alert';
import Stack from '@mui/material/Stack';
import { errorMessage, usePolling } from '@quarterdeck/plugin-quarterdeck-react';
import { argoApiRef } from '../../api/ArgoClient';
import { RolloutCard } from './RolloutCard';

/** The Rollouts tab of an entity page: every Rollout of the entity, followed live. */
export function RolloutsContent() {
  const { entity } = useEntity();
  const entityRef = stringifyEntityRef(entity);
  const argo = useApi(argoApiRef);
  // Keyed by the entity: another entity's page loads its own Rollouts at once, not after the next tick,
  // and shows none of the previous entity's meanwhile (nor if its own cannot be read).
  const { value, error, loading } = usePolling(() => argo.listRollouts(entityRef), 1500, entityRef, { resetOnKeyChange: true });
  if (loading && !value) return <Progress />;
  if (error && !value) return <ResponseErrorPanel error={error} />;
  // The list as last read stays, saying it could not be read again.
  const stale = error && (
    <Alert severity="warning">Could not refresh the list of this entity's Rollouts (shown as last read): {errorMessage(error)}</Alert>
  );
  if (!value || value.length === 0) {
    return (
      <Stack spacing={3}>
        {stale}
        <EmptyState
          missing="data"
          title="No Rollouts for this entity"
          description={`Quarterdeck looks for argoproj.io Rollouts labelled backstage.io/kubernetes-id=${entity.metadata.annotations?.['backstage.io/kubernetes-id'] ?? '…'} in the entity's namespace and cluster. Apply one, or create the service from a template.`}
        />
      </Stack>
    );
  }
  return (
    <Stack spacing={3}>
      {stale}
      {value.map(r => (
        <RolloutCard key={`${r.cluster}/${r.namespace}/${r.name}`} entityRef={entityRef} summary={r} />
      ))}
    </Stack>
  );
}
