import { useState } from 'react';
import { InfoCard } from '@backstage/core-components';
import type { GatewayKeyList, GatewayKeyView } from '@quarterdeck/plugin-gateway-common';
import ToggleButton from '@mui/material/ToggleButton';
import ToggleButtonGroup from '@mui/material/ToggleButtonGroup';
import { ExplainedButton } from './common';
import { formatNumber } from './format';
import { PagedKeysTable, usePagedKeys } from './PagedKeys';
import { revocable, RevokeKeyDialog } from './RevokeKeyDialog';

/** The card's views of an API's keys: those that work (what an owner looks for first), those that no longer do, or all. */
const KEY_FILTERS = {
  accepted: {
    label: 'Accepted now',
    accepted: true,
    count: (l: GatewayKeyList) => l.activeItems,
    empty: 'No key of this API is accepted now: approving a request issues one.',
  },
  past: {
    label: 'Revoked or expired',
    accepted: false,
    count: (l: GatewayKeyList) => l.totalItems - l.activeItems,
    empty: 'No key of this API has been revoked or has expired.',
  },
  all: {
    label: 'All',
    accepted: undefined,
    count: (l: GatewayKeyList) => l.totalItems,
    empty: 'No key has been issued for this API yet: approving a request issues one.',
  },
} as const;
type KeyFilter = keyof typeof KEY_FILTERS;

/**
 * The keys issued for an API, newest first, a page at a time: those accepted
 * now, those revoked or expired, or all, with how many there are of each.
 * Those who review the API's requests can revoke a key still accepted
 * (`revokeWhy` says why someone cannot). Keyed by the API where it is used,
 * so that another API's card starts over.
 */
export function IssuedKeysCard(props: { apiRef: string; refreshKey?: unknown; revokeWhy?: string; onRevoked: () => void }) {
  const { apiRef, refreshKey, revokeWhy, onRevoked } = props;
  const [filter, setFilter] = useState<KeyFilter>('accepted');
  const [revoking, setRevoking] = useState<GatewayKeyView | undefined>();
  const shown = KEY_FILTERS[filter];
  const paged = usePagedKeys({ entityRef: apiRef, accepted: shown.accepted }, refreshKey);
  const { list } = paged;
  return (
    <InfoCard
      title={list ? `Issued keys (${formatNumber(list.totalItems)})` : 'Issued keys'}
      action={
        <ToggleButtonGroup size="small" exclusive value={filter} aria-label="which keys"
          onChange={(_e, next: KeyFilter | null) => next && setFilter(next)} sx={{ mt: 1, mr: 1 }}>
          {(Object.keys(KEY_FILTERS) as KeyFilter[]).map(f => (
            <ToggleButton key={f} value={f}>
              {KEY_FILTERS[f].label}{list ? ` (${formatNumber(KEY_FILTERS[f].count(list))})` : ''}
            </ToggleButton>
          ))}
        </ToggleButtonGroup>
      }
    >
      <PagedKeysTable
        paged={paged}
        count={shown.count}
        empty={shown.empty}
        label="issued keys"
        showConsumer
        actions={filter === 'past' ? undefined : k => (revocable(k) ? (
          <ExplainedButton variant="outlined" color="error" why={revokeWhy} onClick={() => setRevoking(k)}>Revoke</ExplainedButton>
        ) : null)}
      />
      <RevokeKeyDialog gatewayKey={revoking} onClose={() => setRevoking(undefined)} onRevoked={() => { setRevoking(undefined); onRevoked(); }} onStale={onRevoked} />
    </InfoCard>
  );
}
