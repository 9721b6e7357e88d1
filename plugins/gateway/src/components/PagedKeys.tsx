import { useState, type ReactNode } from 'react';
import { Progress, ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import type { GatewayKeyList, GatewayKeyView } from '@quarterdeck/plugin-gateway-common';
import Box from '@mui/material/Box';
import LinearProgress from '@mui/material/LinearProgress';
import TablePagination from '@mui/material/TablePagination';
import Typography from '@mui/material/Typography';
import { usePolling } from '@quarterdeck/plugin-quarterdeck-react';
import { gatewayApiRef, type GatewayKeyQuery } from '../api/GatewayClient';
import { KeysTable } from './KeysTable';

const PAGE_SIZES = [25, 50, 100];

/**
 * One page of a list of keys, newest first, kept fresh: keys are never
 * deleted, only revoked or expired, so an API (or a component that rotates
 * often) can have thousands, and a list asks the backend for one page
 * (`limit` and `offset`) and the counts of all of them. A page belongs to its
 * query: another query (another API, or another filter) starts at the first.
 */
export function usePagedKeys(query: GatewayKeyQuery, refreshKey?: unknown) {
  const gateway = useApi(gatewayApiRef);
  const queryKey = `${query.entityRef}|${query.productId ?? ''}|${String(query.accepted ?? '')}`;
  const [at, setAt] = useState({ queryKey, page: 0 });
  const [pageSize, setPageSize] = useState(PAGE_SIZES[0]);
  const page = at.queryKey === queryKey ? at.page : 0;
  const offset = page * pageSize;
  const { value, error } = usePolling(
    async () => ({ queryKey, offset, pageSize, list: await gateway.listKeys({ ...query, limit: pageSize, offset }) }),
    10_000,
    `${queryKey}|${offset}|${pageSize}|${String(refreshKey)}`,
  );
  return {
    list: value?.list,
    error,
    turning: value !== undefined && (value.queryKey !== queryKey || value.offset !== offset || value.pageSize !== pageSize),
    page,
    pageSize,
    setPage: (next: number) => setAt({ queryKey, page: next }),
    setPageSize,
  };
}

/**
 * The page of `usePagedKeys` as a table, with its loading, empty and error
 * states; `count` is how many the pages hold in all (from the list's counts).
 */
export function PagedKeysTable(props: {
  paged: ReturnType<typeof usePagedKeys>;
  count: (list: GatewayKeyList) => number;
  empty: string;
  label: string;
  showConsumer?: boolean;
  actions?: (key: GatewayKeyView) => ReactNode;
}) {
  const { paged, count, empty, label, showConsumer, actions } = props;
  const { list, error, turning, page, pageSize, setPage, setPageSize } = paged;
  if (error && !list) return <ResponseErrorPanel error={error} />;
  if (!list) return <Progress />;
  const total = count(list);
  if (total === 0) return <Typography variant="body2" color="text.secondary">{empty}</Typography>;
  return (
    <>
      {error && <ResponseErrorPanel error={error} title="Could not refresh the keys" />}
      <Box sx={{ height: 4 }}>{turning && <LinearProgress aria-label="loading keys" />}</Box>
      <KeysTable keys={list.items} showConsumer={showConsumer} label={label} actions={actions} />
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
