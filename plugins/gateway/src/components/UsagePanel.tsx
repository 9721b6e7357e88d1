import { useRef, useState } from 'react';
import { InfoCard, Progress, ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { EntityRefLink } from '@backstage/plugin-catalog-react';
import type { GatewayUsageSummary, UsageTotals } from '@quarterdeck/plugin-gateway-common';
import { useTheme } from '@mui/material/styles';
import Grid from '@mui/material/Grid';
import MenuItem from '@mui/material/MenuItem';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import ToggleButton from '@mui/material/ToggleButton';
import ToggleButtonGroup from '@mui/material/ToggleButtonGroup';
import Typography from '@mui/material/Typography';
import { usePolling } from '@quarterdeck/plugin-quarterdeck-react';
import { gatewayApiRef } from '../api/GatewayClient';
import { formatCost, formatLatencyBucket, formatMs, formatNumber } from './format';
import { FIGURES_TABLE_SX, useReadFailures } from './common';
import { TimeChart } from './TimeChart';
import { UsageByOwner, type OwnerCache } from './UsageByOwner';

export const USAGE_WINDOWS = [
  { hours: 24, label: '24 h' },
  { hours: 168, label: '7 d' },
  // By day: a month of hourly bars would be too thin to read.
  { hours: 720, label: '30 d' },
];

/** The totals of a window, summed from its series. */
function sumSeries(summary: GatewayUsageSummary) {
  return summary.series.reduce(
    (t, p) => ({
      requests: t.requests + p.requests,
      errors: t.errors + p.errors,
      promptTokens: t.promptTokens + p.promptTokens,
      completionTokens: t.completionTokens + p.completionTokens,
      cost: t.cost + p.cost,
    }),
    { requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, cost: 0 },
  );
}

function Stat({ label, value, detail }: { label: string; value: string; detail?: string }) {
  return (
    <Paper variant="outlined" sx={{ p: 1.5, minWidth: 130 }} aria-label={`${label}: ${value}`}>
      <Typography variant="caption" color="text.secondary">{label}</Typography>
      <Typography variant="h6">{value}</Typography>
      {detail && <Typography variant="caption" color="text.secondary">{detail}</Typography>}
    </Paper>
  );
}

function totalsCells(t: UsageTotals, latencyBoundsMs: number[]) {
  const latency = (ms: number) => (t.requests === 0 ? '–' : formatLatencyBucket(ms, latencyBoundsMs));
  return [
    <TableCell key="requests" align="right">{formatNumber(t.requests)}</TableCell>,
    <TableCell key="errors" align="right">{formatNumber(t.errors)}</TableCell>,
    <TableCell key="prompt" align="right">{formatNumber(t.promptTokens)}</TableCell>,
    <TableCell key="completion" align="right">{formatNumber(t.completionTokens)}</TableCell>,
    <TableCell key="cost" align="right">{formatCost(t.cost)}</TableCell>,
    <TableCell key="p50" align="right">{latency(t.p50Ms)}</TableCell>,
    <TableCell key="p99" align="right">{latency(t.p99Ms)}</TableCell>,
  ];
}

const TOTALS_HEAD = ['Requests', 'Errors', 'Prompt tokens', 'Completion tokens', 'Cost', 'p50', 'p99'].map(h => (
  <TableCell key={h} align="right">{h}</TableCell>
));

const ALL_CONSUMERS = '';

/** A consumer's name as the pages show it: the entity's name for a component in the default namespace. */
const consumerName = (ref: string) => ref.replace(/^component:default\//, '');

/** The busiest consumers the whole gateway's usage lists; the rest are counted in the caption. */
const GATEWAY_CONSUMERS_SHOWN = 10;

/**
 * An API's or a component's calls through the gateway, or without
 * `entityRef` the whole gateway's (the admin page): charts by hour (by UTC
 * day past a week) and tables by consumer and model version, and the whole
 * gateway's by product. On an API's page (`showConsumers`) the charts,
 * totals and versions can be narrowed to one consumer, chosen above them or
 * by clicking its row.
 */
export function UsagePanel(props: { entityRef?: string; showConsumers?: boolean; title?: string; subheader?: string }) {
  const { entityRef, showConsumers = true, title = 'Usage', subheader } = props;
  const gatewayWide = !entityRef;
  const gateway = useApi(gatewayApiRef);
  const theme = useTheme();
  const [hours, setHours] = useState(24);
  // The consumer chosen, for the entity it was chosen on: another entity's panel starts with all of them.
  const [chosen, setChosen] = useState({ entityRef, consumer: ALL_CONSUMERS });
  const consumer = chosen.entityRef === entityRef ? chosen.consumer : ALL_CONSUMERS;
  const setConsumer = (ref: string) => setChosen({ entityRef, consumer: ref });
  // The consumers' owners, read from the catalog once each for as long as the panel is open, whichever window it shows.
  const owners = useRef<OwnerCache>(new Map());
  const queryKey = `${entityRef ?? 'gateway'}|${hours}|${consumer}`;
  const reads = useReadFailures();
  const { value, error: lastError } = usePolling(
    async () => ({ entityRef, hours, consumer, summary: await reads.track(queryKey, gateway.getUsage({ ...(!gatewayWide && { entityRef }), hours, ...(consumer && { consumerRef: consumer }) })) }),
    // A day's chart moves by the minute; a week's or a month's is read again less often, as it reads many more rows.
    hours > 24 ? 60_000 : 15_000,
    queryKey,
  );
  const current = value && value.entityRef === entityRef && value.hours === hours && value.consumer === consumer ? value.summary : undefined;
  // Only this window's and consumer's: another's failed read, kept while this one loads, is not this one's failure.
  const error = reads.isFrom(lastError, queryKey) ? lastError : undefined;
  const toggleConsumer = (ref: string) => setConsumer(consumer === ref ? ALL_CONSUMERS : ref);

  let body;
  if (error && !current) body = <ResponseErrorPanel error={error} />;
  else if (!current) body = <Progress />;
  else {
    const totals = sumSeries(current);
    const { series } = current;
    const consumers = current.byConsumer.map(c => c.consumerRef);
    if (consumer && !consumers.includes(consumer)) consumers.push(consumer);
    const consumerRows = gatewayWide ? current.byConsumer.slice(0, GATEWAY_CONSUMERS_SHOWN) : current.byConsumer;
    body = (
      <Stack spacing={3}>
        {error && <ResponseErrorPanel error={error} title="Could not refresh the usage: these are the last figures read" />}
        {showConsumers && !gatewayWide && consumers.length > 0 && (
          <TextField select size="small" label="Consumer" value={consumer} sx={{ minWidth: 240, alignSelf: 'flex-start' }}
            onChange={e => setConsumer(e.target.value)}
            helperText={consumer ? `Totals, charts and versions count ${consumerName(consumer)}'s calls only.` : undefined}>
            <MenuItem value={ALL_CONSUMERS}>All consumers</MenuItem>
            {consumers.map(ref => <MenuItem key={ref} value={ref}>{consumerName(ref)}</MenuItem>)}
          </TextField>
        )}
        <Stack direction="row" spacing={2} useFlexGap flexWrap="wrap">
          <Stat label="Requests" value={formatNumber(totals.requests)} />
          <Stat label="Errors" value={formatNumber(totals.errors)}
            detail={totals.requests ? `${((totals.errors / totals.requests) * 100).toFixed(1)} % of requests` : undefined} />
          <Stat label="Tokens" value={formatNumber(totals.promptTokens + totals.completionTokens)}
            detail={`${formatNumber(totals.promptTokens)} prompt · ${formatNumber(totals.completionTokens)} completion`} />
          <Stat label="Cost" value={formatCost(totals.cost)} />
        </Stack>
        {totals.requests === 0 && (
          <Typography variant="body2" color="text.secondary">
            No calls in this window. Calls made with a gateway key show here within a few seconds.
          </Typography>
        )}
        {/* A div: Stack's spacing would reset the Grid container's negative margin. */}
        <div>
          <Grid container spacing={3}>
            <Grid item xs={12} md={6}>
              <TimeChart bucketMs={current.bucketMs} title="Requests and errors" kind="bars" points={series} format={formatNumber} layers={[
                { name: 'ok', color: theme.palette.primary.main, value: p => p.requests - p.errors },
                { name: 'errors', color: theme.palette.error.main, value: p => p.errors },
              ]} />
            </Grid>
            <Grid item xs={12} md={6}>
              <TimeChart bucketMs={current.bucketMs} title="Tokens" kind="bars" points={series} format={formatNumber} layers={[
                { name: 'prompt', color: theme.palette.info.main, value: p => p.promptTokens },
                { name: 'completion', color: theme.palette.secondary.main, value: p => p.completionTokens },
              ]} />
            </Grid>
            <Grid item xs={12} md={6}>
              <TimeChart bucketMs={current.bucketMs} title="Cost" kind="bars" points={series} format={formatCost} layers={[
                { name: 'cost (USD)', color: theme.palette.success.main, value: p => p.cost },
              ]} />
            </Grid>
            <Grid item xs={12} md={6}>
              <TimeChart bucketMs={current.bucketMs} title="Latency" kind="lines" points={series} format={formatMs} defined={p => p.requests > 0}
                formatPoint={ms => formatLatencyBucket(ms, current.latencyBoundsMs)} layers={[
                { name: 'p50', color: theme.palette.primary.main, value: p => p.p50Ms },
                { name: 'p99', color: theme.palette.warning.main, value: p => p.p99Ms },
              ]} />
            </Grid>
          </Grid>
        </div>
        {current.byProduct && (
          <div>
            <Typography variant="subtitle2">By product</Typography>
            {current.byProduct.length === 0 ? (
              <Typography variant="body2" color="text.secondary">No product was called in this window.</Typography>
            ) : (
              <Table size="small" aria-label="usage by product" sx={FIGURES_TABLE_SX}>
                <TableHead><TableRow><TableCell>Product</TableCell><TableCell>API</TableCell>{TOTALS_HEAD}</TableRow></TableHead>
                <TableBody>
                  {current.byProduct.map(p => (
                    <TableRow key={p.productId}>
                      <TableCell>{p.title ?? p.productId}</TableCell>
                      <TableCell sx={{ whiteSpace: 'nowrap' }}>
                        {/* A product no longer offered is named by its id alone. */}
                        {p.entityRef ? <EntityRefLink entityRef={p.entityRef} defaultKind="api" /> : (
                          <Typography variant="body2" color="text.secondary">removed from the gateway</Typography>
                        )}
                      </TableCell>
                      {totalsCells(p, current.latencyBoundsMs)}
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            )}
          </div>
        )}
        {gatewayWide && <UsageByOwner byConsumer={current.byConsumer} cache={owners.current} />}
        {showConsumers && (
          <div>
            <Typography variant="subtitle2">By consumer</Typography>
            {!gatewayWide && current.byConsumer.length > 1 && (
              <Typography variant="caption" color="text.secondary">Click a consumer's row to see its calls alone above.</Typography>
            )}
            {gatewayWide && current.byConsumer.length > GATEWAY_CONSUMERS_SHOWN && (
              <Typography variant="caption" color="text.secondary">
                The {GATEWAY_CONSUMERS_SHOWN} busiest of {formatNumber(current.byConsumer.length)} consumers; each API's Gateway tab lists all of its own.
              </Typography>
            )}
            {current.byConsumer.length === 0 ? (
              <Typography variant="body2" color="text.secondary">No consumer called in this window.</Typography>
            ) : (
              <Table size="small" aria-label="usage by consumer" sx={FIGURES_TABLE_SX}>
                <TableHead><TableRow><TableCell>Consumer</TableCell>{TOTALS_HEAD}</TableRow></TableHead>
                <TableBody>
                  {consumerRows.map(c => (
                    // On an API's page a row narrows the usage to its consumer; the whole gateway's cannot be narrowed.
                    <TableRow key={c.consumerRef} {...(!gatewayWide && {
                      hover: true,
                      selected: c.consumerRef === consumer,
                      'aria-selected': c.consumerRef === consumer,
                      title: c.consumerRef === consumer ? 'Show every consumer' : `Show ${consumerName(c.consumerRef)}'s calls only`,
                      onClick: (e: { target: EventTarget }) => {
                        // The consumer's link opens its page; the rest of the row narrows the usage to it.
                        if (!(e.target as HTMLElement).closest('a')) toggleConsumer(c.consumerRef);
                      },
                      // A keyboard reaches the row too, and Enter or Space does what a click does.
                      tabIndex: 0,
                      onKeyDown: (e: { key: string; target: EventTarget; currentTarget: EventTarget; preventDefault(): void }) => {
                        if (e.target !== e.currentTarget || (e.key !== 'Enter' && e.key !== ' ')) return;
                        e.preventDefault();
                        toggleConsumer(c.consumerRef);
                      },
                      sx: { cursor: 'pointer' },
                    })}>
                      <TableCell>
                        {c.consumerRef.includes(':') ? <EntityRefLink entityRef={c.consumerRef} defaultKind="component" /> : c.consumerRef}
                      </TableCell>
                      {totalsCells(c, current.latencyBoundsMs)}
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            )}
          </div>
        )}
        <div>
          <Typography variant="subtitle2">By model and version</Typography>
          {current.byModel.length === 0 ? (
            <Typography variant="body2" color="text.secondary">No model was called in this window.</Typography>
          ) : (
            <Table size="small" aria-label="usage by model" sx={FIGURES_TABLE_SX}>
              <TableHead><TableRow><TableCell>Model</TableCell><TableCell>Upstream</TableCell>{TOTALS_HEAD}</TableRow></TableHead>
              <TableBody>
                {current.byModel.map(m => (
                  <TableRow key={`${m.model}@${m.upstream}`}>
                    <TableCell>{m.model}</TableCell>
                    <TableCell>{m.upstream}</TableCell>
                    {totalsCells(m, current.latencyBoundsMs)}
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
        </div>
      </Stack>
    );
  }

  return (
    <InfoCard
      title={title}
      subheader={subheader}
      action={
        <ToggleButtonGroup size="small" exclusive value={hours} aria-label="usage window"
          onChange={(_e, next: number | null) => next && setHours(next)} sx={{ mt: 1, mr: 1 }}>
          {USAGE_WINDOWS.map(w => (
            <ToggleButton key={w.hours} value={w.hours} aria-label={`last ${w.label}`}>{w.label}</ToggleButton>
          ))}
        </ToggleButtonGroup>
      }
    >
      {body}
    </InfoCard>
  );
}
