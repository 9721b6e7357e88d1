import { useEffect, useState } from 'react';
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
import { errorMessage } from '@quarterdeck/plugin-quarterdeck-react';
import { FIGURES_TABLE_SX } from './common';
import { formatCost, formatNumber } from './format';

/** Where a consumer's calls are counted when it has no owner to count them under. */
const NOT_IN_CATALOG = 'not in the catalog, or not yours to read';
const NO_CONSUMER = 'no consumer';
const OWNER_NOT_READ = 'owner not read yet';

type Consumers = GatewayUsageSummary['byConsumer'];

/** Consumers' owners as full refs (`undefined`: not in the catalog), kept by the panel across windows and polls. */
export type OwnerCache = Map<string, string | undefined>;

/** A catalog owner as a full ref; one the catalog would not take is kept as written. */
function ownerRef(owner: string, namespace: string) {
  try {
    // As the catalog reads `spec.owner`: a bare name is a group in the entity's namespace.
    return stringifyEntityRef(parseEntityRef(owner, { defaultKind: 'group', defaultNamespace: namespace }));
  } catch {
    return owner;
  }
}

const isEntityRef = (ref: string) => {
  try {
    parseEntityRef(ref);
    return true;
  } catch {
    return false;
  }
};

/**
 * Reads the owners of the consumers not yet in `cache`, once each. After a
 * failed read, the consumers still unknown are read again when the next
 * summary arrives (`consumers` is a new list at each poll).
 */
function useOwners(consumers: Consumers, cache: OwnerCache) {
  const catalog = useApi(catalogApiRef);
  const [, setRead] = useState(0);
  const [error, setError] = useState<string>();
  const key = consumers.map(c => c.consumerRef).filter(ref => ref.includes(':') && !cache.has(ref)).sort().join('\n');
  const retry = error ? consumers : undefined;
  useEffect(() => {
    if (!key) return undefined;
    let live = true;
    const refs = key.split('\n');
    catalog.getEntitiesByRefs({ entityRefs: refs, fields: ['kind', 'metadata.namespace', 'metadata.name', 'spec.owner'] })
      .then(({ items }) => {
        refs.forEach((ref, i) => {
          const owner = items[i]?.spec?.owner;
          cache.set(ref, typeof owner === 'string' && owner ? ownerRef(owner, items[i]!.metadata.namespace ?? 'default') : undefined);
        });
        if (live) {
          setError(undefined);
          setRead(n => n + 1);
        }
      })
      .catch(e => live && setError(errorMessage(e)));
    return () => {
      live = false;
    };
  }, [catalog, cache, key, retry]);
  return { reading: key !== '' && !error, error };
}

/**
 * The whole gateway's calls summed by the team that owns each consumer (its
 * catalog `spec.owner`): who spends what. Quantiles cannot be summed across
 * consumers, so this table has none.
 */
export function UsageByOwner({ byConsumer, cache }: { byConsumer: Consumers; cache: OwnerCache }) {
  const { reading, error } = useOwners(byConsumer, cache);
  if (byConsumer.length === 0) return null;
  const ownerOf = (ref: string) => {
    if (!ref.includes(':')) return NO_CONSUMER;
    if (!cache.has(ref)) return OWNER_NOT_READ;
    return cache.get(ref) ?? NOT_IN_CATALOG;
  };
  // Nothing to show until the first read: every consumer would be "not read yet".
  const first = reading && byConsumer.every(c => ownerOf(c.consumerRef) === OWNER_NOT_READ);
  const sums = new Map<string, { consumers: number; requests: number; errors: number; promptTokens: number; completionTokens: number; cost: number }>();
  for (const c of byConsumer) {
    const owner = ownerOf(c.consumerRef);
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
      {error && (
        <Typography variant="body2" color="error">
          Could not read consumers' owners from the catalog: {error}. Their calls are under "{OWNER_NOT_READ}" until the next refresh reads them again.
        </Typography>
      )}
      {reading && <LinearProgress aria-label="reading the consumers' owners" />}
      {!first && (
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
                  {isEntityRef(owner)
                    ? <EntityRefLink entityRef={owner} defaultKind="group" />
                    : <Typography variant="body2" color="text.secondary">{owner}</Typography>}
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
