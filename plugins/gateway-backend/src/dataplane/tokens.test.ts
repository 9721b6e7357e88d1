import { countTokens } from 'gpt-tokenizer';
import { chatUpperBound, countApart, countChat, countMessage, countText, LONG_TEXT, promptTexts, textOnly, type ChatMessage } from './tokens';

// The real tokenizer, watched: what countText hands it is part of what is tested.
jest.mock('gpt-tokenizer', () => {
  const actual = jest.requireActual('gpt-tokenizer');
  return { ...actual, countTokens: jest.fn(actual.countTokens) };
});

describe('countText', () => {
  it('counts special-token text in a prompt as the characters it is, as OpenAI takes it, instead of throwing', () => {
    expect(countText('one <|endoftext|> two <|endofprompt|>')).toBe(countTokens('one <|endoftext|> two <|endofprompt|>', { disallowedSpecial: new Set() }));
    expect(countText('<|endoftext|>')).toBeGreaterThan(1);
  });

  it('hands the tokenizer no piece longer than 128 characters, whatever runs the text holds', () => {
    const text = `start ${'_'.repeat(1000)} middle ${' '.repeat(500)}${'一'.repeat(300)}😀${'a'.repeat(129)} then ${' \u00a0\u3000'.repeat(200)}end`;
    const tokenize = jest.mocked(countTokens);
    tokenize.mockClear();
    countText(text);
    const sent = tokenize.mock.calls.map(([piece]) => piece as string);
    const runs = sent.flatMap(piece => piece.match(/\S+|\s+/gu) ?? []);
    expect(Math.max(...runs.map(run => run.length))).toBeLessThanOrEqual(128);
    // Nothing is lost or counted twice, and no surrogate pair is cut in two.
    expect(sent.join('')).toBe(text);
    expect(sent.some(piece => /^[\udc00-\udfff]|[\ud800-\udbff]$/.test(piece))).toBe(false);
  });

  it('counts long runs within a token or so per cut of the exact count', () => {
    for (const text of ['x'.repeat(1000), `see ${'ab1_'.repeat(300)} and ${'\n'.repeat(400)}done`, '猫'.repeat(700)]) {
      const exact = countTokens(text, { disallowedSpecial: new Set() });
      const cuts = Math.ceil(text.length / 128);
      expect(countText(text)).toBeGreaterThanOrEqual(exact - cuts);
      expect(countText(text)).toBeLessThanOrEqual(exact + cuts);
    }
  });

  it("counts a legacy assistant turn's function call as it counts a tool call", () => {
    const args = JSON.stringify({ query: 'word '.repeat(200) });
    const asTool = { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'search', arguments: args } }] };
    const asFunction = { role: 'assistant', content: null, function_call: { name: 'search', arguments: args } };
    expect(countMessage(asFunction)).toBe(countMessage(asTool));
    expect(countMessage(asFunction)).toBeGreaterThan(200);
    expect(chatUpperBound([asFunction])).toBeGreaterThanOrEqual(countMessage(asFunction));
  });

  it('keeps a conversation as its text and its images\' tokens, which count as the whole did', () => {
    // A 1×1 PNG's data URL, padded as a photo's megabytes would be.
    const png = `data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==${'A'.repeat(100_000)}`;
    const conversation: ChatMessage[] = [
      { role: 'system', content: 'Describe images.' },
      { role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: png } }, { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'low' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'zoom', arguments: '{"x":1}' } }] },
    ];
    const kept = textOnly(conversation);
    expect(countChat(kept.messages) + kept.imageTokens).toBe(countChat(conversation));
    expect(kept.imageTokens).toBeGreaterThan(85);
    expect(JSON.stringify(kept.messages).length).toBeLessThan(1000);
  });

  it('counts a long text apart, slice by slice, to the count of the whole, and keeps it only until released', async () => {
    const words = ['gateway', 'routes', 'canary', ' ', '\n\n', 'tokens', 'über', '猫', '<|endoftext|>', '42', '  spaced  '];
    let text = '';
    for (let i = 0; text.length < 3 * LONG_TEXT; i++) text += `${words[i % words.length]}${i % 7 === 0 ? '\n' : ' '}`;
    const whole = countTokens(text, { disallowedSpecial: new Set() });
    const release = await countApart(promptTexts('chat', { messages: [{ role: 'user', content: text }] }));
    const tokenize = jest.mocked(countTokens);
    tokenize.mockClear();
    // The call's own counting finds it done: no tokenizing on the spot.
    expect(countText(text)).toBe(whole);
    expect(tokenize).not.toHaveBeenCalled();
    release();
    expect(countText(text)).toBe(whole);
    expect(tokenize).toHaveBeenCalled();
  });

  it('shares one count among calls with the same long text, and keeps it until the last of them is done', async () => {
    const text = `${'shared system prompt words '.repeat(2000)}end`;
    const [first, second] = await Promise.all([countApart([text]), countApart([text])]);
    const tokenize = jest.mocked(countTokens);
    tokenize.mockClear();
    first();
    expect(countText(text)).toBeGreaterThan(0);
    expect(tokenize).not.toHaveBeenCalled();
    second();
    countText(text);
    expect(tokenize).toHaveBeenCalled();
  });
});
