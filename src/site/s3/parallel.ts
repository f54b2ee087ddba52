/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Yields `fn` over `items` in input order with up to `limit` calls running ahead of the consumer,
 * so that memory stays bounded by `limit` results. A failure rejects the next `next()`; the
 * calls still running are left to settle (their results are dropped).
 */
export async function* mapAhead<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): AsyncGenerator<R> {
  const running: Array<Promise<R>> = [];
  let next = 0;
  const fill = () => {
    while (running.length < limit && next < items.length) {
      const p = fn(items[next++]!);
      p.catch(() => undefined); // awaited in order below
      running.push(p);
    }
  };
  fill();
  while (running.length > 0) {
    const r = await running.shift()!;
    fill();
    yield r;
  }
}
