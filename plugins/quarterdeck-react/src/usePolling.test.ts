import { act, renderHook, waitFor } from '@testing-library/react';
import { usePolling } from './usePolling';

describe('usePolling', () => {
  it('loads at once, again every interval, keeps the last value through an error, and stops when unmounted', async () => {
    let calls = 0;
    // The third load waits for the test, so the error between the second and third is seen however slow the machine.
    let releaseThird: () => void = () => {};
    const third = new Promise<void>(resolve => {
      releaseThird = resolve;
    });
    const load = jest.fn(async () => {
      calls++;
      if (calls === 2) throw new Error('backend down');
      if (calls === 3) await third;
      return Math.min(calls, 3);
    });
    const { result, unmount } = renderHook(() => usePolling(load, 30));
    expect(result.current.loading).toBe(true);
    await waitFor(() => expect(result.current.value).toBe(1));
    expect(result.current.loading).toBe(false);
    // The second load fails: the error shows, the value of the first stays.
    await waitFor(() => expect(result.current.error?.message).toBe('backend down'));
    expect(result.current.value).toBe(1);
    // The third succeeds and clears the error.
    releaseThird();
    await waitFor(() => expect(result.current.value).toBe(3));
    expect(result.current.error).toBeUndefined();
    unmount();
    const after = calls;
    await new Promise(resolve => setTimeout(resolve, 100));
    expect(calls).toBe(after);
  });

  it('reloads at once on retry and when its key changes, with the newest load function', async () => {
    const seen: string[] = [];
    const { result, rerender } = renderHook(({ window }) => usePolling(async () => {
      seen.push(window);
      return window;
    }, 60_000, window), { initialProps: { window: '24h' } });
    await waitFor(() => expect(result.current.value).toBe('24h'));
    act(() => {
      result.current.retry();
    });
    await waitFor(() => expect(seen).toEqual(['24h', '24h']));
    rerender({ window: '7d' });
    await waitFor(() => expect(result.current.value).toBe('7d'));
    expect(seen).toEqual(['24h', '24h', '7d']);
  });

  it("with resetOnKeyChange, shows nothing of the previous key's while the new key loads, nor when its load fails", async () => {
    let releaseB: (fail: boolean) => void = () => {};
    const { result, rerender, unmount } = renderHook(({ entity }) => usePolling(async () => {
      if (entity === 'a') return 'rollouts of a';
      // b's load waits for the test, then fails or succeeds as told.
      const fail = await new Promise<boolean>(resolve => {
        releaseB = resolve;
      });
      if (fail) throw new Error('b is down');
      return 'rollouts of b';
    }, 60_000, entity, { resetOnKeyChange: true }), { initialProps: { entity: 'a' } });
    await waitFor(() => expect(result.current.value).toBe('rollouts of a'));
    rerender({ entity: 'b' });
    // At once, not after b's load: a's value is gone and b's is loading.
    expect(result.current).toMatchObject({ value: undefined, error: undefined, loading: true });
    act(() => releaseB(true));
    await waitFor(() => expect(result.current.error?.message).toBe('b is down'));
    expect(result.current.value).toBeUndefined();
    expect(result.current.loading).toBe(false);
    // b answers on retry; a's value never comes back.
    act(() => {
      result.current.retry();
    });
    act(() => releaseB(false));
    await waitFor(() => expect(result.current.value).toBe('rollouts of b'));
    expect(result.current.error).toBeUndefined();
    unmount();
  });

  it("without resetOnKeyChange, keeps showing the previous key's value while the new key loads", async () => {
    const { result, rerender, unmount } = renderHook(({ page }) => usePolling(async () => {
      if (page === 2) await new Promise(() => {});
      return `page ${page}`;
    }, 60_000, page), { initialProps: { page: 1 } });
    await waitFor(() => expect(result.current.value).toBe('page 1'));
    rerender({ page: 2 });
    expect(result.current).toMatchObject({ value: 'page 1', loading: false });
    unmount();
  });

  it('settles what retry returns once the load it asked for has ended, and not before', async () => {
    let release: () => void = () => {};
    let calls = 0;
    const { result, unmount } = renderHook(() => usePolling(async () => {
      calls++;
      if (calls === 2) {
        await new Promise<void>(resolve => {
          release = resolve;
        });
        throw new Error('still down');
      }
      return calls;
    }, 60_000));
    await waitFor(() => expect(result.current.value).toBe(1));
    let settled = false;
    act(() => {
      result.current.retry().then(() => {
        settled = true;
      });
    });
    await waitFor(() => expect(calls).toBe(2));
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    act(() => release());
    // A failed load settles it too.
    await waitFor(() => expect(settled).toBe(true));
    expect(result.current.error?.message).toBe('still down');
    unmount();
  });

  it('does not settle a retry with a load that was already under way when it was asked for', async () => {
    let release: (value: string) => void = () => {};
    let calls = 0;
    const { result, unmount } = renderHook(() => usePolling(async () => {
      calls++;
      if (calls === 2) {
        // The poll under way as an action ends: it answers with what was there before the action.
        return new Promise<string>(resolve => {
          release = resolve;
        });
      }
      return calls === 1 ? 'before' : 'after';
    }, 30));
    await waitFor(() => expect(result.current.value).toBe('before'));
    await waitFor(() => expect(calls).toBe(2));
    // How many loads had been asked for when the retry settled.
    let settledAfter = 0;
    // The action's answer: a retry, then at once the old poll's answer, before React has run the retry's effect.
    result.current.retry().then(() => {
      settledAfter = calls;
    });
    release('before');
    await waitFor(() => expect(settledAfter).toBeGreaterThan(0));
    // Settled by the load the retry asked for (the third), not by the second.
    expect(settledAfter).toBe(3);
    await waitFor(() => expect(result.current.value).toBe('after'));
    unmount();
  });

  it('asks a failing backend less and less often, and again at the usual pace once it answers', async () => {
    let calls = 0;
    let failing = true;
    const { result, unmount } = renderHook(() => usePolling(async () => {
      calls++;
      if (failing) throw new Error('down');
      return calls;
    }, 20));
    await new Promise(resolve => setTimeout(resolve, 500));
    // Without backing off: 25 loads; doubling to 8× (160 ms): about 6.
    expect(calls).toBeLessThanOrEqual(8);
    expect(result.current.error?.message).toBe('down');
    failing = false;
    await waitFor(() => expect(result.current.error).toBeUndefined(), { timeout: 1000 });
    const answered = calls;
    await new Promise(resolve => setTimeout(resolve, 200));
    expect(calls - answered).toBeGreaterThanOrEqual(5);
    unmount();
  });

  it('loads nothing while the tab is hidden, and at once when it is shown again', async () => {
    let hidden = false;
    const hiddenProperty = jest.spyOn(document, 'hidden', 'get').mockImplementation(() => hidden);
    let calls = 0;
    const { unmount } = renderHook(() => usePolling(async () => ++calls, 20));
    try {
      await waitFor(() => expect(calls).toBeGreaterThanOrEqual(2));
      hidden = true;
      await new Promise(resolve => setTimeout(resolve, 60));
      const whileHidden = calls;
      await new Promise(resolve => setTimeout(resolve, 200));
      expect(calls).toBe(whileHidden);
      hidden = false;
      act(() => {
        document.dispatchEvent(new Event('visibilitychange'));
      });
      await waitFor(() => expect(calls).toBeGreaterThan(whileHidden));
    } finally {
      unmount();
      hiddenProperty.mockRestore();
    }
  });
});
