/**
 * One store, opened once, used by one request at a time. A store is one database connection,
 * and a use case's transaction spans awaits: two requests interleaving on it would run inside
 * each other's transactions. The gate runs store work in arrival order; answers kept in memory
 * (quota checks, token checks) never wait for it.
 */
export class StoreGate {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /** Runs `fn` after every earlier call has finished. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    this.waiting++;
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => this.waiting--,
      () => this.waiting--,
    );
    return result;
  }

  /** Calls queued or running. */
  get pending(): number {
    return this.waiting;
  }

  /** Resolves once everything queued so far has finished. */
  async drain(): Promise<void> {
    await this.tail;
  }
}
