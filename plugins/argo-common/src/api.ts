import type { CanaryStep, Condition } from './kinds';

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
  conditions: Condition[];
  replicaSets: Array<{ name: string; hash?: string; role: 'stable' | 'canary' | 'old'; revision: number; replicas: number; readyReplicas: number; availableReplicas: number }>;
  analysisRuns: Array<{
    name: string;
    type?: string;
    stepIndex?: string;
    phase?: string;
    message?: string;
    startedAt?: string;
    metricResults: Array<{ name: string; phase: string; measurements?: Array<{ phase: string; value?: string; finishedAt?: string; startedAt?: string }> }>;
  }>;
  audit: AuditEventView[];
}

export interface RolloutActionResponse {
  summary: string;
  rollout?: RolloutSummary;
  audit: AuditEventView;
}
