import { countChat, countMessage, type ChatMessage } from './tokens';

export type Trim =
  | { fits: true; messages: ChatMessage[]; dropped: number; promptTokens: number }
  | { fits: false; promptTokens: number; minimum: number };

/**
 * Fits a conversation into `budget` tokens (the model's window minus the
 * reply's max_tokens) by dropping the oldest turns that are neither system
 * (or developer) messages nor the last user message. A tool result goes with
 * the assistant turn that asked for it, so no tool message is left without
 * its call. If even the kept messages do not fit, it says how many tokens
 * they need.
 */
export function trimConversation(messages: ChatMessage[], budget: number): Trim {
  const total = countChat(messages);
  if (total <= budget) return { fits: true, messages, dropped: 0, promptTokens: total };
  const lastUser = messages.map(m => m.role).lastIndexOf('user');
  const pinned = (i: number) => ['system', 'developer'].includes(messages[i].role) || i === lastUser;
  const sizes = messages.map(countMessage);
  let tokens = total;
  const drop = new Set<number>();
  for (let i = 0; i < messages.length && tokens > budget; i++) {
    if (pinned(i) || drop.has(i)) continue;
    drop.add(i);
    tokens -= sizes[i];
    // Tool results answering this turn go with it.
    for (let j = i + 1; j < messages.length && messages[j].role === 'tool' && !pinned(j); j++) {
      drop.add(j);
      tokens -= sizes[j];
    }
  }
  if (tokens > budget) return { fits: false, promptTokens: total, minimum: tokens };
  return { fits: true, messages: messages.filter((_, i) => !drop.has(i)), dropped: drop.size, promptTokens: tokens };
}
