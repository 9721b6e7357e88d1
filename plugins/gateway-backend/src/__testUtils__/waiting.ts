export const delay = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/**
 * Waits for `condition`, at most 2 s (a busy machine runs the data plane's
 * timers late). Polls rather than racing a timer, so a test that passes
 * leaves no timer behind to keep its jest worker from exiting.
 */
export async function until(condition: () => boolean) {
  for (const deadline = Date.now() + 2000; !condition() && Date.now() < deadline;) await delay(10);
}
