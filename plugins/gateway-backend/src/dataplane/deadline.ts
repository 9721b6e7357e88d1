/** Work that did not settle in time. */
export class DeadlineExceeded extends Error {}

/**
 * `work`'s outcome, or a DeadlineExceeded saying `message` if it has not
 * settled within `ms`. The work itself goes on; the caller decides what a
 * late outcome means (given back, ignored, or the process killed).
 */
export function withDeadline<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(message)), ms);
    timer.unref?.();
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
