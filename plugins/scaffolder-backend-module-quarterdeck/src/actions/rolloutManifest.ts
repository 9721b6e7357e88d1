import { resolveSafeChildPath } from '@backstage/backend-plugin-api';
import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import { KUBERNETES_ID_LABEL } from '@quarterdeck/plugin-argo-common';
import fs from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export interface RolloutManifestInput {
  name: string;
  namespace: string;
  image: string;
  port: number;
  replicas: number;
  strategy: 'canary' | 'blueGreen';
  targetPath: string;
}

/**
 * An `argoproj.io/v1alpha1` Rollout and its Service(s) as Argo Rollouts
 * expects them: canary with weights 20 → 50 → 100 and a pause after each of
 * the first two steps, or blue-green with an active and a preview Service and
 * manual promotion. Pods carry `backstage.io/kubernetes-id`, so the entity page
 * finds them.
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
      ports: [{ name: 'http', port: 80, targetPort: port }],
    },
  });
  const rolloutStrategy =
    strategy === 'canary'
      ? {
          canary: {
            canaryService: `${name}-canary`,
            stableService: name,
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
  const services =
    strategy === 'canary'
      ? [service(name), service(`${name}-canary`)]
      : [service(name), service(`${name}-preview`)];
  return [rollout, ...services];
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
    schema: {
      input: {
        name: z =>
          z.string().regex(DNS_LABEL, 'must be a DNS label (lowercase letters, digits and -)').max(63)
            .describe('The Rollout and its Service name'),
        namespace: z =>
          z.string().regex(DNS_LABEL, 'must be a DNS label').max(63).default('default')
            .describe('Kubernetes namespace'),
        image: z => z.string().min(1).describe('Container image'),
        port: z => z.number().int().min(1).max(65535).default(8080)
          .describe('The container port'),
        replicas: z => z.number().int().min(1).max(100).default(3)
          .describe('Desired pods'),
        strategy: z => z.enum(['canary', 'blueGreen']).default('canary')
          .describe('canary (weighted steps with pauses) or blueGreen (preview, then promote)'),
        targetPath: z => z.string().default('manifests/rollout.yaml')
          .describe('Where to write the manifests, relative to the workspace'),
      },
      output: {
        path: z => z.string().describe('The file written, relative to the workspace'),
      },
    },
    async handler(ctx) {
      const input = ctx.input as RolloutManifestInput;
      const target = resolveSafeChildPath(ctx.workspacePath, input.targetPath);
      await fs.mkdir(path.dirname(target), { recursive: true });
      const yaml = rolloutManifests(input)
        .map(doc => stringify(doc))
        .join('---\n');
      await fs.writeFile(target, yaml, 'utf8');
      ctx.logger.info(`Wrote ${input.strategy} Rollout ${input.name} to ${input.targetPath}`);
      ctx.output('path', input.targetPath);
    },
  });
}
