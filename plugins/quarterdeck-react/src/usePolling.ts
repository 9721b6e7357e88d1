import { useCallback, useEffect, useRef, useState } from 'react';

/** A failing backend is asked at most this many times less often (the interval doubling per failure). */
const MAX_BACKOFF = 8;

/**
 * Loads now and again every `intervalMs` while the component is mounted,
 * so an open page follows what changes (a rollout's steps, new key
 * requests, usage). Keeps the last value on an error. A change of `key`
 * (say, the usage window, or the entity) loads at once; `retry` reloads at
 * once (after an action). The next load is timed from the end of the last
 * one, so a slow backend is not polled faster than it answers; after an
 * error the interval doubles (up to 8×) until a load succeeds, and a tab
 * that is hidden loads nothing until it is shown again, then at once.
 */
export function usePolling<T>(load: () => Promise<T>, intervalMs: number, key: unknown = undefined) {
  const [value, setValue] = useState<T | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const [loading, setLoading] = useState(true);
  const loader = useRef(load);
  loader.current = load;
  const [tick, setTick] = useState(0);
  const retry = useCallback(() => setTick(t => t + 1), []);

  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let inFlight = false;
    let failures = 0;
    const hidden = () => typeof document !== 'undefined' && document.hidden;
    const run = async () => {
      timer = undefined;
      if (hidden()) return; // shown again: onShown loads
      inFlight = true;
      try {
        const next = await loader.current();
        failures = 0;
        if (!cancelled) {
          setValue(next);
          setError(undefined);
        }
      } catch (e) {
        failures++;
        if (!cancelled) setError(e as Error);
      } finally {
        inFlight = false;
        if (!cancelled) {
          setLoading(false);
          timer = setTimeout(run, intervalMs * Math.min(MAX_BACKOFF, 2 ** failures));
        }
      }
    };
    const onShown = () => {
      if (cancelled || hidden() || inFlight) return;
      if (timer) clearTimeout(timer);
      run();
    };
    if (typeof document !== 'undefined') document.addEventListener('visibilitychange', onShown);
    run();
    return () => {
      cancelled = true;
      if (timer) clearTimeout(timer);
      if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', onShown);
    };
  }, [intervalMs, tick, key]);

  return { value, error, loading, retry };
}
