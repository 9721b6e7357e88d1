import { InfoCard } from '@backstage/core-components';
import { formatNumber } from './format';
import { PagedKeysTable, usePagedKeys } from './PagedKeys';

/**
 * Every key issued for an API, newest first, a page at a time, with how many
 * there are and how many are accepted now. Keyed by the API where it is used,
 * so that another API's card starts on its first page.
 */
export function IssuedKeysCard({ apiRef, refreshKey }: { apiRef: string; refreshKey?: unknown }) {
  const paged = usePagedKeys({ entityRef: apiRef }, refreshKey);
  const { list } = paged;
  return (
    <InfoCard
      title={list ? `Issued keys (${formatNumber(list.totalItems)})` : 'Issued keys'}
      subheader={list && list.totalItems > 0 ? `${formatNumber(list.activeItems)} accepted now` : undefined}
    >
      <PagedKeysTable
        paged={paged}
        count={l => l.totalItems}
        empty="No key has been issued for this API yet: approving a request issues one."
        label="issued keys"
        showConsumer
      />
    </InfoCard>
  );
}
