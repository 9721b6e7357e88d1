import { useCallback, useEffect, useRef, useState } from 'react';

/**
 * Loads now and again every `intervalMs` while the component is mounted,
 * so an open page follows what changes (a rollout's steps, new key
 * requests, usage). Keeps the last value on an error. A change of `key`
 * (say, the usage window) loads at once; `retry` reloads at once (after an
 * action). The next load is timed from the end of the last one, so a slow
 * backend is not polled faster than it answers.
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
    const run = async () => {
      try {
        const next = await loader.current();
        if (!cancelled) {
          setValue(next);
          setError(undefined);
        }
      } catch (e) {
        if (!cancelled) setError(e as Error);
      } finally {
        if (!cancelled) {
          setLoading(false);
          timer = setTimeout(run, intervalMs);
        }
      }
    };
    run();
    return () => {
      cancelled = true;
      if (timer) clearTimeout(timer);
    };
  }, [intervalMs, tick, key]);

  return { value, error, loading, retry };
}
