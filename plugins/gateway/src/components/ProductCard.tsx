import type { ReactNode } from 'react';
import { InfoCard } from '@backstage/core-components';
import type { GatewayModelRoute, GatewayPlan, GatewayProduct } from '@quarterdeck/plugin-gateway-common';
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Grid from '@mui/material/Grid';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { formatCost, formatDateTime, formatNumber, formatPrice, limitText, shortUser } from './format';

const SEGMENT_COLORS = ['success.light', 'warning.light', 'info.light', 'secondary.light', 'error.light'];

/** A route's weighted split across its target models, like a canary's weight bar. */
export function RouteSplitBar({ route }: { route: GatewayModelRoute }) {
  const label = route.targets.map(t => `${t.model} ${t.weight}%`).join(', ');
  return (
    <Box aria-label={`route ${route.name} split ${label}`} role="img"
      sx={{ display: 'flex', height: 22, borderRadius: 1, overflow: 'hidden', border: 1, borderColor: 'divider', minWidth: 200 }}>
      {route.targets.map((t, i) => (
        <Tooltip key={t.model} title={`${t.model}: ${t.weight}%`}>
          <Box sx={{
            width: `${t.weight}%`, bgcolor: SEGMENT_COLORS[i % SEGMENT_COLORS.length], color: 'text.primary',
            fontSize: 12, px: t.weight ? 1 : 0, display: 'flex', alignItems: 'center', whiteSpace: 'nowrap', overflow: 'hidden',
          }}>
            {t.weight > 15 ? `${t.model} ${t.weight}%` : ''}
          </Box>
        </Tooltip>
      ))}
    </Box>
  );
}

/** The plans of a product and their limits. */
/** What a plan lets a key call: its models, every model of the product, or (an empty list) none. */
function planModels(plan: GatewayPlan): string {
  if (!plan.models) return 'all';
  return plan.models.length > 0 ? plan.models.join(', ') : 'none';
}

/** A product's plans and their limits; a REST product's have no models, and show no such column. */
export function PlansTable({ plans, kind }: { plans: GatewayPlan[]; kind: GatewayProduct['kind'] }) {
  const withModels = kind !== 'rest';
  return (
    <Table size="small" aria-label="plans">
      <TableHead>
        <TableRow>
          <TableCell>Plan</TableCell>
          <TableCell align="right">Requests / min</TableCell>
          <TableCell align="right">Tokens / min</TableCell>
          <TableCell align="right">Tokens / day</TableCell>
          <TableCell align="right">Tokens / month</TableCell>
          <TableCell align="right">Cost / day</TableCell>
          <TableCell align="right">Cost / month</TableCell>
          {withModels && <TableCell>Models</TableCell>}
        </TableRow>
      </TableHead>
      <TableBody>
        {plans.map(p => (
          <TableRow key={p.name}>
            <TableCell><b>{p.name}</b></TableCell>
            <TableCell align="right">{limitText(p.requestsPerMinute)}</TableCell>
            <TableCell align="right">{limitText(p.tokensPerMinute)}</TableCell>
            <TableCell align="right">{limitText(p.dailyTokens)}</TableCell>
            <TableCell align="right">{limitText(p.monthlyTokens)}</TableCell>
            <TableCell align="right">{limitText(p.dailyCost, formatCost)}</TableCell>
            <TableCell align="right">{limitText(p.monthlyCost, formatCost)}</TableCell>
            {withModels && <TableCell>{planModels(p)}</TableCell>}
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}

/** What an API offers through the gateway: upstreams, models, routes and plans. */
export function ProductCard({ product, action }: { product: GatewayProduct; action?: ReactNode }) {
  const models = product.models ?? [];
  const routes = product.routes ?? [];
  const templates = product.templates ?? [];
  return (
    <InfoCard
      title={
        <Stack direction="row" spacing={1} alignItems="center">
          <span>{product.title ?? product.id}</span>
          <Chip size="small" label={product.kind === 'openai' ? 'OpenAI-compatible' : 'REST'} />
        </Stack>
      }
      subheader={`Product ${product.id} · updated ${formatDateTime(product.updatedAt)} by ${shortUser(product.updatedBy)}`}
      action={action}
    >
      <Grid container spacing={3}>
        <Grid item xs={12}>
          <Typography variant="subtitle2">Upstreams</Typography>
          <Table size="small" aria-label="upstreams">
            <TableHead><TableRow><TableCell>Name</TableCell><TableCell>URL</TableCell><TableCell>Version</TableCell><TableCell align="right">Timeout</TableCell></TableRow></TableHead>
            <TableBody>
              {product.upstreams.map(u => (
                <TableRow key={u.name}>
                  <TableCell>{u.name}</TableCell>
                  <TableCell sx={{ wordBreak: 'break-all' }}>{u.url}</TableCell>
                  <TableCell>{u.version ? <Chip size="small" variant="outlined" label={u.version} /> : '–'}</TableCell>
                  <TableCell align="right">{`${((u.timeoutMs ?? 30_000) / 1000).toLocaleString('en-US')} s`}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </Grid>
        {models.length > 0 && (
          <Grid item xs={12}>
            <Typography variant="subtitle2">Models</Typography>
            <Table size="small" aria-label="models">
              <TableHead>
                <TableRow>
                  <TableCell>Model</TableCell><TableCell>Upstream</TableCell><TableCell align="right">Context window</TableCell>
                  <TableCell align="right">Input</TableCell><TableCell align="right">Output</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {models.map(m => {
                  const upstream = product.upstreams.find(u => u.name === m.upstream);
                  return (
                    <TableRow key={m.name}>
                      <TableCell><b>{m.name}</b>{m.upstreamModel && m.upstreamModel !== m.name && <Typography variant="caption" color="text.secondary" display="block">as {m.upstreamModel}</Typography>}</TableCell>
                      <TableCell>{m.upstream}{upstream?.version ? `@${upstream.version}` : ''}</TableCell>
                      <TableCell align="right">{`${formatNumber(m.contextWindow)} tokens`}</TableCell>
                      <TableCell align="right">{formatPrice(m.inputPricePerMillion)}</TableCell>
                      <TableCell align="right">{formatPrice(m.outputPricePerMillion)}</TableCell>
                    </TableRow>
                  );
                })}
              </TableBody>
            </Table>
          </Grid>
        )}
        {routes.length > 0 && (
          <Grid item xs={12}>
            <Typography variant="subtitle2">Routes</Typography>
            <Table size="small" aria-label="routes">
              <TableHead><TableRow><TableCell>Route</TableCell><TableCell sx={{ width: '45%' }}>Split</TableCell><TableCell>Fallbacks</TableCell><TableCell>Larger context</TableCell></TableRow></TableHead>
              <TableBody>
                {routes.map(r => (
                  <TableRow key={r.name}>
                    <TableCell>
                      <b>{r.name}</b>
                      {r.rollout && (
                        <Typography variant="caption" color="text.secondary" display="block">weights set by Rollout {r.rollout}</Typography>
                      )}
                    </TableCell>
                    <TableCell><RouteSplitBar route={r} /></TableCell>
                    <TableCell>{r.fallbacks?.length ? r.fallbacks.join(' → ') : 'none'}</TableCell>
                    <TableCell>{r.largerContextModel ?? '–'}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </Grid>
        )}
        <Grid item xs={12}>
          <Typography variant="subtitle2">Plans</Typography>
          <PlansTable plans={product.plans} kind={product.kind} />
        </Grid>
        {templates.length > 0 && (
          <Grid item xs={12}>
            <Typography variant="subtitle2">Prompt templates</Typography>
            <Table size="small" aria-label="prompt templates">
              <TableHead><TableRow><TableCell>Endpoint</TableCell><TableCell>Model</TableCell><TableCell>Variables</TableCell><TableCell>Description</TableCell></TableRow></TableHead>
              <TableBody>
                {templates.map(t => (
                  <TableRow key={t.name}>
                    <TableCell><code>POST /v1/templates/{t.name}</code></TableCell>
                    <TableCell>{t.model}</TableCell>
                    <TableCell>{t.variables.map(v => `${v.name}: ${v.type}${v.required === false || v.default !== undefined ? '?' : ''}`).join(', ')}</TableCell>
                    <TableCell>{t.description ?? ''}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </Grid>
        )}
      </Grid>
    </InfoCard>
  );
}
