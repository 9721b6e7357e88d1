import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import { validate, type Schema } from 'jsonschema';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { createRolloutManifestAction } from './rolloutManifest';

describe('quarterdeck:rollout:manifest', () => {
  let workspacePath: string;
  beforeEach(() => {
    workspacePath = fs.mkdtempSync(path.join(os.tmpdir(), 'qd-scaffold-'));
  });
  afterEach(() => fs.rmSync(workspacePath, { recursive: true, force: true }));

  /**
   * As the scaffolder's runner (NunjucksWorkflowRunner) runs a step: the input is first checked against
   * the action's JSON Schema, with the runner's message, and only then given to the handler.
   */
  const run = async (input: Record<string, unknown>) => {
    const action = createRolloutManifestAction();
    const checked = validate(input, action.schema!.input as Schema);
    if (!checked.valid) throw new Error(`Invalid input passed to action ${action.id}, ${checked.errors.join(', ')}`);
    const ctx = createMockActionContext({ input: input as any, workspacePath });
    await action.handler(ctx as any);
    return ctx;
  };
  const read = (file: string) =>
    parseAllDocuments(fs.readFileSync(path.join(workspacePath, file), 'utf8')).map(d => d.toJS());

  it("writes a canary Rollout behind one Service that selects both versions' pods, so its traffic follows the weights", async () => {
    const ctx = await run({
      name: 'payments-api', namespace: 'payments', image: 'example/payments:1.0.0',
      port: 8080, replicas: 4, strategy: 'canary', targetPath: 'manifests/rollout.yaml',
    });
    const docs = read('manifests/rollout.yaml');
    expect(docs).toHaveLength(2);
    const [rollout, service] = docs;
    expect(rollout.apiVersion).toBe('argoproj.io/v1alpha1');
    expect(rollout.kind).toBe('Rollout');
    expect(rollout.spec.replicas).toBe(4);
    // No stableService: with no traffic router, Argo would pin it to the stable pods and no client of it would reach the canary.
    expect(rollout.spec.strategy.canary).toEqual({
      steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: { duration: '1m' } }, { setWeight: 100 }],
    });
    expect(rollout.spec.template.metadata.labels['backstage.io/kubernetes-id']).toBe('payments-api');
    expect(service.metadata.name).toBe('payments-api');
    expect(service.spec.selector).toEqual(rollout.spec.selector.matchLabels);
    expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 8080 }]);
    expect(ctx.output).toHaveBeenCalledWith('path', 'manifests/rollout.yaml');
    expect(ctx.output).toHaveBeenCalledWith('namespace', 'payments');
    expect(ctx.output).toHaveBeenCalledWith('serviceName', 'payments-api');
    expect(ctx.output).toHaveBeenCalledWith('serviceUrl', 'http://payments-api.payments.svc:80');
  });

  it('writes the same file again on a retried step, and replaces a different one only with overwrite, never through a link', async () => {
    const input = { name: 'payments-api', image: 'example/payments:1.0.0', targetPath: 'rollout.yaml' };
    await run(input);
    const first = fs.readFileSync(path.join(workspacePath, 'rollout.yaml'), 'utf8');
    await run(input);
    expect(fs.readFileSync(path.join(workspacePath, 'rollout.yaml'), 'utf8')).toBe(first);
    await expect(run({ ...input, image: 'example/payments:2.0.0' })).rejects.toThrow('targetPath: rollout.yaml already exists; set overwrite: true to replace it, or choose another path');
    expect(fs.readFileSync(path.join(workspacePath, 'rollout.yaml'), 'utf8')).toBe(first);
    await run({ ...input, image: 'example/payments:2.0.0', overwrite: true });
    expect(fs.readFileSync(path.join(workspacePath, 'rollout.yaml'), 'utf8')).toContain('example/payments:2.0.0');
    // A link to another file of the workspace (the catalog-info a skeleton wrote) is not written through.
    fs.writeFileSync(path.join(workspacePath, 'catalog-info.yaml'), 'kind: Component\n');
    fs.symlinkSync('catalog-info.yaml', path.join(workspacePath, 'link.yaml'));
    await expect(run({ ...input, targetPath: 'link.yaml', overwrite: true })).rejects.toThrow('targetPath: link.yaml is a link, which the action does not write through; choose another path');
    expect(fs.readFileSync(path.join(workspacePath, 'catalog-info.yaml'), 'utf8')).toBe('kind: Component\n');
  });

  it('writes a blue-green Rollout with active and preview Services and manual promotion', async () => {
    await run({
      name: 'sentiment-model', namespace: 'ml', image: 'example/sentiment:2', port: 9000,
      replicas: 2, strategy: 'blueGreen', targetPath: 'rollout.yaml',
    });
    const [rollout, active, preview] = read('rollout.yaml');
    expect(rollout.spec.strategy.blueGreen).toEqual({
      activeService: 'sentiment-model',
      previewService: 'sentiment-model-preview',
      autoPromotionEnabled: false,
    });
    expect(active.spec.ports[0].targetPort).toBe(9000);
    expect(preview.metadata.name).toBe('sentiment-model-preview');
  });

  it("fills in what a step leaves out, as the action's own example does: a canary on port 8080 in manifests/rollout.yaml", async () => {
    const ctx = await run({ name: 'payments-api', namespace: 'payments', image: 'example/payments:1.0.0', strategy: 'canary' });
    const [minimal] = read('manifests/rollout.yaml');
    expect(minimal.spec.replicas).toBe(3);
    expect(ctx.output).toHaveBeenCalledWith('path', 'manifests/rollout.yaml');
    fs.rmSync(path.join(workspacePath, 'manifests/rollout.yaml'));
    await run({ name: 'ledger', image: 'example/ledger:1' });
    const [rollout, stable] = read('manifests/rollout.yaml');
    expect(rollout.metadata.namespace).toBe('default');
    expect(Object.keys(rollout.spec.strategy)).toEqual(['canary']);
    expect(rollout.spec.template.spec.containers[0].ports).toEqual([{ name: 'http', containerPort: 8080 }]);
    expect(stable.spec.ports[0].targetPort).toBe(8080);
  });

  it('writes YAML that kubectl reads back as written: a name like "on" stays a string, and no anchors', async () => {
    await run({ name: 'on', image: 'example/on:1' });
    const text = fs.readFileSync(path.join(workspacePath, 'manifests/rollout.yaml'), 'utf8');
    expect(text).not.toMatch(/[&*]a\d/);
    const [rollout] = parseAllDocuments(text, { version: '1.1' }).map(d => d.toJS());
    expect(rollout.metadata.name).toBe('on');
    expect(rollout.spec.template.metadata.labels.app).toBe('on');
  });

  it.each([
    [{ name: '2fa-api', image: 'i' }, /^name: must be a DNS label that starts with a letter/],
    [{ name: 'ok', namespace: 'Payments', image: 'i' }, /^namespace: must be a DNS label/],
    [{ name: 'a'.repeat(56), image: 'i' }, /instance\.name does not meet maximum length of 55/],
    [{ name: 'ok', image: 'i', strategy: 'rolling' }, /instance\.strategy is not one of enum values: canary,blueGreen/],
    [{ name: 'ok' }, /instance requires property "image"/],
    [{ name: 'ok', image: 'example/ok:1 ' }, /^image: must not contain spaces or other whitespace/],
    [{ name: 'ok', image: ' example/ok:1' }, /^image: must not contain spaces or other whitespace/],
    [{ name: 'ok', image: 'example/ok:1\n' }, /^image: must not contain spaces or other whitespace/],
    [{ name: 'ok', image: 'i', targetPath: 'manifests/' }, /^targetPath: must name a file, not a directory \(it ends in \/\)/],
  ])('refuses %p with a message that names the field', async (input, message) => {
    await expect(run(input)).rejects.toThrow(message);
  });

  it('refuses a targetPath naming an existing directory, and writes nothing', async () => {
    fs.mkdirSync(path.join(workspacePath, 'manifests'));
    await expect(run({ name: 'ok', image: 'i', targetPath: 'manifests' })).rejects.toThrow(
      'targetPath: manifests is a directory; name the file to write, such as manifests/rollout.yaml',
    );
    await expect(run({ name: 'ok', image: 'i', targetPath: '.' })).rejects.toThrow(/^targetPath: \. is a directory/);
    expect(fs.readdirSync(path.join(workspacePath, 'manifests'))).toEqual([]);
  });

  it('refuses a targetPath outside the workspace, naming the field', async () => {
    for (const targetPath of ['../escape.yaml', '/etc/rollout.yaml']) {
      await expect(run({ name: 'x', image: 'i', targetPath })).rejects.toThrow(
        `targetPath: ${targetPath} is outside the workspace; give a path relative to it, such as manifests/rollout.yaml`,
      );
    }
    expect(fs.readdirSync(workspacePath)).toEqual([]);
  });

  it("refuses a targetPath through an earlier step's file, naming it and not the server's paths", async () => {
    fs.writeFileSync(path.join(workspacePath, 'manifests'), 'kept');
    const refused = run({ name: 'x', image: 'i' });
    await expect(refused).rejects.toThrow('targetPath: manifests/rollout.yaml goes through a file where it needs a directory (manifests is a file)');
    await expect(refused).rejects.not.toThrow(workspacePath);
    expect(fs.readFileSync(path.join(workspacePath, 'manifests'), 'utf8')).toBe('kept');
  });
});
