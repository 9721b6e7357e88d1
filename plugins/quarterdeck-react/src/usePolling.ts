import { useCallback, useEffect, useRef, useState } from 'react';

/** A failing backend is asked at most this many times less often (the interval doubling per failure). */
const MAX_BACKOFF = 8;

export interface PollingOptions {
  /**
   * Whether a change of `key` drops what was loaded for the previous key:
   * `value` and `error` are then undefined and `loading` true again until the
   * new key's first load ends, so a page that now shows another object (say,
   * another entity) never shows the previous one's. Off by default: a page
   * that is turned (or refreshed) keeps showing the page before meanwhile.
   */
  resetOnKeyChange?: boolean;
}

/**
 * Loads now and again every `intervalMs` while the component is mounted,
 * so an open page follows what changes (a rollout's steps, new key
 * requests, usage). Keeps the last value on an error. A change of `key`
 * (say, the usage window, or the entity) loads at once, and with
 * `resetOnKeyChange` forgets the previous key's value and error; `retry`
 * reloads at once (after an action) and settles once that load has ended,
 * whatever its outcome. The next load is timed from the end of the last
 * one, so a slow backend is not polled faster than it answers; after an
 * error the interval doubles (up to 8×) until a load succeeds, and a tab
 * that is hidden loads nothing until it is shown again, then at once.
 */
export function usePolling<T>(load: () => Promise<T>, intervalMs: number, key: unknown = undefined, options: PollingOptions = {}) {
  // What was loaded, and for which key (a load for a previous key never lands: its effect is cancelled).
  const [state, setState] = useState<{ key: unknown; value?: T; error?: Error; loaded: boolean }>({ key, loaded: false });
  const loader = useRef(load);
  loader.current = load;
  const reset = useRef(options.resetOnKeyChange);
  reset.current = options.resetOnKeyChange;
  const [tick, setTick] = useState(0);
  const ticks = useRef(0);
  // Those waiting for the load a retry asked for: a load already under way when it asked (it may
  // answer with what was there before an action) does not settle them, only one of its tick or later.
  const waiting = useRef<Array<{ tick: number; resolve: () => void }>>([]);
  const retry = useCallback(
    () =>
      new Promise<void>(resolve => {
        const asked = ++ticks.current;
        waiting.current.push({ tick: asked, resolve });
        setTick(asked);
      }),
    [],
  );

  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let inFlight = false;
    let failures = 0;
    const hidden = () => typeof document !== 'undefined' && document.hidden;
    const run = async () => {
      timer = undefined;
      // Hidden: nothing until shown again (onShown loads), unless a retry waits for this load.
      if (hidden() && !waiting.current.some(w => w.tick <= tick)) return;
      inFlight = true;
      try {
        const next = await loader.current();
        failures = 0;
        if (!cancelled) setState({ key, value: next, loaded: true });
      } catch (e) {
        failures++;
        if (!cancelled) setState(s => ({ key, value: Object.is(s.key, key) || !reset.current ? s.value : undefined, error: e as Error, loaded: true }));
      } finally {
        inFlight = false;
        if (!cancelled) {
          const settled = waiting.current.filter(w => w.tick <= tick);
          waiting.current = waiting.current.filter(w => w.tick > tick);
          for (const w of settled) w.resolve();
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

  const current = options.resetOnKeyChange && !Object.is(state.key, key) ? { value: undefined, error: undefined, loaded: false } : state;
  return { value: current.value, error: current.error, loading: !current.loaded, retry };
}
