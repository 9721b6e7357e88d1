/**
 * An unbounded queue consumed with `for await`: producers push, the consumer
 * waits when it is empty. `close()` ends the iteration after what is queued;
 * `fail()` ends it with an error at once.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiting?: () => void;
  private closed = false;
  private error?: Error;

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.closed) return;
    this.items.push(item);
    this.wake();
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  fail(error: Error): void {
    this.error = error;
    this.closed = true;
    this.wake();
  }

  private wake() {
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.error) throw this.error;
      if (this.items.length > 0) {
        yield this.items.shift()!;
      } else if (this.closed) {
        return;
      } else {
        await new Promise<void>(resolve => {
          this.waiting = resolve;
        });
      }
    }
  }
}
