import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { rolloutSpecProblem } from './validation';

const base = (): Rollout => ({
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'r' },
  spec: {
    selector: { matchLabels: { app: 'x' } },
    template: { metadata: { labels: { app: 'x' } } },
    strategy: { canary: { steps: [{ setWeight: 20 }, { pause: { duration: '1m' } }] } },
  },
});

describe('rolloutSpecProblem: Argo InvalidSpec messages', () => {
  it.each<[string, (r: Rollout) => void, string | undefined]>([
    ['a valid rollout', () => {}, undefined],
    ['no selector', r => delete r.spec.selector, "spec.selector: Required value: Rollout has missing field '.spec.selector'"],
    ['an empty selector', r => { r.spec.selector = {}; }, 'spec.selector: Invalid value: {}: empty selector is invalid for deployment'],
    ['a selector that does not match', r => { r.spec.template!.metadata!.labels = { app: 'y' }; },
      'spec.template.metadata.labels: Invalid value: {"app":"y"}: `selector` does not match template `labels`'],
    ['both strategies', r => { r.spec.strategy!.blueGreen = { activeService: 'a' }; },
      'spec.strategy.strategy: Invalid value: "blueGreen: true canary: true": Multiple Strategies can not be listed'],
    ['no strategy', r => { r.spec.strategy = {}; },
      "spec.strategy.strategy: Required value: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'"],
    ['a weight over 100', r => { r.spec.strategy!.canary!.steps![0].setWeight = 150; },
      'spec.strategy.canary.steps[0].setWeight: Invalid value: 150: SetWeight needs to be between 0 and 100'],
    ['an empty step', r => { r.spec.strategy!.canary!.steps!.push({}); },
      'spec.strategy.canary.steps[2]: Invalid value: "": Step must have one of the following set: experiment, setWeight, setCanaryScale, plugin or pause'],
    ['an experiment step', r => { r.spec.strategy!.canary!.steps!.push({ experiment: { templates: [] } }); },
      "spec.strategy.canary.steps[2].experiment: not supported by Quarterdeck's controller"],
    ['a header route step', r => { r.spec.strategy!.canary!.steps!.splice(1, 0, { setHeaderRoute: { name: 'beta' } }); },
      "spec.strategy.canary.steps[1].setHeaderRoute: not supported by Quarterdeck's controller"],
    ['a mirror route step', r => { r.spec.strategy!.canary!.steps!.push({ setMirrorRoute: { name: 'shadow' } }); },
      "spec.strategy.canary.steps[2].setMirrorRoute: not supported by Quarterdeck's controller"],
    ['a step plugin', r => { r.spec.strategy!.canary!.steps!.push({ plugin: { name: 'argoproj-labs/sample' } }); },
      "spec.strategy.canary.steps[2].plugin: not supported by Quarterdeck's controller"],
    ['an unreadable pause', r => { r.spec.strategy!.canary!.steps![1].pause = { duration: 'soon' }; },
      'spec.strategy.canary.steps[1].pause.duration: Invalid value: -1: Duration needs to be greater than 0'],
  ])('%s', (_name, change, problem) => {
    const r = base();
    change(r);
    expect(rolloutSpecProblem(r)).toBe(problem === undefined ? undefined : `The Rollout "r" is invalid: ${problem}`);
  });
});
