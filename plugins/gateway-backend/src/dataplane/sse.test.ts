import { SseUsageFilter } from './sse';

const chunk = (o: object) => `data: ${JSON.stringify(o)}\n\n`;
const delta = (content: string) => chunk({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] });
const usage = chunk({ object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } });

describe('SseUsageFilter', () => {
  it('forwards complete events at once and keeps a partial one for the next chunk', () => {
    const f = new SseUsageFilter(true);
    const first = delta('Hel');
    expect(f.push(Buffer.from(`${first}${first.slice(0, 10)}`)).toString()).toBe(first);
    expect(f.push(Buffer.from(first.slice(10))).toString()).toBe(first);
  });

  it('forwards a chunk of whole events without usage as the very buffer it came in', () => {
    const f = new SseUsageFilter(true);
    const whole = Buffer.from(delta('Hi') + delta(' there'));
    expect(f.push(whole)).toBe(whole);
    // With include_usage, OpenAI sends "usage": null in every chunk but the last.
    const nullUsage = Buffer.from(chunk({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'x' } }], usage: null }).replace('"usage":', '"usage": '));
    expect(f.push(nullUsage)).toBe(nullUsage);
    expect(f.usage).toBeUndefined();
  });

  it('splits events on CRLF blank lines too', () => {
    const f = new SseUsageFilter(true);
    const crlf = (s: string) => s.replace(/\n/g, '\r\n');
    expect(f.push(Buffer.from(crlf(`${delta('a')}${usage}`))).toString()).toBe(crlf(delta('a')));
    expect(f.push(Buffer.from(crlf('data: [DONE]\n\n'))).toString()).toBe(crlf('data: [DONE]\n\n'));
    expect(f.usage?.completion_tokens).toBe(3);
  });

  it('removes the usage-only event the client did not ask for, and reads the usage from it', () => {
    const f = new SseUsageFilter(true);
    const out = f.push(Buffer.from(`${delta('Hi')}${usage}data: [DONE]\n\n`)).toString();
    expect(out).toBe(`${delta('Hi')}data: [DONE]\n\n`);
    expect(f.usage).toEqual({ prompt_tokens: 12, completion_tokens: 3 });
  });

  it('keeps it when the client asked for include_usage', () => {
    const f = new SseUsageFilter(false);
    expect(f.push(Buffer.from(delta('Hi') + usage)).toString()).toBe(delta('Hi') + usage);
    expect(f.usage?.completion_tokens).toBe(3);
  });

  it('handles an event split across many chunks, byte by byte', () => {
    const f = new SseUsageFilter(true);
    const all = `${delta('a')}${usage}data: [DONE]\n\n`;
    let out = '';
    for (const ch of all) out += f.push(Buffer.from(ch)).toString();
    out += f.end().toString();
    expect(out).toBe(`${delta('a')}data: [DONE]\n\n`);
    expect(f.usage?.prompt_tokens).toBe(12);
  });

  it('recovers the streamed text for a token estimate when the upstream reports no usage', () => {
    const f = new SseUsageFilter(true);
    // "é" split between two chunks: kept as bytes, decoded whole.
    const bytes = Buffer.from(`${delta('Hél')}${delta('lo "you"')}`);
    const cut = bytes.indexOf('é') + 1;
    f.push(bytes.subarray(0, cut));
    f.push(bytes.subarray(cut));
    f.push(Buffer.from(`${delta('!')}data: [DONE]\n\n`));
    f.end();
    expect(f.usage).toBeUndefined();
    expect(f.text).toBe('Héllo "you"!');
  });

  it('keeps the whole text of a long stream for the estimate, not just its first chunks', () => {
    const f = new SseUsageFilter(true);
    const words = Array.from({ length: 500 }, (_, i) => `word${i} `);
    for (const word of words) f.push(Buffer.from(delta(word)));
    f.end();
    expect(f.text).toBe(words.join(''));
  });
});
