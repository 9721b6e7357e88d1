import type { GatewayProductSpec } from '@quarterdeck/plugin-gateway-common';
import { productChanges } from './productChanges';

const before: GatewayProductSpec = {
  kind: 'openai',
  title: 'LLM chat',
  upstreams: [{ name: 'v1', url: 'http://127.0.0.1:7101' }],
  models: [{ name: 'chat', upstream: 'v1', contextWindow: 8192, inputPricePerMillion: 1, outputPricePerMillion: 2 }],
  plans: [{ name: 'standard', requestsPerMinute: 100 }, { name: 'trial', requestsPerMinute: 10 }],
};

describe('productChanges', () => {
  it('names each part added, removed or changed, for the audit trail', () => {
    const after: GatewayProductSpec = {
      ...before,
      title: 'LLM chat (v2)',
      upstreams: [...before.upstreams, { name: 'v2', url: 'http://127.0.0.1:7102' }],
      plans: [{ name: 'standard', requestsPerMinute: 200 }, { name: 'batch', requestsPerMinute: 30 }],
    };
    expect(productChanges(before, after)).toEqual(['title changed', 'upstream v2 added', 'plan standard changed', 'plan batch added', 'plan trial removed']);
  });

  it('says nothing of a product written as it was, whatever the order of its keys', () => {
    const same = JSON.parse(JSON.stringify({ plans: before.plans, models: before.models, upstreams: before.upstreams, title: before.title, kind: before.kind }));
    expect(productChanges(before, same)).toEqual([]);
  });

  it('lists a dozen changes at most and counts the rest', () => {
    const many = { ...before, plans: Array.from({ length: 20 }, (_, i) => ({ name: `p${i}`, requestsPerMinute: 1 })) };
    const changes = productChanges(before, many);
    expect(changes).toHaveLength(13);
    expect(changes[12]).toBe('10 more');
  });
});
