import type { FrameCodec } from "../../store/codec.js";
import { DEFAULT_MAX_UNUSED, type GcReport } from "../../store/gc.js";
import { uniqueChunks } from "../../store/recipe.js";
import type { Recipe } from "../../store/types.js";
import { usage } from "../../util/errors.js";
import type { SiteGcOptions } from "../site.js";
import type { Bucket } from "./bucket.js";
import { deletePack, listPackSet, rewritePack } from "./pack-set.js";
import type { PackEntry } from "./pack-index.js";

interface PackPlan {
  pack: string;
  size: number;
  live: PackEntry[];
  dead: number;
  liveBytes: number;
}

/**
 * gc of an s3:// site, under its exclusive lock (so no push is between its pack and index
 * objects): packs without an index object (an interrupted push) are deleted; a pack no recipe
 * uses is deleted, index object first; a pack more than `maxUnused` percent unused has its live
 * chunks copied into a new pack (with its index object) before the old one is deleted. A chunk
 * held by two packs (two pushes at once) stays in the first only. Chunks of every recipe stay,
 * complete or not.
 */
export async function gcBucket(
  bucket: Bucket,
  codec: FrameCodec,
  recipes: Recipe[],
  opts: SiteGcOptions,
): Promise<GcReport> {
  const maxUnused = opts.maxUnused ?? DEFAULT_MAX_UNUSED;
  if (!(maxUnused >= 0 && maxUnused <= 100)) throw usage(`--max-unused takes 0-100, got ${maxUnused}`);
  const live = new Set<string>();
  for (const r of recipes) for (const id of uniqueChunks(r).ids) live.add(id.toString("latin1"));
  const { packSizes, indexes } = await listPackSet(bucket);

  const kept = new Set<string>();
  const plans: PackPlan[] = [...indexes]
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([pack, entries]) => {
      const frames = new Map<number, { length: number; raw: number; liveRaw: number }>();
      const keep: PackEntry[] = [];
      for (const e of entries) {
        const f = frames.get(e.frameOffset) ?? { length: e.frameLength, raw: 0, liveRaw: 0 };
        frames.set(e.frameOffset, f);
        f.raw += e.rawLength;
        const key = e.id.toString("latin1");
        if (live.has(key) && !kept.has(key) && packSizes.has(pack)) {
          kept.add(key);
          keep.push(e);
          f.liveRaw += e.rawLength;
        }
      }
      let liveBytes = 0;
      for (const f of frames.values())
        liveBytes += f.raw > 0 ? Math.round((f.length * f.liveRaw) / f.raw) : 0;
      return {
        pack,
        size: packSizes.get(pack) ?? 0,
        live: keep,
        dead: entries.length - keep.length,
        liveBytes,
      };
    });
  const orphans = [...packSizes].filter(([p]) => !indexes.has(p));
  const empty = plans.filter((p) => p.live.length === 0);
  const rewrite = plans.filter(
    (p) => p.live.length > 0 && p.dead > 0 && (p.size - p.liveBytes) * 100 > maxUnused * p.size,
  );

  const packBytesBefore = [...packSizes.values()].reduce((s, n) => s + n, 0);
  const liveBytes = plans.reduce((s, p) => s + p.liveBytes, 0);
  let written = 0;
  let writtenBytes = 0;
  if (!opts.dryRun) {
    for (const p of rewrite) {
      const out = await rewritePack(bucket, codec, p.pack, p.live, { check: true });
      if (out) {
        written++;
        writtenBytes += out.size;
      }
      await deletePack(bucket, p.pack);
    }
    for (const p of empty) await deletePack(bucket, p.pack);
    for (const [p] of orphans) await deletePack(bucket, p);
  }
  const removed = [...empty, ...rewrite];
  const removedBytes = removed.reduce((s, p) => s + p.size, 0) + orphans.reduce((s, [, n]) => s + n, 0);
  const rewrittenLive = rewrite.reduce((s, p) => s + p.liveBytes, 0);
  const packBytesAfter = packBytesBefore - removedBytes + (opts.dryRun ? rewrittenLive : writtenBytes);
  const packsBefore = packSizes.size;
  const packsWritten = opts.dryRun ? rewrite.length : written;
  return {
    dryRun: opts.dryRun === true,
    packsBefore,
    packsAfter: packsBefore - removed.length - orphans.length + packsWritten,
    packsRewritten: rewrite.length,
    packsDeleted: empty.length + orphans.length,
    packsWritten,
    chunksDeleted: [...empty, ...rewrite].reduce((s, p) => s + p.dead, 0),
    packBytesBefore,
    packBytesAfter,
    bytesReclaimed: Math.max(0, packBytesBefore - packBytesAfter),
    liveBytes,
    unusedBytesBefore: Math.max(0, packBytesBefore - liveBytes),
    unusedBytesAfter: Math.max(0, packBytesAfter - liveBytes),
  };
}
