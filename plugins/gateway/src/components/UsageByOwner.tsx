import { useEffect, useRef, useState } from 'react';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { useApi } from '@backstage/core-plugin-api';
import { catalogApiRef, EntityRefLink } from '@backstage/plugin-catalog-react';
import type { GatewayUsageSummary } from '@quarterdeck/plugin-gateway-common';
import LinearProgress from '@mui/material/LinearProgress';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { errorMessage, FIGURES_TABLE_SX } from './common';
import { formatCost, formatNumber } from './format';

/** Where a consumer's calls are counted when it has no owner to count them under. */
const NOT_IN_CATALOG = 'not in the catalog';
const NO_CONSUMER = 'no consumer';

type Consumers = GatewayUsageSummary['byConsumer'];

/** The owners of consumers, as full refs, read from the catalog once each for as long as the card lives. */
function useOwners(consumerRefs: string[]) {
  const catalog = useApi(catalogApiRef);
  const known = useRef(new Map<string, string | undefined>());
  const [, setRead] = useState(0);
  const [error, setError] = useState<string>();
  const wanted = consumerRefs.filter(ref => ref.includes(':') && !known.current.has(ref));
  const key = wanted.join('\n');
  useEffect(() => {
    if (!key) return undefined;
    let live = true;
    const refs = key.split('\n');
    catalog.getEntitiesByRefs({ entityRefs: refs, fields: ['kind', 'metadata.namespace', 'metadata.name', 'spec.owner'] })
      .then(({ items }) => {
        refs.forEach((ref, i) => {
          const owner = items[i]?.spec?.owner;
          // An owner is written as the catalog allows: a bare name is a group in the entity's namespace.
          known.current.set(ref, typeof owner === 'string'
            ? stringifyEntityRef(parseEntityRef(owner, { defaultKind: 'group', defaultNamespace: items[i]!.metadata.namespace ?? 'default' }))
            : undefined);
        });
        if (live) setRead(n => n + 1);
      })
      .catch(e => live && setError(errorMessage(e)));
    return () => {
      live = false;
    };
  }, [catalog, key]);
  return { owners: known.current, reading: key !== '' && !error, error };
}

/**
 * The whole gateway's calls summed by the team that owns each consumer (its
 * catalog `spec.owner`): who spends what. Quantiles cannot be summed across
 * consumers, so this table has none.
 */
export function UsageByOwner({ byConsumer }: { byConsumer: Consumers }) {
  const { owners, reading, error } = useOwners(byConsumer.map(c => c.consumerRef));
  if (byConsumer.length === 0) return null;
  const sums = new Map<string, { consumers: number; requests: number; errors: number; promptTokens: number; completionTokens: number; cost: number }>();
  for (const c of byConsumer) {
    const owner = !c.consumerRef.includes(':') ? NO_CONSUMER : owners.get(c.consumerRef) ?? NOT_IN_CATALOG;
    const sum = sums.get(owner) ?? sums.set(owner, { consumers: 0, requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, cost: 0 }).get(owner)!;
    sum.consumers++;
    sum.requests += c.requests;
    sum.errors += c.errors;
    sum.promptTokens += c.promptTokens;
    sum.completionTokens += c.completionTokens;
    sum.cost += c.cost;
  }
  const rows = [...sums.entries()].sort(([a, x], [b, y]) => y.cost - x.cost || y.requests - x.requests || a.localeCompare(b));
  return (
    <div>
      <Typography variant="subtitle2">By owner</Typography>
      <Typography variant="caption" color="text.secondary" component="div">
        Each consumer's calls under the team or person that owns it in the catalog, the costliest first.
      </Typography>
      {error && <Typography variant="body2" color="error">Could not read the consumers' owners from the catalog: {error}</Typography>}
      {reading && <LinearProgress aria-label="reading the consumers' owners" />}
      {!error && !reading && (
        <Table size="small" aria-label="usage by owner" sx={FIGURES_TABLE_SX}>
          <TableHead>
            <TableRow>
              <TableCell>Owner</TableCell>
              {['Consumers', 'Requests', 'Errors', 'Prompt tokens', 'Completion tokens', 'Cost'].map(h => <TableCell key={h} align="right">{h}</TableCell>)}
            </TableRow>
          </TableHead>
          <TableBody>
            {rows.map(([owner, t]) => (
              <TableRow key={owner}>
                <TableCell>
                  {owner === NOT_IN_CATALOG || owner === NO_CONSUMER
                    ? <Typography variant="body2" color="text.secondary">{owner}</Typography>
                    : <EntityRefLink entityRef={owner} defaultKind="group" />}
                </TableCell>
                <TableCell align="right">{formatNumber(t.consumers)}</TableCell>
                <TableCell align="right">{formatNumber(t.requests)}</TableCell>
                <TableCell align="right">{formatNumber(t.errors)}</TableCell>
                <TableCell align="right">{formatNumber(t.promptTokens)}</TableCell>
                <TableCell align="right">{formatNumber(t.completionTokens)}</TableCell>
                <TableCell align="right">{formatCost(t.cost)}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </div>
  );
}
