/**
 * The Argo kinds Quarterdeck reads and writes, with Argo's field names. The
 * shapes cover what Quarterdeck uses; unknown fields pass through untouched.
 */

export const ARGO_API_VERSION = 'argoproj.io/v1alpha1';

export const ARGO_KINDS = {
  Rollout: { kind: 'Rollout', plural: 'rollouts', namespaced: true },
  AnalysisTemplate: { kind: 'AnalysisTemplate', plural: 'analysistemplates', namespaced: true },
  ClusterAnalysisTemplate: { kind: 'ClusterAnalysisTemplate', plural: 'clusteranalysistemplates', namespaced: false },
  AnalysisRun: { kind: 'AnalysisRun', plural: 'analysisruns', namespaced: true },
  Workflow: { kind: 'Workflow', plural: 'workflows', namespaced: true },
  WorkflowTemplate: { kind: 'WorkflowTemplate', plural: 'workflowtemplates', namespaced: true },
  ClusterWorkflowTemplate: { kind: 'ClusterWorkflowTemplate', plural: 'clusterworkflowtemplates', namespaced: false },
  CronWorkflow: { kind: 'CronWorkflow', plural: 'cronworkflows', namespaced: true },
  EventSource: { kind: 'EventSource', plural: 'eventsources', namespaced: true },
  Sensor: { kind: 'Sensor', plural: 'sensors', namespaced: true },
} as const;

export type ArgoKind = keyof typeof ARGO_KINDS;

/** The metadata every object carries (a subset of Kubernetes' ObjectMeta). */
export interface ArgoObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
  finalizers?: string[];
}

export interface ArgoObject<K extends ArgoKind, Spec, Status> {
  apiVersion: typeof ARGO_API_VERSION;
  kind: K;
  metadata: ArgoObjectMeta;
  spec: Spec;
  status?: Status;
  [field: string]: unknown;
}

export type IntOrString = number | string;

/**
 * Where an analysis argument's value comes from (Argo's ValueFrom): the
 * Rollout's new or stable pod template hash and a field of the Rollout, given
 * by a Rollout's analysis and resolved as its AnalysisRun is made; a Secret's
 * key, given by a template and read each time a metric is measured.
 */
export interface AnalysisArgValueFrom {
  podTemplateHashValue?: 'Latest' | 'Stable';
  fieldRef?: { fieldPath: string };
  secretKeyRef?: { name: string; key: string };
}

export interface AnalysisArg {
  name: string;
  value?: string;
  valueFrom?: AnalysisArgValueFrom;
}

/** Metrics (named by a regular expression) whose verdicts are recorded but do not decide the run. */
export type DryRunRule = { metricName: string };
/** How many measurements metrics (named by a regular expression) keep, instead of 10. */
export type MeasurementRetentionRule = { metricName: string; limit: number };

export interface RolloutAnalysis {
  templates?: Array<{ templateName: string; clusterScope?: boolean }>;
  args?: AnalysisArg[];
  dryRun?: DryRunRule[];
  measurementRetention?: MeasurementRetentionRule[];
}

export interface CanaryStep {
  setWeight?: number;
  pause?: { duration?: IntOrString };
  analysis?: RolloutAnalysis;
  setCanaryScale?: { replicas?: number; weight?: number; matchTrafficWeight?: boolean };
  [other: string]: unknown;
}

export interface RolloutSpec {
  replicas?: number;
  selector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
  template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: unknown };
  workloadRef?: { apiVersion: string; kind: string; name: string; scaleDown?: string };
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  /** How many finished AnalysisRuns of a Rollout are kept: successful ones, and failed, errored or inconclusive ones (5 each). */
  analysis?: { successfulRunHistoryLimit?: number; unsuccessfulRunHistoryLimit?: number };
  paused?: boolean;
  progressDeadlineSeconds?: number;
  progressDeadlineAbort?: boolean;
  restartAt?: string;
  strategy?: {
    canary?: {
      canaryService?: string;
      stableService?: string;
      maxSurge?: IntOrString;
      maxUnavailable?: IntOrString;
      steps?: CanaryStep[];
      analysis?: RolloutAnalysis & { startingStep?: number };
      trafficRouting?: Record<string, unknown>;
      scaleDownDelaySeconds?: number;
      abortScaleDownDelaySeconds?: number;
      dynamicStableScale?: boolean;
    };
    blueGreen?: {
      activeService: string;
      previewService?: string;
      previewReplicaCount?: number;
      autoPromotionEnabled?: boolean;
      autoPromotionSeconds?: number;
      scaleDownDelaySeconds?: number;
      abortScaleDownDelaySeconds?: number;
      prePromotionAnalysis?: RolloutAnalysis;
      postPromotionAnalysis?: RolloutAnalysis;
    };
  };
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
}

export interface RolloutStatus {
  phase?: 'Healthy' | 'Progressing' | 'Paused' | 'Degraded';
  message?: string;
  /** Argo writes observedGeneration as a string on Rollouts. */
  observedGeneration?: string;
  currentStepIndex?: number;
  currentStepHash?: string;
  currentPodHash?: string;
  stableRS?: string;
  pauseConditions?: Array<{ reason: string; startTime: string }>;
  controllerPause?: boolean;
  abort?: boolean;
  abortedAt?: string;
  promoteFull?: boolean;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  HPAReplicas?: number;
  selector?: string;
  restartedAt?: string;
  canary?: { weights?: { canary: { weight: number; podTemplateHash?: string; serviceName?: string }; stable: { weight: number; podTemplateHash?: string; serviceName?: string } }; currentStepAnalysisRunStatus?: unknown; currentBackgroundAnalysisRunStatus?: unknown };
  blueGreen?: { activeSelector?: string; previewSelector?: string; scaleUpPreviewCheckPoint?: boolean; prePromotionAnalysisRunStatus?: unknown; postPromotionAnalysisRunStatus?: unknown };
  conditions?: Condition[];
  [other: string]: unknown;
}

export type Rollout = ArgoObject<'Rollout', RolloutSpec, RolloutStatus>;

export interface Metric {
  name: string;
  interval?: string;
  initialDelay?: string;
  count?: IntOrString;
  successCondition?: string;
  failureCondition?: string;
  failureLimit?: IntOrString;
  inconclusiveLimit?: IntOrString;
  consecutiveErrorLimit?: IntOrString;
  provider: Record<string, unknown>;
}

export interface AnalysisTemplateSpec {
  args?: AnalysisArg[];
  metrics: Metric[];
  dryRun?: DryRunRule[];
  measurementRetention?: MeasurementRetentionRule[];
}

export type AnalysisTemplate = ArgoObject<'AnalysisTemplate', AnalysisTemplateSpec, never>;
export type ClusterAnalysisTemplate = ArgoObject<'ClusterAnalysisTemplate', AnalysisTemplateSpec, never>;

export interface Measurement {
  phase: 'Successful' | 'Failed' | 'Inconclusive' | 'Error' | 'Running' | 'Pending';
  value?: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  resumeAt?: string;
}

export interface AnalysisRunStatus {
  phase?: 'Pending' | 'Running' | 'Successful' | 'Failed' | 'Error' | 'Inconclusive';
  message?: string;
  startedAt?: string;
  metricResults?: Array<{
    name: string;
    phase: string;
    count?: number;
    successful?: number;
    failed?: number;
    inconclusive?: number;
    error?: number;
    consecutiveError?: number;
    measurements?: Measurement[];
    message?: string;
    dryRun?: boolean;
  }>;
  [other: string]: unknown;
}

export type AnalysisRun = ArgoObject<'AnalysisRun', AnalysisTemplateSpec & { terminate?: boolean }, AnalysisRunStatus>;

/** Argo Workflows and Argo Events kinds keep open specs, as their CRDs do. */
export type Workflow = ArgoObject<'Workflow', Record<string, unknown>, Record<string, unknown>>;
export type WorkflowTemplate = ArgoObject<'WorkflowTemplate', Record<string, unknown>, never>;
export type ClusterWorkflowTemplate = ArgoObject<'ClusterWorkflowTemplate', Record<string, unknown>, never>;
export type CronWorkflow = ArgoObject<'CronWorkflow', Record<string, unknown>, Record<string, unknown>>;
export type EventSource = ArgoObject<'EventSource', Record<string, unknown>, Record<string, unknown>>;
export type Sensor = ArgoObject<'Sensor', Record<string, unknown>, Record<string, unknown>>;
