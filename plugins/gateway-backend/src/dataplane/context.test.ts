import { trimConversation } from './context';
import { countChat, type ChatMessage } from './tokens';

const long = (n: number) => Array.from({ length: n }, (_, i) => `word${i}`).join(' ');

describe('context-window trimming', () => {
  const conversation: ChatMessage[] = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: long(200) },
    { role: 'assistant', content: long(200) },
    { role: 'user', content: long(200) },
    { role: 'assistant', content: long(200) },
    { role: 'user', content: 'And now?' },
  ];

  it('leaves a conversation that fits alone', () => {
    const trim = trimConversation(conversation, 100_000);
    expect(trim).toMatchObject({ fits: true, dropped: 0 });
    expect(trim.fits && trim.messages).toBe(conversation);
  });

  it('drops the oldest turns first, never the system prompt nor the last user turn', () => {
    const budget = countChat([conversation[0], conversation[4], conversation[5]]);
    const trim = trimConversation(conversation, budget);
    expect(trim.fits).toBe(true);
    if (!trim.fits) return;
    expect(trim.dropped).toBe(3);
    expect(trim.messages.map(m => m.role)).toEqual(['system', 'assistant', 'user']);
    expect(trim.messages[2].content).toBe('And now?');
    expect(trim.promptTokens).toBeLessThanOrEqual(budget);
  });

  it('says it cannot fit when the pinned messages alone are too long', () => {
    const trim = trimConversation([{ role: 'system', content: long(500) }, { role: 'user', content: long(500) }], 100);
    expect(trim).toMatchObject({ fits: false });
    expect(!trim.fits && trim.minimum).toBeGreaterThan(100);
  });

  it('drops a tool result together with the turn that called the tool', () => {
    const withTool: ChatMessage[] = [
      { role: 'system', content: 'Use tools.' },
      { role: 'assistant', content: long(50) },
      { role: 'tool', content: long(100) },
      { role: 'user', content: 'thanks' },
    ];
    // Dropping the assistant turn alone would be enough, but its tool result goes too.
    const trim = trimConversation(withTool, countChat([withTool[0], withTool[2], withTool[3]]));
    expect(trim.fits && trim.messages.map(m => m.role)).toEqual(['system', 'user']);
    expect(trim.fits && trim.dropped).toBe(2);
  });

  it("keeps an agent's latest tool call and its results, which the model is answering, and drops the older steps", () => {
    const call = (name: string) => ({ role: 'assistant', content: null, tool_calls: [{ id: name, type: 'function', function: { name, arguments: long(100) } }] });
    const agent: ChatMessage[] = [
      { role: 'system', content: 'Use tools.' },
      { role: 'user', content: 'Find the outage.' },
      call('first'),
      { role: 'tool', content: long(300) },
      call('second'),
      { role: 'tool', content: long(300) },
      { role: 'tool', content: long(10) },
    ];
    const trim = trimConversation(agent, countChat([agent[0], agent[1], agent[4], agent[5], agent[6]]));
    expect(trim.fits && trim.messages).toEqual([agent[0], agent[1], agent[4], agent[5], agent[6]]);
    // Too little room even for those: said, not cut into the step under way.
    expect(trimConversation(agent, countChat([agent[0], agent[1], agent[4]]))).toMatchObject({ fits: false });
  });

  it('drops a legacy function result together with the turn that called it', () => {
    const legacy: ChatMessage[] = [
      { role: 'assistant', content: long(50) },
      { role: 'function', name: 'lookup', content: long(100) },
      { role: 'user', content: 'thanks' },
    ];
    const trim = trimConversation(legacy, countChat([legacy[1], legacy[2]]));
    expect(trim.fits && trim.messages.map(m => m.role)).toEqual(['user']);
  });
});
