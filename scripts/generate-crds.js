// Writes deploy/crds/*.yaml: `node scripts/generate-crds.js`. Both drivers enforce these
// schemas (a real API server natively, the local driver through cluster/schema.ts).
const fs = require('fs');
const { stringify } = require('yaml');
const preserve = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
const intOrString = { 'x-kubernetes-int-or-string': true };
const str = { type: 'string' };
const int = { type: 'integer', format: 'int32' };
const bool = { type: 'boolean' };
const obj = (properties, required) => ({ type: 'object', properties, ...(required ? { required } : {}) });
const arr = items => ({ type: 'array', items });
const labelSelector = obj({
  matchLabels: { type: 'object', additionalProperties: str },
  matchExpressions: arr(obj({ key: str, operator: str, values: arr(str) }, ['key', 'operator'])),
});
const duration = { type: 'string' };
const argValue = obj({ name: str, value: str, valueFrom: preserve }, ['name']);
const rolloutAnalysis = obj({
  templates: arr(obj({ templateName: str, clusterScope: bool }, ['templateName'])),
  args: arr(argValue),
  dryRun: arr(obj({ metricName: str }, ['metricName'])),
  measurementRetention: arr(obj({ metricName: str, limit: int }, ['metricName', 'limit'])),
  analysisRunMetadata: preserve,
});
const canaryStep = obj({
  setWeight: int,
  pause: obj({ duration: intOrString }),
  analysis: rolloutAnalysis,
  setCanaryScale: obj({ replicas: int, weight: int, matchTrafficWeight: bool }),
  experiment: preserve,
  setHeaderRoute: preserve,
  setMirrorRoute: preserve,
  plugin: preserve,
});
const rolloutSpec = obj({
  replicas: int,
  selector: labelSelector,
  template: preserve,
  workloadRef: obj({ apiVersion: str, kind: str, name: str, scaleDown: str }),
  minReadySeconds: int,
  revisionHistoryLimit: int,
  paused: bool,
  progressDeadlineSeconds: int,
  progressDeadlineAbort: bool,
  restartAt: { type: 'string', format: 'date-time' },
  rollbackWindow: obj({ revisions: int }),
  analysis: obj({ successfulRunHistoryLimit: int, unsuccessfulRunHistoryLimit: int }),
  strategy: obj({
    canary: obj({
      canaryService: str,
      stableService: str,
      canaryMetadata: preserve,
      stableMetadata: preserve,
      maxSurge: intOrString,
      maxUnavailable: intOrString,
      steps: arr(canaryStep),
      analysis: obj({ ...rolloutAnalysis.properties, startingStep: int }),
      trafficRouting: preserve,
      antiAffinity: preserve,
      scaleDownDelaySeconds: int,
      scaleDownDelayRevisionLimit: int,
      abortScaleDownDelaySeconds: int,
      dynamicStableScale: bool,
      minPodsPerReplicaSet: int,
      pingPong: preserve,
    }),
    blueGreen: obj({
      activeService: str,
      previewService: str,
      previewReplicaCount: int,
      autoPromotionEnabled: bool,
      autoPromotionSeconds: int,
      maxUnavailable: intOrString,
      scaleDownDelaySeconds: int,
      scaleDownDelayRevisionLimit: int,
      abortScaleDownDelaySeconds: int,
      prePromotionAnalysis: rolloutAnalysis,
      postPromotionAnalysis: rolloutAnalysis,
      previewMetadata: preserve,
      activeMetadata: preserve,
      antiAffinity: preserve,
    }, ['activeService']),
  }),
});
const metric = obj({
  name: str,
  interval: duration,
  initialDelay: duration,
  count: intOrString,
  successCondition: str,
  failureCondition: str,
  failureLimit: intOrString,
  inconclusiveLimit: intOrString,
  consecutiveErrorLimit: intOrString,
  consecutiveSuccessLimit: intOrString,
  provider: preserve,
}, ['name', 'provider']);
const analysisTemplateSpec = obj({
  args: arr(obj({ name: str, value: str, valueFrom: preserve }, ['name'])),
  metrics: arr(metric),
  dryRun: arr(obj({ metricName: str }, ['metricName'])),
  measurementRetention: arr(obj({ metricName: str, limit: int }, ['metricName', 'limit'])),
  templates: arr(obj({ templateName: str, clusterScope: bool })),
}, ['metrics']);

const crd = ({ group, kind, plural, singular, shortNames, scope = 'Namespaced', schema, columns = [], categories, version = 'v1alpha1' }) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.${group}`, labels: { 'app.kubernetes.io/part-of': 'quarterdeck' } },
  spec: {
    group,
    names: { kind, listKind: `${kind}List`, plural, singular, ...(shortNames ? { shortNames } : {}), ...(categories ? { categories } : {}) },
    scope,
    versions: [{
      name: version,
      served: true,
      storage: true,
      subresources: { status: {}, ...(kind === 'Rollout' ? { scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.HPAReplicas', labelSelectorPath: '.status.selector' } } : {}) },
      additionalPrinterColumns: [...columns, { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
      schema: { openAPIV3Schema: obj({ apiVersion: str, kind: str, metadata: { type: 'object' }, spec: schema, status: preserve }, schema.required ? ['spec'] : undefined) },
    }],
  },
});

const files = {
  'argoproj.io_rollouts.yaml': crd({ group: 'argoproj.io', kind: 'Rollout', plural: 'rollouts', singular: 'rollout', shortNames: ['ro'], schema: rolloutSpec,
    columns: [{ name: 'Desired', type: 'integer', jsonPath: '.spec.replicas' }, { name: 'Current', type: 'integer', jsonPath: '.status.replicas' }, { name: 'Up-to-date', type: 'integer', jsonPath: '.status.updatedReplicas' }, { name: 'Available', type: 'integer', jsonPath: '.status.availableReplicas' }] }),
  'argoproj.io_analysistemplates.yaml': crd({ group: 'argoproj.io', kind: 'AnalysisTemplate', plural: 'analysistemplates', singular: 'analysistemplate', shortNames: ['at'], schema: analysisTemplateSpec }),
  'argoproj.io_clusteranalysistemplates.yaml': crd({ group: 'argoproj.io', kind: 'ClusterAnalysisTemplate', plural: 'clusteranalysistemplates', singular: 'clusteranalysistemplate', shortNames: ['cat'], scope: 'Cluster', schema: analysisTemplateSpec }),
  'argoproj.io_analysisruns.yaml': crd({ group: 'argoproj.io', kind: 'AnalysisRun', plural: 'analysisruns', singular: 'analysisrun', shortNames: ['ar'],
    schema: obj({ ...analysisTemplateSpec.properties, terminate: bool }, ['metrics']),
    columns: [{ name: 'Status', type: 'string', jsonPath: '.status.phase' }] }),
  // Argo Workflows and Argo Events keep their schemas open (their "minimal"
  // CRDs): the controllers validate the spec themselves.
  'argoproj.io_workflows.yaml': crd({ group: 'argoproj.io', kind: 'Workflow', plural: 'workflows', singular: 'workflow', shortNames: ['wf'], schema: preserve,
    columns: [{ name: 'Status', type: 'string', jsonPath: '.status.phase' }] }),
  'argoproj.io_workflowtemplates.yaml': crd({ group: 'argoproj.io', kind: 'WorkflowTemplate', plural: 'workflowtemplates', singular: 'workflowtemplate', shortNames: ['wftmpl'], schema: preserve }),
  'argoproj.io_clusterworkflowtemplates.yaml': crd({ group: 'argoproj.io', kind: 'ClusterWorkflowTemplate', plural: 'clusterworkflowtemplates', singular: 'clusterworkflowtemplate', shortNames: ['clusterwftmpl', 'cwft'], scope: 'Cluster', schema: preserve }),
  'argoproj.io_cronworkflows.yaml': crd({ group: 'argoproj.io', kind: 'CronWorkflow', plural: 'cronworkflows', singular: 'cronworkflow', shortNames: ['cwf', 'cronwf'], schema: preserve }),
  'argoproj.io_eventsources.yaml': crd({ group: 'argoproj.io', kind: 'EventSource', plural: 'eventsources', singular: 'eventsource', shortNames: ['es'], schema: preserve }),
  'argoproj.io_sensors.yaml': crd({ group: 'argoproj.io', kind: 'Sensor', plural: 'sensors', singular: 'sensor', shortNames: ['sn'], schema: preserve }),
};
for (const [name, doc] of Object.entries(files)) {
  fs.writeFileSync(require('path').join(__dirname, '..', 'deploy', 'crds', name), `# Generated for Quarterdeck: compatible with Argo's CRD of the same name.\n${stringify(doc, { lineWidth: 0 })}`);
}

// The Gateway API's HTTPRoute, for the local driver and the test cluster: the
// fields a routed canary reads and writes (rules[].backendRefs[].weight), the
// rest kept open. On a real cluster install the Gateway API's own CRDs.
const backendRef = obj({ group: str, kind: str, name: str, namespace: str, port: int, weight: int, filters: arr(preserve) }, ['name']);
const httpRoute = crd({ group: 'gateway.networking.k8s.io', version: 'v1', kind: 'HTTPRoute', plural: 'httproutes', singular: 'httproute', categories: ['gateway-api'],
  schema: obj({
    parentRefs: arr(preserve),
    hostnames: arr(str),
    rules: arr(obj({ name: str, matches: arr(preserve), filters: arr(preserve), backendRefs: arr(backendRef), timeouts: preserve, retry: preserve, sessionPersistence: preserve })),
  }),
  columns: [{ name: 'Hostnames', type: 'string', jsonPath: '.spec.hostnames' }] });
httpRoute.metadata.annotations = {
  // A *.k8s.io group needs this on a real API server; the Gateway API's own CRDs carry the same.
  'api-approved.kubernetes.io': 'https://github.com/kubernetes-sigs/gateway-api/pull/2466',
  'gateway.networking.k8s.io/bundle-version': 'v1.2.0 (subset for Quarterdeck\'s local driver)',
};
fs.mkdirSync(require('path').join(__dirname, '..', 'deploy', 'gateway-api'), { recursive: true });
fs.writeFileSync(require('path').join(__dirname, '..', 'deploy', 'gateway-api', 'gateway.networking.k8s.io_httproutes.yaml'),
  `# Generated for Quarterdeck: a subset of the Gateway API's HTTPRoute CRD (same group, version and kind).\n${stringify(httpRoute, { lineWidth: 0 })}`);
