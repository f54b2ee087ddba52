import type { ChunkId } from "../store/types.js";
import type { SiteSet } from "./site-set.js";

export interface HeldProgress {
  site: string;
  heldChunks: number;
  chunks: number;
  heldBytes: number;
  bytes: number;
}

/**
 * Follows pulls running at other sites: every `everyMs`, one batched HAS per site over the
 * image's chunks, reporting a site whose count of held chunks changed. The pull itself streams
 * nothing back until its report; this is the progress its site shows anyone who asks.
 */
export function watchHeld(
  sites: SiteSet,
  names: readonly string[],
  chunks: { ids: ChunkId[]; lengths: number[] },
  onChange: (p: HeldProgress) => void,
  everyMs = 2000,
): () => void {
  const { ids, lengths } = chunks;
  const bytes = lengths.reduce((a, b) => a + b, 0);
  const last = new Map<string, number>();
  let busy = false;
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      await Promise.all(
        names.map(async (name) => {
          const site = sites.get(name)?.site;
          const held = await site?.has(ids).catch(() => undefined);
          if (!held) return;
          const n = held.filter(Boolean).length;
          if (last.get(name) === n) return;
          last.set(name, n);
          const heldBytes = lengths.reduce((sum, len, i) => (held[i] ? sum + len : sum), 0);
          onChange({ site: name, heldChunks: n, chunks: ids.length, heldBytes, bytes });
        }),
      );
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void poll(), everyMs);
  return () => clearInterval(timer);
}
