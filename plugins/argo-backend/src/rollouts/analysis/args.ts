import type { AnalysisArg, Rollout } from '@quarterdeck/plugin-argo-common';

/*
 * Analysis arguments as Argo Rollouts builds them (utils/analysis/factory.go
 * and helpers.go): a Rollout's analysis gives values over its templates'
 * (MergeArgs), a `valueFrom` of the Rollout's own — its pod template hashes
 * (podTemplateHashValue) and its fields (fieldRef) — is resolved as the
 * AnalysisRun is made (BuildArgumentsForRolloutAnalysisRun), and a template's
 * `valueFrom.secretKeyRef` stays in the run, read when a metric is measured.
 */

/** The templates' arguments (the first template to declare a name wins) with the Rollout's over them, a value or a valueFrom. */
export function mergeArgs(templateArgs: AnalysisArg[], incoming: AnalysisArg[]): AnalysisArg[] {
  const merged = new Map<string, AnalysisArg>();
  for (const arg of templateArgs) if (!merged.has(arg.name)) merged.set(arg.name, { ...arg });
  for (const arg of incoming) {
    if (arg.value !== undefined) merged.set(arg.name, { name: arg.name, value: arg.value });
    else if (arg.valueFrom) merged.set(arg.name, { name: arg.name, valueFrom: arg.valueFrom });
    else if (!merged.has(arg.name)) merged.set(arg.name, { name: arg.name });
  }
  return [...merged.values()];
}

/** The first argument with neither a value nor a valueFrom (ResolveArgs' "args.%s was not resolved"). */
export const unresolvedArg = (args: AnalysisArg[]) => args.find(a => a.value === undefined && !a.valueFrom);

/** A number as Go's `%v` prints a float64 (what Argo's fieldRef gives for a number): 10, 0.5, 1e+06, 1.23456789e+08. */
export function goFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  // The shortest digits that read back as n, and where the point goes.
  const [mantissa, exponent] = n.toExponential().split('e');
  const exp = Number(exponent);
  // strconv's %g with the shortest digits decides on precision 6: an exponent below -4 or of 6 and more is written as one.
  if (exp < -4 || exp >= 6) {
    const e = `${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
    return `${mantissa}e${e}`;
  }
  return String(n);
}

/**
 * A field of the Rollout, as Argo's fieldRef reads it: `metadata.*` as the
 * downward API does (name, namespace, uid, `labels['k']`, `annotations['k']`
 * — a missing key is empty), any other path through the Rollout's JSON to a
 * string, number or boolean. Throws Argo's message for a path it cannot read.
 */
export function fieldOfRollout(rollout: Rollout, fieldPath: string): string {
  if (fieldPath.startsWith('metadata')) {
    const subscript = /^metadata\.(labels|annotations)\['([^']*)'\]$/.exec(fieldPath);
    if (subscript) return (rollout.metadata[subscript[1] as 'labels' | 'annotations'] as Record<string, string> | undefined)?.[subscript[2]] ?? '';
    if (fieldPath === 'metadata.labels' || fieldPath === 'metadata.annotations') {
      const map = (rollout.metadata[fieldPath.slice(9) as 'labels' | 'annotations'] as Record<string, string> | undefined) ?? {};
      return Object.keys(map).sort().map(k => `${k}=${JSON.stringify(map[k])}`).join('\n');
    }
    const scalar = { 'metadata.name': rollout.metadata.name, 'metadata.namespace': rollout.metadata.namespace, 'metadata.uid': rollout.metadata.uid }[fieldPath];
    if (fieldPath in { 'metadata.name': 1, 'metadata.namespace': 1, 'metadata.uid': 1 }) return scalar ?? '';
    throw new Error(`unsupported fieldPath: ${fieldPath}`);
  }
  let current: unknown = JSON.parse(JSON.stringify(rollout));
  for (const section of fieldPath.split(/[.[\]]+/)) {
    if (section === '') continue;
    if (Array.isArray(current)) {
      if (!/^-?\d+$/.test(section)) throw new Error(`invalid index '${section}'`);
      const i = Number(section);
      if (i >= current.length) throw new Error(`index ${i} out of range`);
      current = current[i];
    } else if (current !== null && typeof current === 'object') {
      current = (current as Record<string, unknown>)[section];
    } else {
      throw new Error(`invalid path ${fieldPath} in rollout`);
    }
  }
  if (current === null || current === undefined) throw new Error(`invalid path ${fieldPath} in rollout`);
  if (typeof current === 'object') throw new Error(`path ${fieldPath} in rollout must terminate in a primitive value`);
  return typeof current === 'number' ? goFloat(current) : String(current);
}

/**
 * Checks the Rollout's `metadata.*` fieldRefs as the spec is checked (a path
 * the downward API does not have is refused at once). Other paths — often
 * the status, empty until the first pass has written it — are read only when
 * a run is made (withRolloutValues), as Argo's validation reads them with
 * their errors dropped.
 */
export function checkRolloutFields(args: AnalysisArg[], rollout: Rollout): void {
  for (const arg of args) {
    const fieldPath = arg.valueFrom?.fieldRef?.fieldPath;
    if (fieldPath?.startsWith('metadata')) fieldOfRollout(rollout, fieldPath);
  }
}

/**
 * What the Rollout gives its run's arguments, as the run is made
 * (BuildArgumentsForRolloutAnalysisRun): the pod template hashes — Latest the
 * new ReplicaSet's, Stable the stable one's — and its fields. A template's
 * secretKeyRef stays. Throws for a field it cannot read; the pass is retried.
 */
export function withRolloutValues(args: AnalysisArg[] | undefined, rollout: Rollout, hashes: { latest: string; stable: string }): AnalysisArg[] | undefined {
  return args?.map(arg => {
    const { podTemplateHashValue, fieldRef } = arg.valueFrom ?? {};
    if (podTemplateHashValue === 'Latest') return { name: arg.name, value: hashes.latest };
    if (podTemplateHashValue === 'Stable') return { name: arg.name, value: hashes.stable };
    if (fieldRef) return { name: arg.name, value: fieldOfRollout(rollout, fieldRef.fieldPath) };
    return arg;
  });
}
