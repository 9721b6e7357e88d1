import type { CanaryStep, Condition } from './kinds';

/** An AnalysisRun as the Rollout's status refers to it (RolloutAnalysisRunStatus). */
export interface AnalysisRunStatusView {
  name: string;
  /** The run's phase; '' before its first reconcile. */
  status: string;
  message?: string;
}

/** What an AnalysisRun is for: its `rollout-type` label. */
export type AnalysisRunKind = 'Step' | 'Background' | 'PrePromotion' | 'PostPromotion';

/** A ReplicaSet's part in the rollout: canary roles, blue-green roles, or neither. */
export type ReplicaSetRole = 'stable' | 'canary' | 'active' | 'preview' | 'old';

/** A blue-green Rollout's Services, settings and analyses. */
export interface BlueGreenView {
  activeService: string;
  previewService?: string;
  /** The pod-template hash the active Service selects. */
  activeSelector?: string;
  /** The pod-template hash the preview Service selects. */
  previewSelector?: string;
  /** Unset means true, as in Argo. */
  autoPromotionEnabled?: boolean;
  autoPromotionSeconds?: number;
  previewReplicaCount?: number;
  scaleDownDelaySeconds?: number;
  /** Whether pre/post-promotion analysis is configured at all. */
  prePromotionAnalysisConfigured: boolean;
  postPromotionAnalysisConfigured: boolean;
  prePromotionAnalysis?: AnalysisRunStatusView;
  postPromotionAnalysis?: AnalysisRunStatusView;
  scaleUpPreviewCheckPoint?: boolean;
}

/** The routes' view of a Rollout (GET /api/argo/rollouts). */
export interface RolloutSummary {
  cluster: string;
  namespace?: string;
  name?: string;
  strategy: 'canary' | 'blueGreen';
  phase: 'Healthy' | 'Progressing' | 'Paused' | 'Degraded';
  message: string;
  paused: boolean;
  aborted: boolean;
  pauseConditions: Array<{ reason: string; startTime: string }>;
  currentStepIndex?: number;
  steps: CanaryStep[];
  weights?: { canary: { weight: number; podTemplateHash?: string }; stable: { weight: number; podTemplateHash?: string } };
  stableRS?: string;
  currentPodHash?: string;
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  availableReplicas: number;
  /** Canary: the current step's analysis, if any. */
  stepAnalysis?: AnalysisRunStatusView;
  /** Canary: the background analysis (strategy.canary.analysis), if running. */
  backgroundAnalysis?: AnalysisRunStatusView;
  /** Blue-green only. */
  blueGreen?: BlueGreenView;
}

export interface AuditEventView {
  id: string;
  createdAt: string;
  actor: string;
  action: string;
  entityRef?: string;
  reason?: string;
  details?: Record<string, unknown>;
}

export interface RolloutDetail extends RolloutSummary {
  entityRef?: string;
  /**
   * Only when no single catalog entity owns the Rollout (no `entityRef`): the actions the caller
   * may take on it, as the permission policy answers without a resource (platform admins, in
   * Quarterdeck's). With an owner, the page asks the permission framework about that entity.
   */
  unownedActionsAllowed?: string[];
  conditions: Condition[];
  replicaSets: Array<{
    name: string;
    hash?: string;
    role: ReplicaSetRole;
    revision: number;
    replicas: number;
    readyReplicas: number;
    availableReplicas: number;
    /** When an old ReplicaSet is scaled to zero (its scale-down-deadline annotation, RFC 3339). */
    scaleDownDeadline?: string;
  }>;
  analysisRuns: Array<{
    name: string;
    /** The `rollout-type` label, as written. */
    type?: string;
    /** The same, when it is one Quarterdeck knows. */
    kind?: AnalysisRunKind;
    stepIndex?: string;
    phase?: string;
    message?: string;
    startedAt?: string;
    metricResults: Array<{
      name: string;
      phase: string;
      /** Why the metric ended as it did (its limits), as Argo writes it. */
      message?: string;
      /** A dry-run metric: its verdict is recorded and does not decide the run. */
      dryRun?: boolean;
      /** `message`: a measurement's error (the provider's words, secrets masked). */
      measurements?: Array<{ phase: string; value?: string; message?: string; finishedAt?: string; startedAt?: string }>;
    }>;
  }>;
  /** The newest entries of the Rollout's audit trail. */
  audit: AuditEventView[];
  /** Where the older entries start (`GET …/audit?before=`), when there are more. */
  auditNext?: string;
}

/** A page of an audit trail, newest first; `next` reads on, when there is more. */
export interface AuditPageView {
  items: AuditEventView[];
  next?: string;
}

/** The body of a Rollout action (POST /api/argo/rollouts/:cluster/:namespace/:name/:action). */
export interface RolloutActionRequest {
  /** Why, for the audit trail. */
  reason?: string;
  /** undo only: the revision to go back to (the previous one when left out). */
  revision?: number;
  /** The step the caller saw (`currentStepIndex`): the action is refused (409) if the Rollout is at another one now. */
  expectedStep?: number;
  /** The pod template hash the caller saw (`currentPodHash`): the action is refused (409) if the Rollout runs another now. */
  expectedPodHash?: string;
}

export interface RolloutActionResponse {
  summary: string;
  rollout?: RolloutSummary;
  /**
   * The action's audit entry, written before anything was sent (an action
   * whose entry cannot be written is not sent: 503). Its details say
   * `unknown` when its outcome could not be written after (then `auditError`
   * says so).
   */
  audit: AuditEventView;
  auditError?: string;
}
