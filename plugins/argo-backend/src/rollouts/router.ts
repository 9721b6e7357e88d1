import type { AuthService, HttpAuthService, LoggerService, PermissionsService } from '@backstage/backend-plugin-api';
import { ConflictError, InputError, isError, NotAllowedError, NotFoundError, ServiceUnavailableError, toError } from '@backstage/errors';
import { parseEntityRef, stringifyEntityRef, type Entity } from '@backstage/catalog-model';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  argoReadPermission,
  KUBERNETES_ID_ANNOTATION,
  KUBERNETES_ID_LABEL,
  KUBERNETES_LABEL_SELECTOR_ANNOTATION,
  KUBERNETES_NAMESPACE_ANNOTATION,
  QUARTERDECK_CLUSTER_ANNOTATION,
  rolloutAbortPermission,
  rolloutPausePermission,
  rolloutPromoteFullPermission,
  rolloutPromotePermission,
  rolloutRestartPermission,
  rolloutResumePermission,
  rolloutRetryPermission,
  rolloutUndoPermission,
  type AnalysisRun,
  type AnalysisRunKind,
  type AnalysisRunStatusView,
  type AuditEventView,
  type ReplicaSetRole,
  type Rollout,
  type RolloutActionResponse,
  type RolloutDetail,
  type RolloutSummary,
} from '@quarterdeck/plugin-argo-common';
import { argoClients, type ClusterClient, type ClusterService, type KubeObject } from '@quarterdeck/plugin-argo-node';
import Router from 'express-promise-router';
import { z } from 'zod';
import type { AuditStore } from '../database/AuditStore';
import { parseAuditCursor } from '@quarterdeck/plugin-quarterdeck-node';
import { actionOutcome, planRolloutAction, ROLLOUT_ACTIONS, type ActionOutcome, type RolloutAction, type RolloutPatch } from './actions';
import { POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, ROLLOUT_TYPE_LABEL, SCALE_DOWN_DEADLINE_ANNOTATION, STEP_INDEX_LABEL } from './objects';
import { rolloutEntityResolver } from './owningEntity';
import { displayedRolloutPhase } from './phase';
import { formatSelector } from './status';
import { workloadTemplatePointer } from './workloadRef';

const ACTION_PERMISSIONS = {
  promote: rolloutPromotePermission,
  'promote-full': rolloutPromoteFullPermission,
  abort: rolloutAbortPermission,
  retry: rolloutRetryPermission,
  pause: rolloutPausePermission,
  resume: rolloutResumePermission,
  restart: rolloutRestartPermission,
  undo: rolloutUndoPermission,
} as const;

/** C0 controls and DEL, but tab, line feed and carriage return. */
const isControlCharacter = (c: string) => {
  const code = c.charCodeAt(0);
  return (code < 0x20 && c !== '\t' && c !== '\n' && c !== '\r') || code === 0x7f;
};

const actionBody = z
  .object({
    reason: z.string({ invalid_type_error: 'must be a string' }).max(2000, 'at most 2000 characters')
      // A NUL is refused by PostgreSQL's text: the action would be applied and its audit entry not written.
      .refine(text => ![...text].some(isControlCharacter), 'must not hold control characters (tabs and line breaks are fine)')
      .optional(),
    revision: z.number({ invalid_type_error: 'must be a number' }).int('must be a whole number').positive('must be positive').optional(),
    // What the caller saw when it chose the action: a Rollout that has moved on since is not acted on.
    expectedStep: z.number({ invalid_type_error: 'must be a number' }).int('must be a whole number').nonnegative('must be 0 or more').optional(),
    expectedPodHash: z.string({ invalid_type_error: 'must be a string' }).max(63, 'at most 63 characters').optional(),
  }, { invalid_type_error: 'must be a JSON object' })
  .strict();

/** Errors that are the cluster's answer that it did not apply a patch (a refusal), as opposed to no answer at all. */
const REFUSALS = new Set(['ConflictError', 'NotFoundError', 'InputError', 'NotAllowedError', 'ClusterAccessRefused']);

/** Whether the cluster said no to a patch; a timeout, a reset connection or its own 5xx leave the patch's fate unknown. */
function refusedByCluster(error: unknown): boolean {
  if (!isError(error)) return false;
  if (REFUSALS.has(error.name)) return true;
  const status = (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/**
 * Why a Rollout is not the one the caller chose an action on: another user's
 * promote moved its step (a second promote would skip the next one, an
 * analysis say), or its template changed (a second undo would undo the
 * first). Undefined when it is as seen, or nothing was said of it.
 */
function movedOnSince(rollout: Rollout, seen: { expectedStep?: number; expectedPodHash?: string }): string | undefined {
  const { namespace, name } = rollout.metadata;
  const step = rollout.status?.currentStepIndex ?? 0;
  if (seen.expectedStep !== undefined && step !== seen.expectedStep) {
    return `Rollout ${namespace}/${name} is at step ${step + 1} now, not step ${seen.expectedStep + 1} where you chose this (another promote, or a timed pause that ended); look at it again`;
  }
  const hash = rollout.status?.currentPodHash;
  if (seen.expectedPodHash !== undefined && hash !== seen.expectedPodHash) {
    return `Rollout ${namespace}/${name} runs another pod template now (${hash ?? 'none yet'}, not ${seen.expectedPodHash} where you chose this); look at it again`;
  }
  return undefined;
}

/**
 * The first patch made conditional on the object as it was read: the plan was
 * made from that read, and a controller or another user writing in between
 * would otherwise have the patch undo their change (a step index set back).
 */
function onlyOver(patch: RolloutPatch, resourceVersion: string | undefined): RolloutPatch {
  if (!resourceVersion) return patch;
  if (patch.type === 'merge') return { ...patch, body: { ...patch.body, metadata: { resourceVersion } } };
  // A JSON patch's result carrying the read resourceVersion is as conditional as a merge patch's (a test op's failure is not a 409).
  return { ...patch, body: [{ op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion }, ...(patch.body as Array<Record<string, unknown>>)] };
}

/** The first problem zod found, as the API says it: the field, then what is wrong with it (a body of unknown fields names them). */
function zodMessage(error: z.ZodError): string {
  const issue = error.issues[0];
  const path = issue.path.reduce<string>((p, k) => (typeof k === 'number' ? `${p}[${k}]` : `${p}${p ? '.' : ''}${k}`), '');
  return path && issue.message.startsWith(`${path}:`) ? issue.message : `${path || 'body'}: ${issue.message}`;
}

/** How many audit entries a Rollout shows before "Show older". */
const AUDIT_PAGE_SIZE = 20;

/** The audit route's query: other parameters (a cache-buster, say) are ignored. */
const auditQuery = z.object({
  before: z.string({ invalid_type_error: 'before: one cursor, from the `next` of an earlier page' }).optional().transform((text, ctx) => {
    if (text === undefined) return undefined;
    const cursor = parseAuditCursor(text);
    if (!cursor) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `before: "${text}" is not the next of an earlier page` });
    return cursor;
  }),
  limit: z.string({ invalid_type_error: 'limit: one number, 1 to 100' })
    .regex(/^\d{1,3}$/, 'limit: a number, 1 to 100').transform(Number)
    .refine(n => n >= 1 && n <= 100, 'limit: a number, 1 to 100').optional(),
});

/** Where an entity's Rollouts are: the Kubernetes plugin's annotations, plus our cluster annotation. */
export function entityRolloutScope(entity: Entity): { cluster?: string; namespace?: string; labelSelector: string } | undefined {
  const annotations = entity.metadata.annotations ?? {};
  const selector = annotations[KUBERNETES_LABEL_SELECTOR_ANNOTATION] ??
    (annotations[KUBERNETES_ID_ANNOTATION] ? `${KUBERNETES_ID_LABEL}=${annotations[KUBERNETES_ID_ANNOTATION]}` : undefined);
  if (!selector) return undefined;
  return { cluster: annotations[QUARTERDECK_CLUSTER_ANNOTATION], namespace: annotations[KUBERNETES_NAMESPACE_ANNOTATION], labelSelector: selector };
}

export interface RolloutsRouterOptions {
  clusters: ClusterService;
  catalog: CatalogService;
  permissions: PermissionsService;
  httpAuth: HttpAuthService;
  auth: AuthService;
  audit: AuditStore;
  logger: LoggerService;
}

/**
 * The ReplicaSets that may be a Rollout's: those its selector matches (the
 * caller keeps the ones it owns), read with the selector rather than the
 * whole namespace, as a page polling every 1.5 s asks for them.
 */
async function ownedReplicaSets(client: ClusterClient, rollout: Rollout) {
  const labelSelector = formatSelector(rollout.spec.selector?.matchLabels ?? {});
  return (await client.list({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: rollout.metadata.namespace! }, labelSelector ? { labelSelector } : {})).items;
}

/**
 * The Rollout's AnalysisRuns, read by the pod-template hashes of its
 * ReplicaSets (Argo Rollouts labels each run with the hash it analyses, as
 * this reconciler does) rather than every run in the namespace on each poll.
 */
async function ownedAnalysisRuns(client: ClusterClient, rollout: Rollout, replicaSets: KubeObject[]) {
  const hashes = [...new Set(replicaSets.map(rs => rs.metadata.labels?.[POD_TEMPLATE_HASH_LABEL]).filter((h): h is string => Boolean(h)))];
  if (hashes.length === 0) return [];
  const labelSelector = `${POD_TEMPLATE_HASH_LABEL} in (${hashes.join(',')})`;
  const runs = await argoClients(client).analysisRuns.list(rollout.metadata.namespace!, { labelSelector });
  return runs.items.filter(run => (run.metadata.ownerReferences ?? []).some(r => r.uid === rollout.metadata.uid));
}

const ANALYSIS_KINDS: ReadonlySet<string> = new Set<AnalysisRunKind>(['Step', 'Background', 'PrePromotion', 'PostPromotion']);

/** A run reference from the Rollout's status, if it is one. */
function runStatus(value: unknown): AnalysisRunStatusView | undefined {
  const v = value as { name?: unknown; status?: unknown; message?: unknown } | null | undefined;
  if (!v || typeof v.name !== 'string') return undefined;
  return {
    name: v.name,
    status: typeof v.status === 'string' ? v.status : '',
    ...(typeof v.message === 'string' && v.message ? { message: v.message } : {}),
  };
}

function blueGreenView(rollout: Rollout): RolloutSummary['blueGreen'] {
  const spec = rollout.spec.strategy?.blueGreen;
  if (!spec) return undefined;
  const status = rollout.status?.blueGreen ?? {};
  const configured = (a: { templates?: unknown[] } | undefined) => (a?.templates ?? []).length > 0;
  const pre = runStatus(status.prePromotionAnalysisRunStatus);
  const post = runStatus(status.postPromotionAnalysisRunStatus);
  return {
    activeService: spec.activeService,
    ...(spec.previewService ? { previewService: spec.previewService } : {}),
    ...(status.activeSelector ? { activeSelector: status.activeSelector } : {}),
    ...(status.previewSelector ? { previewSelector: status.previewSelector } : {}),
    ...(spec.autoPromotionEnabled !== undefined ? { autoPromotionEnabled: spec.autoPromotionEnabled } : {}),
    ...(spec.autoPromotionSeconds !== undefined ? { autoPromotionSeconds: spec.autoPromotionSeconds } : {}),
    ...(spec.previewReplicaCount !== undefined ? { previewReplicaCount: spec.previewReplicaCount } : {}),
    ...(spec.scaleDownDelaySeconds !== undefined ? { scaleDownDelaySeconds: spec.scaleDownDelaySeconds } : {}),
    prePromotionAnalysisConfigured: configured(spec.prePromotionAnalysis),
    postPromotionAnalysisConfigured: configured(spec.postPromotionAnalysis),
    ...(pre ? { prePromotionAnalysis: pre } : {}),
    ...(post ? { postPromotionAnalysis: post } : {}),
    ...(status.scaleUpPreviewCheckPoint ? { scaleUpPreviewCheckPoint: true } : {}),
  };
}

/** A ReplicaSet's role: by the Services' selectors for blue-green, by stable/current for canaries. */
export function replicaSetRole(rollout: Rollout, hash: string | undefined): ReplicaSetRole {
  const status = rollout.status ?? {};
  if (hash && rollout.spec.strategy?.blueGreen) {
    if (hash === status.blueGreen?.activeSelector) return 'active';
    if (hash === status.blueGreen?.previewSelector) return 'preview';
    if (hash === status.stableRS) return 'stable';
    return 'old';
  }
  if (hash && hash === status.stableRS) return 'stable';
  if (hash && hash === status.currentPodHash) return 'canary';
  return 'old';
}

export function summarizeRollout(cluster: string, rollout: Rollout): RolloutSummary {
  const { phase, message } = displayedRolloutPhase(rollout);
  const canary = rollout.spec.strategy?.canary;
  const stepAnalysis = canary ? runStatus(rollout.status?.canary?.currentStepAnalysisRunStatus) : undefined;
  const backgroundAnalysis = canary ? runStatus(rollout.status?.canary?.currentBackgroundAnalysisRunStatus) : undefined;
  const blueGreen = canary ? undefined : blueGreenView(rollout);
  return {
    cluster,
    namespace: rollout.metadata.namespace,
    name: rollout.metadata.name,
    strategy: canary ? 'canary' : 'blueGreen',
    phase,
    message,
    paused: Boolean(rollout.spec.paused),
    aborted: Boolean(rollout.status?.abort),
    pauseConditions: rollout.status?.pauseConditions ?? [],
    currentStepIndex: rollout.status?.currentStepIndex,
    steps: canary?.steps ?? [],
    weights: rollout.status?.canary?.weights,
    stableRS: rollout.status?.stableRS,
    currentPodHash: rollout.status?.currentPodHash,
    replicas: rollout.spec.replicas ?? 1,
    readyReplicas: rollout.status?.readyReplicas ?? 0,
    updatedReplicas: rollout.status?.updatedReplicas ?? 0,
    availableReplicas: rollout.status?.availableReplicas ?? 0,
    ...(stepAnalysis ? { stepAnalysis } : {}),
    ...(backgroundAnalysis ? { backgroundAnalysis } : {}),
    ...(blueGreen ? { blueGreen } : {}),
  };
}

export function createRolloutsRouter(options: RolloutsRouterOptions) {
  const { clusters, catalog, permissions, httpAuth, auth, audit } = options;
  const router = Router();

  const entityOf = rolloutEntityResolver({ catalog, auth });

  /**
   * Checks a catalog-entity permission on the Rollout's entity. A Rollout
   * no entity claims can only be acted on by whoever the policy allows
   * unconditionally (platform admins, in Quarterdeck's policy).
   */
  async function allowed(
    permission: typeof argoReadPermission,
    entityRef: string | undefined,
    credentials: Awaited<ReturnType<HttpAuthService['credentials']>>,
  ): Promise<boolean> {
    if (entityRef) {
      const [decision] = await permissions.authorize([{ permission, resourceRef: entityRef }], { credentials });
      return decision.result === AuthorizeResult.ALLOW;
    }
    const [decision] = await permissions.authorizeConditional([{ permission }], { credentials });
    return decision.result === AuthorizeResult.ALLOW;
  }

  /** The actions the caller may take on a Rollout no entity owns: what `allowed` answers without an entity, in one request. */
  async function unownedActionsAllowed(credentials: Awaited<ReturnType<HttpAuthService['credentials']>>): Promise<RolloutAction[]> {
    const decisions = await permissions.authorizeConditional(ROLLOUT_ACTIONS.map(action => ({ permission: ACTION_PERMISSIONS[action] })), { credentials });
    return ROLLOUT_ACTIONS.filter((_, i) => decisions[i].result === AuthorizeResult.ALLOW);
  }

  async function readRollout(cluster: string, namespace: string, name: string) {
    const client = await clusters.client(cluster);
    const rollout = await argoClients(client).rollouts.get(namespace, name);
    if (!rollout) throw new NotFoundError(`Rollout ${namespace}/${name} not found on cluster '${cluster}'`);
    return { client, rollout };
  }

  // An entity's Rollouts.
  router.get('/rollouts', async (req, res) => {
    const given = req.query.entityRef;
    if (given === undefined || given === '') throw new InputError('entityRef: a catalog entity ref is required, e.g. component:default/payments-api');
    if (typeof given !== 'string') throw new InputError('entityRef: must be given once');
    let entityRef: string;
    try {
      entityRef = stringifyEntityRef(parseEntityRef(given));
    } catch {
      throw new InputError(`entityRef: "${given}" is not an entity reference with a kind, such as component:default/payments-api`);
    }
    const credentials = await httpAuth.credentials(req);
    const entity = await catalog.getEntityByRef(entityRef, { credentials });
    if (!entity) throw new NotFoundError(`No entity ${entityRef} in the catalog`);
    const [decision] = await permissions.authorize([{ permission: argoReadPermission, resourceRef: entityRef }], { credentials });
    if (decision.result !== AuthorizeResult.ALLOW) throw new NotAllowedError(`You may not read the Argo objects of ${entityRef}`);
    const scope = entityRolloutScope(entity);
    if (!scope) {
      res.json({ items: [] });
      return;
    }
    const cluster = scope.cluster ?? clusters.clusters().find(c => c.isDefault)?.name;
    if (!cluster) throw new NotFoundError('No cluster is configured');
    const client = await clusters.client(cluster);
    const list = await argoClients(client).rollouts.list(scope.namespace, { labelSelector: scope.labelSelector });
    res.json({ items: list.items.map(r => summarizeRollout(cluster, r)) });
  });

  // One Rollout with its ReplicaSets, AnalysisRuns and audit trail.
  router.get('/rollouts/:cluster/:namespace/:name', async (req, res) => {
    const { cluster, namespace, name } = req.params;
    const credentials = await httpAuth.credentials(req);
    const { client, rollout } = await readRollout(cluster, namespace, name);
    const entityRef = await entityOf(rollout);
    if (!(await allowed(argoReadPermission, entityRef, credentials))) {
      throw new NotAllowedError(`You may not read Rollout ${namespace}/${name}`);
    }
    const owned = (o: KubeObject) => (o.metadata.ownerReferences ?? []).some(r => r.uid === rollout.metadata.uid);
    const replicaSets = (await ownedReplicaSets(client, rollout)).filter(owned);
    const runs = await ownedAnalysisRuns(client, rollout, replicaSets);
    const body: Omit<RolloutDetail, 'audit' | 'auditNext'> = {
      ...summarizeRollout(cluster, rollout),
      entityRef,
      conditions: rollout.status?.conditions ?? [],
      replicaSets: replicaSets.map(rs => {
        const hash = rs.metadata.labels?.[POD_TEMPLATE_HASH_LABEL];
        const s = (rs.status ?? {}) as { replicas?: number; readyReplicas?: number; availableReplicas?: number };
        const scaleDownDeadline = rs.metadata.annotations?.[SCALE_DOWN_DEADLINE_ANNOTATION];
        return {
          name: rs.metadata.name!,
          hash,
          role: replicaSetRole(rollout, hash),
          revision: Number(rs.metadata.annotations?.[REVISION_ANNOTATION] ?? 0),
          replicas: (rs.spec as { replicas?: number }).replicas ?? 0,
          readyReplicas: s.readyReplicas ?? 0,
          availableReplicas: s.availableReplicas ?? 0,
          ...(scaleDownDeadline ? { scaleDownDeadline } : {}),
        };
      }),
      analysisRuns: runs.map((run: AnalysisRun) => {
        const type = run.metadata.labels?.[ROLLOUT_TYPE_LABEL];
        return {
          name: run.metadata.name!,
          type,
          ...(type && ANALYSIS_KINDS.has(type) ? { kind: type as AnalysisRunKind } : {}),
          stepIndex: run.metadata.labels?.[STEP_INDEX_LABEL],
          phase: run.status?.phase,
        message: run.status?.message,
          startedAt: run.status?.startedAt,
          metricResults: run.status?.metricResults ?? [],
        };
      }),
    };
    const trail = await audit.page({ object: { cluster, kind: 'Rollout', namespace, name }, limit: AUDIT_PAGE_SIZE });
    // The browser cannot ask the policy without a resource, so the page is told what it would answer.
    const unowned = entityRef ? {} : { unownedActionsAllowed: await unownedActionsAllowed(credentials) };
    res.json({ ...body, ...unowned, audit: trail.items, ...(trail.next ? { auditNext: trail.next } : {}) });
  });

  // The audit trail's older pages, from the `auditNext` of the Rollout (or the `next` of a page).
  router.get('/rollouts/:cluster/:namespace/:name/audit', async (req, res) => {
    const { cluster, namespace, name } = req.params;
    const query = auditQuery.safeParse(req.query);
    if (!query.success) throw new InputError(zodMessage(query.error));
    const credentials = await httpAuth.credentials(req);
    const { rollout } = await readRollout(cluster, namespace, name);
    if (!(await allowed(argoReadPermission, await entityOf(rollout), credentials))) {
      throw new NotAllowedError(`You may not read Rollout ${namespace}/${name}`);
    }
    res.json(await audit.page({ object: { cluster, kind: 'Rollout', namespace, name }, before: query.data.before, limit: query.data.limit ?? AUDIT_PAGE_SIZE }));
  });

  // promote, promote-full, abort, retry, pause, resume, restart, undo.
  router.post('/rollouts/:cluster/:namespace/:name/:action', async (req, res) => {
    const { cluster, namespace, name } = req.params;
    const action = req.params.action as RolloutAction;
    if (!ROLLOUT_ACTIONS.includes(action)) {
      throw new InputError(`Unknown action '${req.params.action}': use one of ${ROLLOUT_ACTIONS.join(', ')}`);
    }
    const parsed = actionBody.safeParse(req.body ?? {});
    if (!parsed.success) throw new InputError(zodMessage(parsed.error));
    if (parsed.data.revision !== undefined && action !== 'undo') throw new InputError('revision: only undo takes a revision');
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    const { client, rollout } = await readRollout(cluster, namespace, name);
    const entityRef = await entityOf(rollout);
    const permission = ACTION_PERMISSIONS[action];
    if (!(await allowed(permission, entityRef, credentials))) {
      throw new NotAllowedError(`You may not ${action} Rollout ${namespace}/${name} (permission ${permission.name})`);
    }
    const ref = { apiVersion: rollout.apiVersion, kind: 'Rollout', namespace, name };
    /** The plan for the Rollout as read: what undo goes back to depends on its ReplicaSets (and a workloadRef's workload). */
    const planFor = async (read: Rollout) => {
      const moved = movedOnSince(read, parsed.data);
      if (moved) throw new ConflictError(moved);
      const replicaSets = action === 'undo'
        ? (await ownedReplicaSets(client, read)).filter(rs => (rs.metadata.ownerReferences ?? []).some(r => r.uid === read.metadata.uid))
        : undefined;
      // undo of a workloadRef Rollout compares with, and patches, the workload's template.
      const workloadRef = action === 'undo' ? read.spec.workloadRef : undefined;
      const workload = workloadRef && workloadTemplatePointer(workloadRef)
        ? await client.get({ apiVersion: workloadRef.apiVersion, kind: workloadRef.kind, namespace, name: workloadRef.name })
        : undefined;
      const planned = planRolloutAction(read, action, { revision: parsed.data.revision, replicaSets, workload });
      if (!planned.ok) {
        if (planned.status === 404) throw new NotFoundError(planned.message);
        throw new ConflictError(planned.message);
      }
      return { planned, workload };
    };
    const send = (patch: RolloutPatch) => client.patch(patch.target ? { ...patch.target, namespace } : ref, patch.type, patch.body as never, patch.subresource ? { subresource: patch.subresource } : {});
    // The first patch only over the object the plan was made from: a controller's or another user's write in between
    // is not undone (a step index set back). On a conflict the Rollout is read, checked and planned again, a few times.
    let { planned: plan, workload } = await planFor(rollout);
    let acted = rollout;
    const actor = credentials.principal.userEntityRef;
    /** The entry's details: where the Rollout was when the action was taken (the controller moves it afterwards), and what came of it. */
    const detailsOf = (outcome: ActionOutcome) => ({
      stepBefore: acted.status?.currentStepIndex,
      // A canary past its last step has stepBefore = the number of steps: the trail says "after the last step".
      ...(acted.spec.strategy?.canary?.steps ? { stepCount: acted.spec.strategy.canary.steps.length } : {}),
      phaseBefore: displayedRolloutPhase(acted).phase,
      ...(parsed.data.revision ? { revision: parsed.data.revision } : {}),
      ...outcome,
    });
    // On the trail before anything is sent, as not yet known: a backend that dies while sending leaves the entry saying
    // the action may have been applied, and one that cannot write the trail sends nothing.
    let event: AuditEventView;
    try {
      event = await audit.record({
        actor,
        action,
        entityRef,
        cluster,
        kind: 'Rollout',
        namespace,
        name,
        reason: parsed.data.reason,
        // `pending` until settled below: a page shows it as being sent, then, if it stays, as cut short.
        details: { ...detailsOf({ outcome: 'unknown', patchesApplied: 0, patches: plan.patches.length, error: 'the backend stopped before it knew the outcome' }), pending: true },
      });
    } catch (error) {
      options.logger.error(`${actor} asked to ${action} Rollout ${cluster}/${namespace}/${name}; not sent, as its audit entry could not be written: ${toError(error).message}`);
      throw new ServiceUnavailableError(`Nothing was sent to Rollout ${namespace}/${name}: its audit entry could not be written; try again, and if it persists, the backend log has the cause`);
    }
    // Once a patch is sent the action is audited, whatever came of it: a later patch
    // failing leaves the earlier ones applied, and that must be on the trail.
    let applied = 0;
    /** `unsent`: nothing had been sent when it came (the read or plan after a conflict failed). */
    let failure: { error: unknown; unsent?: true } | undefined;
    try {
      for (let attempt = 1; plan.patches.length > 0; attempt++) {
        const first = plan.patches[0];
        try {
          await send(onlyOver(first, first.target ? workload?.metadata.resourceVersion : acted.metadata.resourceVersion));
          applied = 1;
          break;
        } catch (error) {
          if (!(isError(error) && error.name === 'ConflictError')) {
            failure = { error };
            break;
          }
          if (attempt === 3) {
            failure = { error: new ConflictError(`Rollout ${namespace}/${name} kept changing while this ${action} was being sent, so nothing was changed; look at it again`) };
            break;
          }
          acted = (await readRollout(cluster, namespace, name)).rollout;
          ({ planned: plan, workload } = await planFor(acted));
        }
      }
    } catch (error) {
      // Read and planned again after a conflict, and refused (the Rollout moved on, or is gone) or not read: nothing was applied.
      failure = { error, unsent: true };
    }
    for (const patch of failure ? [] : plan.patches.slice(1)) {
      try {
        await send(patch);
        applied++;
      } catch (error) {
        failure = { error };
        break;
      }
    }
    const outcome = actionOutcome(applied, plan.patches.length, failure && toError(failure.error).message, failure && (failure.unsent || refusedByCluster(failure.error)));
    let auditError: string | undefined;
    try {
      event = (await audit.settle(event.id, detailsOf(outcome))) ?? event;
    } catch (error) {
      // An action applied stays applied: say the trail lacks its outcome rather than answer 500 (the database's words go to the log).
      auditError = 'The action was sent, but its outcome could not be written to the audit trail, which says it may have been applied; the backend log has the cause';
      options.logger.error(`${actor} ran ${action} on Rollout ${cluster}/${namespace}/${name} (${outcome.outcome}), but its audit entry still says the outcome is unknown: ${toError(error).message}`);
    }
    if (failure) throw failure.error;
    options.logger.info(`${actor} ran ${action} on Rollout ${cluster}/${namespace}/${name}`);
    const after = await argoClients(client).rollouts.get(namespace, name).catch(() => undefined);
    const body: RolloutActionResponse = {
      summary: plan.summary,
      ...(after ? { rollout: summarizeRollout(cluster, after) } : {}),
      audit: event,
      ...(auditError ? { auditError } : {}),
    };
    res.json(body);
  });

  return router;
}
