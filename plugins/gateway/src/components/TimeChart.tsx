import { useId } from 'react';
import Box from '@mui/material/Box';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { formatBucket } from './format';

export interface ChartLayer<P> {
  name: string;
  color: string;
  value: (point: P) => number;
}

const WIDTH = 600;
const HEIGHT = 150;
const PAD = { left: 8, right: 8, top: 8, bottom: 20 };
const ANCHORS = ['start', 'middle', 'end'] as const;
/** Read by screen readers, not drawn. */
const VISUALLY_HIDDEN = { position: 'absolute', width: 1, height: 1, overflow: 'hidden', clip: 'rect(0 0 0 0)', whiteSpace: 'nowrap', border: 0, padding: 0, margin: -1 } as const;

/** Runs of consecutive indexes whose points are defined. */
function segments<P>(points: P[], defined: (point: P) => boolean): number[][] {
  const runs: number[][] = [];
  let run: number[] = [];
  points.forEach((p, i) => {
    if (defined(p)) {
      run.push(i);
    } else if (run.length > 0) {
      runs.push(run);
      run = [];
    }
  });
  if (run.length > 0) runs.push(run);
  return runs;
}

/**
 * A small chart of a series' buckets (hours, or days): stacked bars (counts, tokens, cost) or
 * lines (latency quantiles). SVG only, sized to its container.
 */
export function TimeChart<P extends { start: string }>(props: {
  title: string;
  points: P[];
  layers: ChartLayer<P>[];
  kind: 'bars' | 'lines';
  format: (n: number) => string;
  /** Lines: whether a bucket has a value (latency of an hour without calls has none); gaps are not drawn. */
  defined?: (point: P) => boolean;
  /** A value as the hover text and the max above say it, where that is not the scale's number (a latency bucket); `format` otherwise. */
  formatPoint?: (n: number) => string;
  /** The length of a bucket, as the summary gives it: an hour when absent. */
  bucketMs?: number;
}) {
  const { title, points, layers, kind, format, defined = () => true, formatPoint = format, bucketMs = 3_600_000 } = props;
  const totals = points.map(p => (kind === 'bars' ? layers.reduce((n, l) => n + l.value(p), 0) : Math.max(0, ...layers.map(l => l.value(p)))));
  const max = Math.max(0, ...totals);
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = points.length > 0 ? plotWidth / points.length : plotWidth;
  const x = (i: number) => PAD.left + i * slot + slot / 2;
  const y = (v: number) => PAD.top + plotHeight - (max > 0 ? (v / max) * plotHeight : 0);
  const spansDays = points.length > 24;
  const labelIndexes = points.length > 0 ? [0, Math.floor((points.length - 1) / 2), points.length - 1] : [];
  const byDay = bucketMs >= 86_400_000;
  const describe = (p: P) => `${formatBucket(p.start, true, bucketMs)}${byDay ? ' (UTC day)' : ''}: ${defined(p) ? layers.map(l => `${l.name} ${formatPoint(l.value(p))}`).join(', ') : 'no calls'}`;
  // What the picture shows, in words, for those who cannot see it: its busiest bucket and its latest.
  const total = (p: P) => layers.reduce((n, l) => n + l.value(p), 0);
  const shown = points.filter(defined);
  const peak = shown.reduce<P | undefined>((best, p) => (!best || total(p) > total(best) ? p : best), undefined);
  const summary = peak ? `Highest: ${describe(peak)}. Latest: ${describe(shown[shown.length - 1])}.` : 'No calls in this window.';
  const summaryId = useId();

  return (
    <Box>
      <Stack direction="row" justifyContent="space-between" alignItems="baseline">
        <Typography variant="subtitle2">{title}</Typography>
        {/* As the hover says it: a latency past the last bucket is "> 10.0 s", not a figure it never reached. */}
        <Typography variant="caption" color="text.secondary">{byDay ? 'per UTC day' : 'per hour, local time'} · max {formatPoint(max)}</Typography>
      </Stack>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width="100%" height={HEIGHT} preserveAspectRatio="none" role="img" aria-label={`${title} per ${byDay ? 'UTC day' : 'hour'}`} aria-describedby={summaryId}>
        <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(0)} y2={y(0)} stroke="currentColor" strokeOpacity={0.3} />
        <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(max / 2)} y2={y(max / 2)} stroke="currentColor" strokeOpacity={0.1} strokeDasharray="4 4" />
        {kind === 'bars' &&
          points.map((p, i) => {
            let base = 0;
            const left = PAD.left + i * slot + slot * 0.1;
            return (
              <g key={p.start}>
                <title>{describe(p)}</title>
                {layers.map(l => {
                  const v = l.value(p);
                  const top = y(base + v);
                  const height = y(base) - top;
                  base += v;
                  return v > 0 ? <rect key={l.name} x={left} y={top} width={Math.max(slot * 0.8, 1)} height={Math.max(height, 1)} fill={l.color} /> : null;
                })}
              </g>
            );
          })}
        {kind === 'lines' &&
          layers.flatMap((l, layer) =>
            segments(points, defined).map(segment =>
              segment.length === 1 ? (
                // Each later layer's dot is smaller, so equal values (p50 and p99 in one bucket) stay both visible.
                <circle key={`${l.name}-${segment[0]}`} cx={x(segment[0])} cy={y(l.value(points[segment[0]]))} r={2 + 1.5 * (layers.length - layer)} fill={l.color} />
              ) : (
                <polyline key={`${l.name}-${segment[0]}`} fill="none" stroke={l.color} strokeWidth={2} vectorEffect="non-scaling-stroke"
                  points={segment.map(i => `${x(i)},${y(l.value(points[i]))}`).join(' ')} />
              ),
            ),
          )}
        {kind === 'lines' &&
          points.map((p, i) => (
            <rect key={p.start} x={PAD.left + i * slot} y={PAD.top} width={slot} height={plotHeight} fill="transparent">
              <title>{describe(p)}</title>
            </rect>
          ))}
        {labelIndexes.map((index, n) => (
          <text key={`${index}-${n}`} x={x(index)} y={HEIGHT - 4} fontSize={11} fill="currentColor" fillOpacity={0.7}
            textAnchor={ANCHORS[n]}>
            {formatBucket(points[index].start, spansDays, bucketMs)}
          </text>
        ))}
      </svg>
      <Box id={summaryId} sx={VISUALLY_HIDDEN}>{summary}</Box>
      <Stack direction="row" spacing={2}>
        {layers.map(l => (
          <Stack key={l.name} direction="row" spacing={0.5} alignItems="center">
            <Box sx={{ width: 10, height: 10, bgcolor: l.color, borderRadius: 0.5 }} />
            <Typography variant="caption">{l.name}</Typography>
          </Stack>
        ))}
      </Stack>
    </Box>
  );
}
