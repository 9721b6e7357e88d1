import { useEffect, useState, type ReactNode } from 'react';
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
 * A list that shrank below the page shown (its last key revoked, say) goes
 * back to its last page.
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
  const total = list ? count(list) : 0;
  // Only from a read of this very page: another page's or filter's counts are not this list's.
  const lastPage = list && !turning ? Math.max(0, Math.ceil(total / pageSize) - 1) : undefined;
  useEffect(() => {
    if (lastPage !== undefined && page > lastPage) setPage(lastPage);
  }, [lastPage, page, setPage]);
  if (error && !list) return <ResponseErrorPanel error={error} />;
  if (!list) return <Progress />;
  if (total === 0) return <Typography variant="body2" color="text.secondary">{empty}</Typography>;
  return (
    <>
      {error && <ResponseErrorPanel error={error} title="Could not refresh the keys" />}
      <Box sx={{ height: 4 }}>{turning && <LinearProgress aria-label="loading keys" />}</Box>
      <KeysTable keys={list.items} showConsumer={showConsumer} label={label} actions={actions} />
      {/* Also on a page past the first, however few are left: the way back is never hidden. */}
      {(page > 0 || total > PAGE_SIZES[0]) && (
        <TablePagination
          component="div"
          count={total}
          // Within the pages there are, until the list that shrank turns to its last one (above).
          page={Math.min(page, Math.max(0, Math.ceil(total / pageSize) - 1))}
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
