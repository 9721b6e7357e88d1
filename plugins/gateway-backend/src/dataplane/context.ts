import { countChat, countMessage, type ChatMessage } from './tokens';

export type Trim =
  | { fits: true; messages: ChatMessage[]; dropped: number; promptTokens: number }
  | { fits: false; promptTokens: number; minimum: number };

/** A tool's answer to an assistant turn's call (`function` is the legacy name). */
const isResult = (message: ChatMessage) => message.role === 'tool' || message.role === 'function';

/**
 * Fits a conversation into `budget` tokens (the model's window minus the
 * reply's max_tokens) by dropping the oldest turns that are neither system
 * (or developer) messages nor the last user message. A tool result goes with
 * the assistant turn that asked for it, so no tool message is left without
 * its call. When the conversation ends in tool results (an agent at work),
 * those results and the call they answer are what the model replies to, and
 * stay too: without them it would make the same call again. If even the kept
 * messages do not fit, it says how many tokens they need.
 */
export function trimConversation(messages: ChatMessage[], budget: number): Trim {
  const total = countChat(messages);
  if (total <= budget) return { fits: true, messages, dropped: 0, promptTokens: total };
  const lastUser = messages.map(m => m.role).lastIndexOf('user');
  let call = messages.length - 1;
  while (call >= 0 && isResult(messages[call])) call--;
  const answering = call < messages.length - 1 && call > lastUser && messages[call].role === 'assistant' ? call : messages.length;
  const pinned = (i: number) => ['system', 'developer'].includes(messages[i].role) || i === lastUser || i >= answering;
  const sizes = messages.map(countMessage);
  let tokens = total;
  const drop = new Set<number>();
  for (let i = 0; i < messages.length && tokens > budget; i++) {
    if (pinned(i) || drop.has(i)) continue;
    drop.add(i);
    tokens -= sizes[i];
    // Tool results answering this turn go with it.
    for (let j = i + 1; j < messages.length && isResult(messages[j]) && !pinned(j); j++) {
      drop.add(j);
      tokens -= sizes[j];
    }
  }
  if (tokens > budget) return { fits: false, promptTokens: total, minimum: tokens };
  return { fits: true, messages: messages.filter((_, i) => !drop.has(i)), dropped: drop.size, promptTokens: tokens };
}
