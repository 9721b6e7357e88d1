import { product } from '../__testUtils__/gateway';
import { validateProductSpec } from './productSchema';

const allowed = ['127.0.0.1'];
const valid = () => product('http://127.0.0.1:7101/v1', 'http://127.0.0.1:7102/v1').spec;

describe('validateProductSpec', () => {
  it('takes the example product as it is', () => {
    expect(validateProductSpec(valid(), allowed)).toMatchObject({ ok: true });
  });

  it.each([
    ['an upstream URL with a user and password, which every reader would see', (spec: any) => { spec.upstreams[0].url = 'http://user:secret@127.0.0.1:7101/v1'; },
      'spec.upstreams[0].url: must not carry a user or password'],
    ['a model twice in one route, whose weight could then never be set', (spec: any) => { spec.routes[0].targets[1].model = spec.routes[0].targets[0].model; },
      'spec.routes[0].targets[1].model: "chat-small-v1" is a target of this route already'],
    ['a default of the wrong type, which would fail every call that leaves the variable out', (spec: any) => {
      spec.templates = [{ name: 't', model: 'chat-small-v1', messages: [{ role: 'user', content: '{{words}}' }], variables: [{ name: 'words', type: 'number', default: 'forty' }] }];
    }, 'spec.templates[0].variables[0].default: must be a number'],
    ['an enum default outside its values', (spec: any) => {
      spec.templates = [{ name: 't', model: 'chat-small-v1', messages: [{ role: 'user', content: '{{tone}}' }], variables: [{ name: 'tone', type: 'enum', values: ['plain'], default: 'loud' }] }];
    }, 'spec.templates[0].variables[0].default: must be one of plain'],
    ['a variable declared twice', (spec: any) => {
      spec.templates = [{ name: 't', model: 'chat-small-v1', messages: [{ role: 'user', content: '{{a}}' }], variables: [{ name: 'a', type: 'string' }, { name: 'a', type: 'number' }] }];
    }, 'spec.templates[0].variables[1].name: "a" is used twice'],
    ['a model name that cannot go in the response headers every call is answered with', (spec: any) => { spec.models[0].name = '通义-qwen'; },
      'spec.models[0].name: must be printable ASCII without spaces (it is sent in response headers)'],
    ['a fallback listed twice, which would be called twice', (spec: any) => { spec.routes[0].fallbacks = ['chat-small-v2', 'chat-small-v2']; },
      'spec.routes[0].fallbacks[1]: "chat-small-v2" is a fallback of this route already'],
    ['an upstream version with a space, for the same reason', (spec: any) => { spec.upstreams[1].version = 'v 2'; },
      'spec.upstreams[1].version: must be printable ASCII without spaces (it is sent in response headers)'],
    // Stored as JSON, Infinity becomes null: a price that bills nothing, a budget every call is refused by.
    ['a price of YAML\'s .inf, which would be stored as null', (spec: any) => { spec.models[1].outputPricePerMillion = Infinity; },
      'spec.models[1].outputPricePerMillion: must be a finite number'],
    ['a budget of 1e400 in a JSON body, which reads as Infinity', (spec: any) => { spec.plans[0].monthlyCost = JSON.parse('1e400'); },
      'spec.plans[0].monthlyCost: must be a finite number'],
    ['a negative infinite budget', (spec: any) => { spec.plans[1].dailyCost = -Infinity; },
      'spec.plans[1].dailyCost: must be a finite number'],
    ['a variable\'s default of Infinity, for the same reason', (spec: any) => {
      spec.templates[0].variables[1].default = Infinity;
    }, 'spec.templates[0].variables[1].default: must be a finite number'],
  ])('refuses %s', (_what, change, message) => {
    const spec = valid();
    change(spec);
    expect(validateProductSpec(spec, allowed)).toEqual({ ok: false, message });
  });
});
