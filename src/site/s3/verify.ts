import { blake3 } from "@napi-rs/blake-hash";
import type { ChunkDamage, ChunkFinding } from "../../store/check.js";
import type { FrameCodec } from "../../store/codec.js";
import { parseFrameHeader } from "../../store/pack.js";
import { digestMatches, uniqueChunks } from "../../store/recipe.js";
import type { Recipe } from "../../store/types.js";
import type { VerifyListener, VerifyOptions, VerifyReport } from "../../store/verify.js";
import { notFound } from "../../util/errors.js";
import type { Bucket } from "./bucket.js";
import { packKey } from "./layout.js";
import { deletePack, listPackSet, rewritePack } from "./pack-set.js";
import type { PackEntry } from "./pack-index.js";

/**
 * verify of an s3:// site, run by this node over ranged reads: every indexed chunk of the chosen
 * images (all when none) checked frame by frame, as src/store/verify.ts does for a repository.
 * Pack ids are strings here: findings carry pack 0 and name the pack object in `detail`. With
 * `drop` (repair), each pack holding damaged chunks is rewritten without them (a new pack and
 * index object), then the old pack and index are deleted: the site no longer claims them.
 */
export async function verifyBucket(
  bucket: Bucket,
  codec: FrameCodec,
  recipes: Recipe[],
  opts: VerifyOptions,
  onEvent: VerifyListener = () => undefined,
): Promise<VerifyReport> {
  const byName = new Map(recipes.map((r) => [r.name, r]));
  for (const name of opts.images) if (!byName.has(name)) throw notFound(`no image '${name}' here`);
  const chosen = opts.images.length > 0 ? [...new Set(opts.images)] : [...byName.keys()];
  let findings = 0;
  for (const name of chosen)
    if (!digestMatches(byName.get(name)!)) {
      findings++;
      await onEvent({
        type: "finding",
        finding: { kind: "bad-recipe", images: [name], detail: "its chunk list does not match its digest" },
      });
    }
  const users = new Map<string, string[]>();
  for (const r of recipes)
    for (const id of uniqueChunks(r).ids) {
      const k = id.toString("latin1");
      users.set(k, [...(users.get(k) ?? []), r.name]);
    }
  const wanted =
    opts.images.length > 0
      ? new Set(chosen.flatMap((n) => uniqueChunks(byName.get(n)!).ids.map((id) => id.toString("latin1"))))
      : undefined;

  const { packSizes, indexes } = await listPackSet(bucket);
  const perPack = [...indexes]
    .map(([pack, entries]) => ({
      pack,
      entries: wanted ? entries.filter((e) => wanted.has(e.id.toString("latin1"))) : entries,
    }))
    .filter((p) => p.entries.length > 0);
  const total = perPack.reduce((s, p) => s + frameBytes(p.entries), 0);
  let done = 0;
  let chunks = 0;
  let frames = 0;
  const damagedByPack = new Map<string, Set<string>>();
  for (const { pack, entries } of perPack) {
    const bytes = packSizes.has(pack) ? await bucket.get(packKey(pack)) : undefined;
    const byFrame = new Map<number, PackEntry[]>();
    for (const e of entries) byFrame.set(e.frameOffset, [...(byFrame.get(e.frameOffset) ?? []), e]);
    for (const [offset, list] of byFrame) {
      frames++;
      chunks += list.length;
      done += list[0]!.frameLength;
      for (const [e, kind, detail] of checkFrame(bytes, pack, offset, list, codec, opts.readData)) {
        findings++;
        const damaged = damagedByPack.get(pack) ?? new Set<string>();
        damagedByPack.set(pack, damaged.add(e.id.toString("latin1")));
        const finding: ChunkFinding = {
          kind,
          chunk: e.id,
          pack: 0,
          offset,
          images: users.get(e.id.toString("latin1")) ?? [],
          detail: `s3 object ${packKey(pack)}: ${detail}`,
        };
        await onEvent({ type: "finding", finding });
      }
    }
    await onEvent({ type: "progress", done, total });
  }
  await onEvent({ type: "progress", done, total });

  let dropped = 0;
  if (opts.drop)
    for (const [pack, damaged] of damagedByPack) {
      const keep = indexes.get(pack)!.filter((e) => !damaged.has(e.id.toString("latin1")));
      await rewritePack(bucket, codec, pack, keep);
      await deletePack(bucket, pack);
      dropped += damaged.size;
    }
  const gone = new Set([...damagedByPack.values()].flatMap((s) => (opts.drop ? [...s] : [])));
  const held = new Set<string>();
  for (const entries of indexes.values())
    for (const e of entries) if (!gone.has(e.id.toString("latin1"))) held.add(e.id.toString("latin1"));
  return {
    chunks,
    frames,
    images: chosen.length,
    findings,
    dropped,
    incomplete: chosen.filter((n) =>
      uniqueChunks(byName.get(n)!).ids.some((id) => !held.has(id.toString("latin1"))),
    ),
  };
}

function frameBytes(entries: PackEntry[]): number {
  const seen = new Map<number, number>();
  for (const e of entries) seen.set(e.frameOffset, e.frameLength);
  return [...seen.values()].reduce((s, n) => s + n, 0);
}

type Damage = [PackEntry, ChunkDamage, string];

/** The damaged chunks of one frame, as src/store/check.ts judges them. */
function checkFrame(
  pack: Buffer | undefined,
  packId: string,
  offset: number,
  list: PackEntry[],
  codec: FrameCodec,
  readData: boolean,
): Damage[] {
  const all = (kind: ChunkDamage, detail: string): Damage[] => list.map((e) => [e, kind, detail]);
  if (!pack) return all("missing-pack", `pack ${packId} is missing`);
  const length = list[0]!.frameLength;
  if (offset + length > pack.length) return all("short-read", `the pack ends at ${pack.length}`);
  const buf = pack.subarray(offset, offset + length);
  let h;
  try {
    h = parseFrameHeader(buf, `frame at ${offset}`);
  } catch (err) {
    return all("bad-header", (err as Error).message);
  }
  if (h.headerLength + h.payloadLength !== length)
    return all("bad-header", "frame length differs from the index");
  const out: Damage[] = [];
  let inner = 0;
  const listed = new Map<string, { inner: number; length: number }>();
  for (const c of h.chunks) {
    listed.set(c.id.toString("latin1"), { inner, length: c.length });
    inner += c.length;
  }
  const present = list.filter((e) => {
    const l = listed.get(e.id.toString("latin1"));
    if (l && l.inner === e.innerOffset && l.length === e.rawLength) return true;
    out.push([e, "not-in-frame", "the frame's header does not list it there"]);
    return false;
  });
  if (!readData || present.length === 0) return out;
  let raw: Buffer;
  try {
    raw = codec.decode(h.codec, buf.subarray(h.headerLength), h.rawLength);
  } catch (err) {
    return [...out, ...present.map((e): Damage => [e, "bad-data", (err as Error).message])];
  }
  for (const e of present)
    if (!blake3(raw.subarray(e.innerOffset, e.innerOffset + e.rawLength)).equals(e.id))
      out.push([e, "bad-hash", "its bytes do not hash to its id"]);
  return out;
}
