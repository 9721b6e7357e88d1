import type { LoggerService } from '@backstage/backend-plugin-api';
import { readManifests, type ClusterClient, type KubeObject } from '@quarterdeck/plugin-argo-node';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

const RECORD = { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'kube-system', name: 'quarterdeck-seeded-manifests' };
const FIELD_MANAGER = 'quarterdeck-seed';

function objectsOf(file: string, baseUrl: string): KubeObject[] {
  if (fs.statSync(file).isDirectory()) return readManifests(file);
  // $(QUARTERDECK_BASE_URL) lets an example call the portal it runs in.
  const text = fs.readFileSync(file, 'utf8').replace(/\$\(QUARTERDECK_BASE_URL\)/g, baseUrl);
  return parseAllDocuments(text).map(d => d.toJS()).filter((o): o is KubeObject => Boolean(o && o.kind));
}

/** Whether every Rollout of `objects` that already exists is Healthy (the deploys a file updates). */
async function updatedRolloutsHealthy(client: ClusterClient, objects: KubeObject[]): Promise<boolean> {
  for (const o of objects.filter(x => x.kind === 'Rollout')) {
    const live = await client.get({ apiVersion: o.apiVersion, kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name! });
    if (live && (live.status as { phase?: string } | undefined)?.phase !== 'Healthy') return false;
  }
  return true;
}

/**
 * Applies example manifests to a local cluster, each file once (recorded by
 * content hash in a ConfigMap, so a restart keeps what users changed since).
 * Files go in order; a file that updates a Rollout waits until that Rollout
 * is Healthy, so a first file can deploy a version and a later one update
 * it, leaving a canary or a blue-green update under way for a newcomer to
 * click through.
 */
export async function seedManifests(options: {
  client: ClusterClient;
  files: string[];
  baseUrl: string;
  logger: LoggerService;
  waitMs?: number;
}): Promise<void> {
  const { client, files, baseUrl, logger } = options;
  const record = await client.get(RECORD);
  const done = new Set(Object.keys((record?.data as Record<string, string> | undefined) ?? {}));
  for (const file of files) {
    const absolute = path.resolve(file);
    if (!fs.existsSync(absolute)) {
      logger.warn(`Seed manifests ${file} do not exist; skipped`);
      continue;
    }
    const objects = objectsOf(absolute, baseUrl);
    const key = `${path.basename(file).replace(/[^-._a-zA-Z0-9]/g, '_')}.${crypto.createHash('sha256').update(JSON.stringify(objects)).digest('hex').slice(0, 12)}`;
    if (done.has(key)) continue;
    const deadline = Date.now() + (options.waitMs ?? 120_000);
    while (!(await updatedRolloutsHealthy(client, objects)) && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 250));
    }
    // Namespaces and CRD-defined templates first, Rollouts last.
    const rank: Record<string, number> = { Namespace: 0, Rollout: 2 };
    const order = (o: KubeObject) => rank[o.kind] ?? 1;
    for (const object of [...objects].sort((a, b) => order(a) - order(b))) {
      await client.apply(object, { fieldManager: FIELD_MANAGER, force: true });
    }
    await client.apply(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: RECORD.name, namespace: RECORD.namespace }, data: { [key]: new Date().toISOString() } },
      { fieldManager: `${FIELD_MANAGER}-${key}` },
    );
    logger.info(`Seeded ${objects.length} objects from ${file}`);
  }
}
