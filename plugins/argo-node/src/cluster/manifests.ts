import { resolvePackagePath } from '@backstage/backend-plugin-api';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './types';

/** The repo's `deploy/` directory (CRDs and RBAC), next to the plugins. */
export function deployDirectory(): string {
  return path.resolve(resolvePackagePath('@quarterdeck/plugin-argo-node'), '../../deploy');
}

/** Every object in the YAML files of a directory, in file order. */
export function readManifests(dir: string): KubeObject[] {
  return fs
    .readdirSync(dir)
    .filter(f => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .flatMap(f => parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8')).map(d => d.toJS()))
    .filter((o): o is KubeObject => Boolean(o && o.kind));
}

/** The CRDs of the Argo kinds Quarterdeck reconciles, from `deploy/crds`. */
export function argoCrds(): KubeObject[] {
  return readManifests(path.join(deployDirectory(), 'crds'));
}

/**
 * The Gateway API kinds a routed canary drives, from `deploy/gateway-api`:
 * installed in the local driver (and the test cluster); a real cluster uses
 * the Gateway API's own release instead.
 */
export function gatewayApiCrds(): KubeObject[] {
  return readManifests(path.join(deployDirectory(), 'gateway-api'));
}
