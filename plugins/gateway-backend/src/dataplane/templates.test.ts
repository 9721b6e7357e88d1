import type { GatewayPromptTemplate } from '@quarterdeck/plugin-gateway-common';
import { placeholders, renderTemplate } from './templates';

const summarize: GatewayPromptTemplate = {
  name: 'summarize',
  model: 'chat-small',
  messages: [
    { role: 'system', content: 'Summarize in {{words}} words, tone {{ tone }}. Formal: {{formal}}.' },
    { role: 'user', content: '{{text}}' },
  ],
  variables: [
    { name: 'text', type: 'string', maxLength: 20 },
    { name: 'words', type: 'number', default: 20 },
    { name: 'tone', type: 'enum', values: ['plain', 'friendly'] },
    { name: 'formal', type: 'boolean', required: false },
  ],
};

describe('prompt templates', () => {
  it('lists the variables the messages use', () => {
    expect(placeholders(summarize).sort()).toEqual(['formal', 'text', 'tone', 'words']);
  });

  it('fills typed variables in, with defaults, by plain substitution', () => {
    expect(renderTemplate(summarize, { text: '{{tone}} is literal', tone: 'plain', formal: true })).toEqual({
      ok: true,
      messages: [
        { role: 'system', content: 'Summarize in 20 words, tone plain. Formal: true.' },
        { role: 'user', content: '{{tone}} is literal' },
      ],
    });
  });

  it('names the variable that is wrong', () => {
    expect(renderTemplate(summarize, { tone: 'plain' })).toEqual({ ok: false, field: 'variables.text', message: 'variables.text: required' });
    expect(renderTemplate(summarize, { text: 'x', tone: 'loud' })).toMatchObject({ field: 'variables.tone', message: 'variables.tone: must be one of plain, friendly' });
    expect(renderTemplate(summarize, { text: 'x', tone: 'plain', words: '20' })).toMatchObject({ message: 'variables.words: must be a number' });
    expect(renderTemplate(summarize, { text: 'x'.repeat(21), tone: 'plain' })).toMatchObject({ message: 'variables.text: at most 20 characters' });
    expect(renderTemplate(summarize, { text: 'x', tone: 'plain', extra: 1 })).toMatchObject({ message: 'variables.extra: template summarize has no such variable' });
    expect(renderTemplate(summarize, 'text')).toMatchObject({ message: 'variables: must be an object' });
  });

  it('renders an optional variable left out as empty, whatever its type, and reads only what the call gave', () => {
    expect(renderTemplate(summarize, { text: 'x', tone: 'plain' })).toMatchObject({ ok: true, messages: [{ content: 'Summarize in 20 words, tone plain. Formal: .' }, { content: 'x' }] });
    // `constructor` is on every object's prototype: left out, it is still left out.
    const named = { ...summarize, messages: [{ role: 'user' as const, content: '{{constructor}}' }], variables: [{ name: 'constructor', type: 'string' as const, required: false }] };
    expect(renderTemplate(named, {})).toEqual({ ok: true, messages: [{ role: 'user', content: '' }] });
  });
});
