import { resolveSafeChildPath } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import { KUBERNETES_ID_LABEL } from '@quarterdeck/plugin-argo-common';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { z as zod } from 'zod/v3';

/** A namespace: an RFC 1123 label. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A Service's name must be an RFC 1035 label: it starts with a letter. */
const SERVICE_NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** 63 less the longest suffix of a Service written beside the Rollout (`-preview`). */
const MAX_NAME = 63 - '-preview'.length;

/**
 * The input's fields, once: the scaffolder turns them into the JSON Schema it
 * validates a step's input with before the handler runs, and the handler parses
 * the input with them again, because the scaffolder validates without filling in
 * defaults (a step that leaves `strategy` out must still get a canary, not a
 * blue-green Rollout). A pattern is checked in `refine`, which the JSON Schema
 * leaves out, so that the template's author reads the rule in words rather than
 * the runner's "does not match pattern" and a regular expression; lengths, ranges
 * and choices stay in the schema, where the runner's message names field and bound.
 */
const matches = (pattern: RegExp) => (value: string) => pattern.test(value);
const INPUT = {
  name: (z: typeof zod) =>
    z.string().max(MAX_NAME).refine(matches(SERVICE_NAME), 'must be a DNS label that starts with a letter (lowercase letters, digits and -)')
      .describe(`The Rollout and its Service name: a DNS label that starts with a letter, at most ${MAX_NAME} characters (a blue-green's preview Service adds -preview)`),
  namespace: (z: typeof zod) =>
    z.string().max(63).refine(matches(DNS_LABEL), 'must be a DNS label (lowercase letters, digits and -)').default('default')
      .describe('Kubernetes namespace'),
  // Refused rather than trimmed: an image reference never holds whitespace, so a stray space is a
  // typo (or a pasted line) the author should see, not something to guess at; the API server would
  // refuse the Pod later, far from the template.
  image: (z: typeof zod) => z.string().min(1).refine(matches(/^\S+$/), 'must not contain spaces or other whitespace (an image reference has none)')
    .describe('Container image'),
  port: (z: typeof zod) => z.number().int().min(1).max(65535).default(8080)
    .describe('The container port; the Services listen on port 80 and forward to it'),
  replicas: (z: typeof zod) => z.number().int().min(1).max(100).default(3)
    .describe('Desired pods'),
  strategy: (z: typeof zod) => z.enum(['canary', 'blueGreen']).default('canary')
    .describe('canary (new pods in steps of 20 % and 50 % of the replicas, with pauses, behind one Service) or blueGreen (preview, then promote)'),
  targetPath: (z: typeof zod) => z.string().min(1).refine(matches(/[^/]$/), 'must name a file, not a directory (it ends in /)')
    .default('manifests/rollout.yaml')
    .describe('Where to write the manifests: a file, relative to the workspace'),
  overwrite: (z: typeof zod) => z.boolean().default(false)
    .describe('Replace a different file already at targetPath (an earlier step\'s, or the skeleton\'s); without it the step fails and names the file'),
};

const inputSchema = zod.object({
  name: INPUT.name(zod), namespace: INPUT.namespace(zod), image: INPUT.image(zod), port: INPUT.port(zod),
  replicas: INPUT.replicas(zod), strategy: INPUT.strategy(zod), targetPath: INPUT.targetPath(zod), overwrite: INPUT.overwrite(zod),
});

/** The input with its defaults, or an InputError naming the first field that is wrong. */
export function parseRolloutManifestInput(input: unknown): RolloutManifestInput {
  const parsed = inputSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new InputError(`${issue.path.join('.') || 'input'}: ${issue.message}`);
}

export interface RolloutManifestInput {
  name: string;
  namespace: string;
  image: string;
  port: number;
  replicas: number;
  strategy: 'canary' | 'blueGreen';
  targetPath: string;
  overwrite: boolean;
}

/** The port every Service the action writes listens on. */
export const SERVICE_PORT = 80;

/**
 * An `argoproj.io/v1alpha1` Rollout and its Service(s) as Argo Rollouts
 * expects them: a canary without a traffic router — weights 20 → 50 → 100 as
 * shares of the replicas, a pause after each of the first two steps, and one
 * Service selecting the pods of both versions, so its traffic follows the
 * replicas (Argo's basic canary; `stableService`/`canaryService` would pin
 * that Service to the stable pods, and with no router no client would reach
 * the canary but through the canary Service) — or blue-green with an active
 * and a preview Service and manual promotion. Pods carry
 * `backstage.io/kubernetes-id`, so the entity page finds them.
 */
export function rolloutManifests(input: RolloutManifestInput): object[] {
  const { name, namespace, image, port, replicas, strategy } = input;
  const labels = { app: name, [KUBERNETES_ID_LABEL]: name };
  const service = (serviceName: string) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: serviceName, namespace, labels },
    spec: {
      selector: { app: name },
      ports: [{ name: 'http', port: SERVICE_PORT, targetPort: port }],
    },
  });
  const rolloutStrategy =
    strategy === 'canary'
      ? {
          canary: {
            steps: [
              { setWeight: 20 },
              { pause: {} },
              { setWeight: 50 },
              { pause: { duration: '1m' } },
              { setWeight: 100 },
            ],
          },
        }
      : {
          blueGreen: {
            activeService: name,
            previewService: `${name}-preview`,
            autoPromotionEnabled: false,
          },
        };
  const rollout = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name, namespace, labels },
    spec: {
      replicas,
      revisionHistoryLimit: 3,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name,
              image,
              ports: [{ name: 'http', containerPort: port }],
            },
          ],
        },
      },
      strategy: rolloutStrategy,
    },
  };
  const services = strategy === 'canary' ? [service(name)] : [service(name), service(`${name}-preview`)];
  return [rollout, ...services];
}

/** The file to write, inside the workspace; an InputError naming `targetPath` when it leads out of it or through a file. */
function targetIn(workspacePath: string, targetPath: string): string {
  try {
    return resolveSafeChildPath(workspacePath, targetPath);
  } catch (error) {
    throw inputErrorOf(error, workspacePath, targetPath);
  }
}

/**
 * A path the action cannot write to, said in the input's terms rather than with the server's paths;
 * other errors as they are.
 */
function inputErrorOf(error: unknown, workspacePath: string, targetPath: string): unknown {
  if ((error as Error).name === 'NotAllowedError') {
    return new InputError(`targetPath: ${targetPath} is outside the workspace; give a path relative to it, such as manifests/rollout.yaml`);
  }
  // A file (an earlier step's) where the path needs a directory.
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    return new InputError(`targetPath: ${targetPath} goes through a file where it needs a directory (${fileOnTheWay(workspacePath, targetPath)})`);
  }
  return error;
}

/** The first part of `targetPath` that is a file and not a directory, relative to the workspace. */
function fileOnTheWay(workspacePath: string, targetPath: string): string {
  const parts = path.posix.normalize(targetPath).split('/').slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    const partial = parts.slice(0, i).join('/');
    if (fsSync.statSync(path.join(workspacePath, partial), { throwIfNoEntry: false })?.isFile()) return `${partial} is a file`;
  }
  return 'a parent is not a directory';
}

export function createRolloutManifestAction() {
  return createTemplateAction({
    id: 'quarterdeck:rollout:manifest',
    description:
      'Writes an Argo Rollout (canary or blue-green) and its Services into the workspace.',
    examples: [
      {
        description: 'A canary Rollout for a new service',
        example: stringify({
          steps: [
            {
              action: 'quarterdeck:rollout:manifest',
              id: 'rollout',
              name: 'Write the Rollout',
              input: {
                name: 'payments-api',
                namespace: 'payments',
                image: 'ghcr.io/example/payments-api:1.0.0',
                strategy: 'canary',
              },
            },
          ],
        }),
      },
    ],
    // It writes only into the workspace, so a dry run (the template editor's) runs it and shows the file.
    supportsDryRun: true,
    schema: {
      input: INPUT,
      output: {
        path: z => z.string().describe('The file written, relative to the workspace'),
        namespace: z => z.string().describe('The namespace the manifests are for (the input, or default)'),
        serviceName: z => z.string().describe('The Service clients call (the name); a blue-green\'s preview Service is <name>-preview'),
        serviceUrl: z => z.string().describe(`The Service's address inside the cluster, http://<name>.<namespace>.svc:${SERVICE_PORT}`),
      },
    },
    async handler(ctx) {
      const input = parseRolloutManifestInput(ctx.input);
      const target = targetIn(ctx.workspacePath, input.targetPath);
      const existing = await fs.lstat(target).catch(() => undefined);
      if (existing?.isDirectory()) {
        throw new InputError(`targetPath: ${input.targetPath} is a directory; name the file to write, such as ${path.posix.join(input.targetPath, 'rollout.yaml')}`);
      }
      await fs.mkdir(path.dirname(target), { recursive: true }).catch(error => {
        throw inputErrorOf(error, ctx.workspacePath, input.targetPath);
      });
      // YAML 1.1, as kubectl and Argo CD read it (sigs.k8s.io/yaml): a name like `on` or `no` is
      // quoted rather than read back as a boolean; and no anchors, which GitOps reviewers would not expect.
      const yaml = rolloutManifests(input)
        .map(doc => stringify(doc, { version: '1.1', aliasDuplicateObjects: false }))
        .join('---\n');
      if (existing) {
        // The same file (a retried step) is written again; another is replaced only when asked, and never through a link.
        const same = existing.isFile() && (await fs.readFile(target, 'utf8')) === yaml;
        if (!same && (existing.isSymbolicLink() || !input.overwrite)) {
          throw new InputError(existing.isSymbolicLink()
            ? `targetPath: ${input.targetPath} is a link, which the action does not write through; choose another path`
            : `targetPath: ${input.targetPath} already exists; set overwrite: true to replace it, or choose another path`);
        }
      }
      await fs.writeFile(target, yaml, 'utf8');
      ctx.logger.info(`Wrote ${input.strategy} Rollout ${input.name} to ${input.targetPath}`);
      ctx.output('path', input.targetPath);
      ctx.output('namespace', input.namespace);
      ctx.output('serviceName', input.name);
      ctx.output('serviceUrl', `http://${input.name}.${input.namespace}.svc:${SERVICE_PORT}`);
    },
  });
}
