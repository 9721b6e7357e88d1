import type { GatewayProduct } from '@quarterdeck/plugin-gateway-common';
import { resolveModel } from './routing';

const model = (name: string) => ({ name, upstream: 'up', contextWindow: 8192, inputPricePerMillion: 1, outputPricePerMillion: 2 });
const product = (fallbacks: string[]) => ({
  id: 'llm', entityRef: 'api:default/llm', kind: 'openai', updatedAt: '', updatedBy: '',
  upstreams: [{ name: 'up', url: 'http://127.0.0.1:1/v1' }],
  models: [model('a'), model('b'), model('c')],
  routes: [{ name: 'chat', targets: [{ model: 'a', weight: 70 }, { model: 'b', weight: 30 }], fallbacks }],
  plans: [{ name: 'p' }],
}) as unknown as GatewayProduct;

const attempts = (fallbacks: string[], random: number) => {
  const resolved = resolveModel(product(fallbacks), { name: 'p' }, 'chat', random);
  return resolved.ok ? resolved.attempts.map(t => t.model.name) : resolved.message;
};

describe('resolveModel', () => {
  it.each([
    ['the weighted pick, then the fallbacks in order', ['b', 'c'], 0.1, ['a', 'b', 'c']],
    ['the other side of the split', ['b', 'c'], 0.9, ['b', 'c']],
    ['each model once, however often it is listed (a product stored before the schema refused that)', ['c', 'c', 'b'], 0.1, ['a', 'c', 'b']],
  ])('tries %s', (_what, fallbacks, random, expected) => {
    expect(attempts(fallbacks, random)).toEqual(expected);
  });
});
