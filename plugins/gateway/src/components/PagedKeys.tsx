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
import { useReadFailures } from './common';
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
  const pageKey = `${queryKey}|${offset}|${pageSize}`;
  const reads = useReadFailures();
  const { value, error } = usePolling(
    async () => ({ queryKey, offset, pageSize, list: await reads.track(pageKey, gateway.listKeys({ ...query, limit: pageSize, offset })) }),
    10_000,
    `${pageKey}|${String(refreshKey)}`,
  );
  const turning = value !== undefined && (value.queryKey !== queryKey || value.offset !== offset || value.pageSize !== pageSize);
  return {
    /** The last page read: while `turning`, another page's (or query's), whose counts the card may still show. */
    list: value?.list,
    error,
    turning,
    /** The read of the page asked for failed, `error` being its (not that of a refresh of the page before, while this one loads). */
    failed: reads.isFrom(error, pageKey),
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
  const { list, error, turning, failed, page, pageSize, setPage, setPageSize } = paged;
  const total = list ? count(list) : 0;
  // Only from a read of this very page: another page's or filter's counts are not this list's.
  const lastPage = list && !turning ? Math.max(0, Math.ceil(total / pageSize) - 1) : undefined;
  useEffect(() => {
    if (lastPage !== undefined && page > lastPage) setPage(lastPage);
  }, [lastPage, page, setPage]);
  // Also on a page past the first, however few are left: the way back is never hidden.
  const pager = (page > 0 || total > PAGE_SIZES[0]) && (
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
  );
  if (failed && (!list || turning)) {
    // A page turned to that could not be read shows its error, not another page's keys under its label (to revoke the
    // wrong ones), with the pager (its total as last read) to go back; the poll reads the page again meanwhile.
    return (
      <>
        <ResponseErrorPanel error={error!} />
        {list && pager}
      </>
    );
  }
  if (!list) return <Progress />;
  if (total === 0) return <Typography variant="body2" color="text.secondary">{empty}</Typography>;
  return (
    <>
      {/* This page's own failed refresh only, not the error of a page turned away from. */}
      {failed && <ResponseErrorPanel error={error!} title="Could not refresh the keys" />}
      <Box sx={{ height: 4 }}>{turning && <LinearProgress aria-label="loading keys" />}</Box>
      <KeysTable keys={list.items} showConsumer={showConsumer} label={label} actions={actions} />
      {pager}
    </>
  );
}
