import { useEffect, useState } from 'react';
import { ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import type { AuditEventView } from '@quarterdeck/plugin-argo-common';
import { formatDateTime } from '@quarterdeck/plugin-quarterdeck-react';
import Button from '@mui/material/Button';
import CircularProgress from '@mui/material/CircularProgress';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { argoApiRef } from '../../api/ArgoClient';

/** Where the rollout was when someone acted: its canary step, or else its phase. */
export function auditWhere(details: Record<string, unknown> | undefined): string {
  if (typeof details?.stepBefore === 'number') {
    // A canary that has done all its steps stands at index = their number (recorded since 2026-12-07 night as stepCount).
    if (typeof details.stepCount === 'number' && details.stepBefore >= details.stepCount) return 'after the last step';
    return `at step ${details.stepBefore + 1}`;
  }
  if (typeof details?.phaseBefore === 'string') return `while ${details.phaseBefore}`;
  return '–';
}

/** Entries newest first, each once (entries never change, so any copy of one will do). */
/** How long an action's entry may wait for its outcome before the backend is taken to have stopped while sending it. */
const SENDING_MS = 5 * 60_000;

/**
 * What came of an action that was not simply applied. Its entry is written
 * before anything is sent, `pending` until settled: young, it is being sent
 * (the page polls while someone's action is under way); old, its backend
 * stopped while sending it.
 */
function ActionOutcome({ details, createdAt }: { details: Record<string, unknown>; createdAt: string }) {
  const pending = details.pending === true;
  if (pending && Date.now() - Date.parse(createdAt) < SENDING_MS) {
    return <Typography variant="caption" color="text.secondary" display="block">being sent…</Typography>;
  }
  let text = String(details.outcome);
  if (pending) text = 'no outcome recorded: the backend stopped while sending it, so it may have been applied';
  else if (details.outcome === 'unknown') text = 'sent, with no answer: it may have been applied';
  return (
    <Typography variant="caption" color="error" display="block">
      {text}
      {!pending && typeof details.error === 'string' ? `: ${details.error}` : ''}
    </Typography>
  );
}

function merged(...lists: AuditEventView[][]): AuditEventView[] {
  const byId = new Map<string, AuditEventView>();
  for (const list of lists) for (const event of list) byId.set(event.id, event);
  const newestFirst = (a: AuditEventView, b: AuditEventView) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || Number(b.id) - Number(a.id);
  return [...byId.values()].sort(newestFirst);
}

/**
 * Who acted on the Rollout, when, where and why: its newest entries (polled
 * with the Rollout), and older ones a page at a time on demand. An older page
 * reads back from where the newest ended when it was asked for, and from then
 * on what each newest page showed is kept, so entries arriving meanwhile, however
 * many, leave no gap.
 */
export function RolloutAuditTrail({ rollout, newest, next }: {
  rollout: { cluster: string; namespace: string; name: string };
  newest: AuditEventView[];
  next?: string;
}) {
  const argo = useApi(argoApiRef);
  const [older, setOlder] = useState<{ events: AuditEventView[]; next?: string }>();
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<Error>();
  // Once older pages are shown, every newest page read is kept too: entries that many new
  // ones push off it stay between them and the older pages.
  useEffect(() => {
    setOlder(o => (o ? { ...o, events: merged(o.events, newest) } : o));
  }, [newest]);
  const events = merged(newest, older?.events ?? []);
  const more = older ? older.next : next;

  const showOlder = async () => {
    setLoading(true);
    setError(undefined);
    try {
      const page = await argo.listRolloutAudit(rollout, more!);
      setOlder(o => ({ events: merged(o?.events ?? [], newest, page.items), next: page.next }));
    } catch (e) {
      setError(e as Error);
    } finally {
      setLoading(false);
    }
  };

  if (events.length === 0) {
    return <Typography variant="body2" color="text.secondary">No one has acted on this rollout yet.</Typography>;
  }
  return (
    <>
      <Table size="small" aria-label="audit trail">
        <TableHead><TableRow><TableCell>When</TableCell><TableCell>Who</TableCell><TableCell>Action</TableCell><TableCell>At</TableCell><TableCell>Reason</TableCell></TableRow></TableHead>
        <TableBody>
          {events.map(a => (
            <TableRow key={a.id}>
              <TableCell>{formatDateTime(a.createdAt)}</TableCell>
              <TableCell>{a.actor.replace(/^user:default\//, '')}</TableCell>
              <TableCell>
                {a.action}
                {/* An attempt that did not go through is on the trail too, and says so. */}
                {typeof a.details?.outcome === 'string' && a.details.outcome !== 'applied' && (
                  <ActionOutcome details={a.details} createdAt={a.createdAt} />
                )}
              </TableCell>
              <TableCell>{auditWhere(a.details)}</TableCell>
              <TableCell>{a.reason ?? ''}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
      {error && <ResponseErrorPanel error={error} title="Could not load older entries" />}
      {more && (
        <Stack direction="row" spacing={1} alignItems="center" sx={{ mt: 1 }}>
          <Button size="small" onClick={showOlder} disabled={loading}>Show older</Button>
          {loading && <CircularProgress size={16} aria-label="loading older entries" />}
        </Stack>
      )}
    </>
  );
}
