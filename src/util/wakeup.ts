/**
 * Wakes the one task waiting for something to change. A notify() with nobody waiting is
 * dropped, so a waiter re-checks its condition in a loop: `while (!cond) await w.wait()`.
 */
export class Wakeup {
  private waiter: (() => void) | undefined;

  /** Resolves at the next notify(). */
  wait(): Promise<void> {
    return new Promise((resolve) => (this.waiter = resolve));
  }

  notify(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
