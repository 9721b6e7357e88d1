import { SseUsageFilter } from './sse';

const chunk = (o: object) => `data: ${JSON.stringify(o)}\n\n`;
const delta = (content: string) => chunk({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] });
const usage = chunk({ object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } });

describe('SseUsageFilter', () => {
  it('forwards complete events at once and keeps a partial one for the next chunk', () => {
    const f = new SseUsageFilter(true);
    const first = delta('Hel');
    expect(f.push(Buffer.from(`${first}${first.slice(0, 10)}`))).toBe(first);
    expect(f.push(Buffer.from(first.slice(10)))).toBe(first);
  });

  it('removes the usage-only event the client did not ask for, and reads the usage from it', () => {
    const f = new SseUsageFilter(true);
    const out = f.push(Buffer.from(`${delta('Hi')}${usage}data: [DONE]\n\n`));
    expect(out).toBe(`${delta('Hi')}data: [DONE]\n\n`);
    expect(f.usage).toEqual({ prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 });
  });

  it('keeps it when the client asked for include_usage', () => {
    const f = new SseUsageFilter(false);
    expect(f.push(Buffer.from(delta('Hi') + usage))).toBe(delta('Hi') + usage);
    expect(f.usage?.completion_tokens).toBe(3);
  });

  it('handles an event split across many chunks, byte by byte', () => {
    const f = new SseUsageFilter(true);
    const all = `${delta('a')}${usage}data: [DONE]\n\n`;
    let out = '';
    for (const ch of all) out += f.push(Buffer.from(ch));
    out += f.end();
    expect(out).toBe(`${delta('a')}data: [DONE]\n\n`);
    expect(f.usage?.prompt_tokens).toBe(12);
  });

  it('recovers the streamed text for a token estimate when the upstream reports no usage', () => {
    const f = new SseUsageFilter(true);
    f.push(Buffer.from(`${delta('Hel')}${delta('lo "you"')}`));
    f.push(Buffer.from(`${delta('!')}data: [DONE]\n\n`));
    f.end();
    expect(f.usage).toBeUndefined();
    expect(f.text).toBe('Hello "you"!');
  });
});
