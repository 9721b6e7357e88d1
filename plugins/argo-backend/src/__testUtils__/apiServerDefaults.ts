/**
 * Some of what kube-apiserver adds to a ReplicaSet's pod template when it
 * stores it, as a ReplicaSet read back shows it (and so as undo copies it).
 */
export function apiServerPodTemplateDefaults(template: Record<string, any>): Record<string, any> {
  return {
    ...template,
    metadata: { creationTimestamp: null, ...template.metadata },
    spec: {
      ...template.spec,
      dnsPolicy: 'ClusterFirst',
      restartPolicy: 'Always',
      containers: template.spec.containers.map((c: object) => ({ ...c, resources: {}, terminationMessagePath: '/dev/termination-log', imagePullPolicy: 'IfNotPresent' })),
    },
  };
}
