import { readSpec, specYaml, spotOfField, starterYaml } from './productYaml';
import { product } from './testData';

describe('the product editor text', () => {
  it('opens a product as the YAML of its spec alone, and reads it back the same', () => {
    const text = specYaml(product);
    expect(text).not.toMatch(/^(id|entityRef|updatedAt|updatedBy):/m);
    const { id: _id, entityRef: _ref, updatedAt: _at, updatedBy: _by, ...spec } = product;
    expect(readSpec(text)).toEqual({ ok: true, spec });
  });

  it('says where the YAML is broken, by line, before anything is sent', () => {
    const text = 'kind: rest\nupstreams:\n  - name: a\n    url: [http://x\nplans: []\n';
    expect(readSpec(text)).toMatchObject({ ok: false, message: 'YAML, line 5 (plans: []): Flow sequence in block collection must be sufficiently indented and end with a ]' });
    expect(readSpec('kind: rest\nkind: openai\n')).toMatchObject({ ok: false, message: 'YAML, line 2 (kind: openai): Map keys must be unique' });
    expect(readSpec('- just\n- a list\n')).toEqual({ ok: false, message: 'The product must be a YAML mapping: kind, upstreams, plans and the rest' });
  });

  it("finds the field a backend message names, or its nearest parent the text has", () => {
    const text = specYaml(product);
    const target = spotOfField(text, 'spec.routes[0].targets[1].model: no model named "x"');
    expect(target?.line).toBe(text.split('\n').findIndex(l => l.includes('model: chat-small-v2') && l.includes('- ')) + 1);
    expect(text.slice(target!.start, target!.end)).toBe('chat-small-v2');
    // A field that is not there (a required one left out) is shown through the item that lacks it.
    const parent = spotOfField(text, 'spec.plans[1].tokensPerMinute: Required');
    expect(text.slice(parent!.start, parent!.end)).toMatch(/^name: trial/);
    expect(spotOfField(text, 'spec.plans: the plan "trial" (2 keys) is held by keys that work now')?.line).toBe(text.split('\n').indexOf('plans:') + 2);
    expect(spotOfField(text, 'Gateway product llm-chat was changed by user:default/carol')).toBeUndefined();
  });

  it('starts an API with no product from a spec of the kind chosen', () => {
    const openai = readSpec(starterYaml('openai', 'LLM "chat"'));
    expect(openai).toMatchObject({ ok: true, spec: { kind: 'openai', title: 'LLM "chat"', models: [{ name: 'chat', upstream: 'main' }], plans: [{ name: 'standard' }] } });
    const rest = readSpec(starterYaml('rest', 'Payments'));
    expect(rest).toMatchObject({ ok: true, spec: { kind: 'rest', upstreams: [{ name: 'main' }], plans: [{ name: 'standard', requestsPerMinute: 600 }] } });
    expect((rest as { spec: object }).spec).not.toHaveProperty('models');
  });
});
