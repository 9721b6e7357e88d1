import { useState } from 'react';
import { InfoCard, Progress, ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import Box from '@mui/material/Box';
import LinearProgress from '@mui/material/LinearProgress';
import TablePagination from '@mui/material/TablePagination';
import Typography from '@mui/material/Typography';
import { usePolling } from '@quarterdeck/plugin-quarterdeck-react';
import { gatewayApiRef } from '../api/GatewayClient';
import { formatNumber } from './format';
import { KeysTable } from './KeysTable';

const PAGE_SIZES = [25, 50, 100];

/**
 * Every key issued for an API, newest first, a page at a time: an API with
 * many consumers can have thousands (keys are never deleted, only revoked or
 * expired), so the card asks the backend for one page (`limit` and `offset`)
 * and the counts of all of them. Keyed by the API where it is used, so that
 * another API's card starts on its first page.
 */
export function IssuedKeysCard({ apiRef, refreshKey }: { apiRef: string; refreshKey?: unknown }) {
  const gateway = useApi(gatewayApiRef);
  const [page, setPage] = useState(0);
  const [pageSize, setPageSize] = useState(PAGE_SIZES[0]);
  const offset = page * pageSize;
  const { value, error } = usePolling(
    async () => ({ offset, pageSize, list: await gateway.listKeys({ entityRef: apiRef, limit: pageSize, offset }) }),
    10_000,
    `${apiRef}|${offset}|${pageSize}|${String(refreshKey)}`,
  );
  const total = value?.list.totalItems ?? 0;

  let body;
  if (error && !value) body = <ResponseErrorPanel error={error} />;
  else if (!value) body = <Progress />;
  else if (total === 0) {
    body = <Typography variant="body2" color="text.secondary">No key has been issued for this API yet: approving a request issues one.</Typography>;
  } else {
    const turning = value.offset !== offset || value.pageSize !== pageSize;
    body = (
      <>
        {error && <ResponseErrorPanel error={error} title="Could not refresh the keys" />}
        <Box sx={{ height: 4 }}>{turning && <LinearProgress aria-label="loading keys" />}</Box>
        <KeysTable keys={value.list.items} showConsumer label="issued keys" />
        {total > PAGE_SIZES[0] && (
          <TablePagination
            component="div"
            count={total}
            page={page}
            rowsPerPage={pageSize}
            rowsPerPageOptions={PAGE_SIZES}
            labelRowsPerPage="Keys per page"
            onPageChange={(_, next) => setPage(next)}
            onRowsPerPageChange={e => {
              setPageSize(Number(e.target.value));
              setPage(0);
            }}
          />
        )}
      </>
    );
  }
  return (
    <InfoCard
      title={value ? `Issued keys (${formatNumber(total)})` : 'Issued keys'}
      subheader={total > 0 ? `${formatNumber(value!.list.activeItems)} accepted now` : undefined}
    >
      {body}
    </InfoCard>
  );
}
