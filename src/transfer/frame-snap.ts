/**
 * Moves chunks between queues so that fewer stored frames are split between sources. A plan
 * splits each holder-set group among its holders on its own, but one stored frame mixes chunks of
 * several groups: a frame asked for in parts is recompressed by its source (CPU there, and a
 * smaller frame compresses worse). A chunk that is the minority of its frame at the source it is
 * queued for goes to another holder that has most of its own frame of that chunk queued. The
 * bytes per source shift a little; re-planning at measured rates evens them out again.
 *
 * `frames[s][k]`: which stored frame holds chunk k at source s (holder bit s of `holders[k]`).
 * Returns the number of chunks moved; queues stay in chunk order.
 */
export function snapToFrames(
  queues: number[][],
  sizes: ArrayLike<number>,
  holders: ArrayLike<number>,
  frames: readonly ArrayLike<number>[],
): number {
  const n = queues.length;
  // Per source, per frame there: the bytes of it queued there, and of it wanted at all.
  const queued = queues.map(() => new Map<number, number>());
  const wanted = queues.map(() => new Map<number, number>());
  const add = (m: Map<number, number>, f: number, b: number) => m.set(f, (m.get(f) ?? 0) + b);
  for (const q of queues)
    for (const k of q)
      for (let s = 0; s < n; s++) if ((holders[k]! >>> s) & 1) add(wanted[s]!, frames[s]![k]!, sizes[k]!);
  queues.forEach((q, s) => q.forEach((k) => add(queued[s]!, frames[s]![k]!, sizes[k]!)));
  /** Whether more than half of chunk k's frame at source s (by bytes wanted) is queued at s. */
  const owns = (s: number, k: number) => {
    const f = frames[s]![k]!;
    return 2 * (queued[s]!.get(f) ?? 0) > wanted[s]!.get(f)!;
  };
  let moved = 0;
  const next: number[][] = queues.map(() => []);
  queues.forEach((q, t) =>
    q.forEach((k) => {
      let to = t;
      if (!owns(t, k))
        for (let s = 0; s < n; s++)
          if (s !== t && (holders[k]! >>> s) & 1 && owns(s, k)) {
            to = s;
            break;
          }
      if (to !== t) {
        add(queued[t]!, frames[t]![k]!, -sizes[k]!);
        add(queued[to]!, frames[to]![k]!, sizes[k]!);
        moved++;
      }
      next[to]!.push(k);
    }),
  );
  next.forEach((q, s) => (queues[s] = q.sort((a, b) => a - b)));
  return moved;
}
