import type { FrameCodec } from "../../store/codec.js";
import { checkedChunk, decodeCopied } from "../../store/frame-check.js";
import { parseFrameHeader } from "../../store/pack.js";
import type { Bucket } from "./bucket.js";
import { INDEXES, PACKS, indexKey, packIdOfIndexKey, packIdOfPackKey, packKey } from "./layout.js";
import { PackBuilder } from "./pack-builder.js";
import { decodePackIndex, encodePackIndex, type PackEntry } from "./pack-index.js";
import { mapLimit } from "./parallel.js";

const GETS_IN_FLIGHT = 8;

/** The site's packs as listed now: each pack object's size, and each index object's entries. */
export interface PackSet {
  packSizes: Map<string, number>;
  indexes: Map<string, PackEntry[]>;
}

/** Lists packs/ and index/ and reads every index object (for gc and verify, under a lock). */
export async function listPackSet(bucket: Bucket): Promise<PackSet> {
  const [packs, idx] = await Promise.all([bucket.list(PACKS), bucket.list(INDEXES)]);
  const packSizes = new Map<string, number>();
  for (const o of packs) {
    const id = packIdOfPackKey(o.key);
    if (id) packSizes.set(id, o.size);
  }
  const ids = idx.map((o) => packIdOfIndexKey(o.key)).filter((p): p is string => p !== undefined);
  const loaded = await mapLimit(ids, GETS_IN_FLIGHT, async (id) => {
    const bytes = await bucket.get(indexKey(id));
    return { id, entries: bytes ? decodePackIndex(bytes, `s3 object ${indexKey(id)}`) : [] };
  });
  return { packSizes, indexes: new Map(loaded.map((l) => [l.id, l.entries])) };
}

/**
 * Copies the `keep` chunks of a pack into a new pack and its index object: frames whose chunks
 * are all kept verbatim, the others cut down and recompressed. Returns the new pack (undefined when
 * nothing is kept). The old pack and index stay: the caller deletes them once this is stored.
 * With `check` (gc), every kept chunk is first checked against its id: CORRUPT, nothing written,
 * if one does not match (repair keeps what verify has just read).
 */
export async function rewritePack(
  bucket: Bucket,
  codec: FrameCodec,
  pack: string,
  keep: PackEntry[],
  opts: { check?: boolean } = {},
): Promise<PackBuilder | undefined> {
  if (keep.length === 0) return undefined;
  const bytes = await bucket.get(packKey(pack));
  if (!bytes) return undefined;
  const byFrame = new Map<number, PackEntry[]>();
  for (const e of keep) byFrame.set(e.frameOffset, [...(byFrame.get(e.frameOffset) ?? []), e]);
  const out = new PackBuilder();
  for (const [offset, entries] of [...byFrame].sort((a, b) => a[0] - b[0])) {
    const buf = bytes.subarray(offset, offset + entries[0]!.frameLength);
    const where = `s3 object ${packKey(pack)} at ${offset}`;
    const h = parseFrameHeader(buf, where);
    const payload = buf.subarray(h.headerLength);
    const whole = entries.length === h.chunks.length;
    if (whole && !opts.check) {
      out.add({ codec: h.codec, chunks: h.chunks, payload });
      continue;
    }
    const check = { codec, where, hint: "run 'nitro verify --read-data'" };
    const raw = decodeCopied(check, h, payload, whole);
    if (opts.check) for (const e of entries) checkedChunk(check, raw, e.id, e.innerOffset, e.rawLength);
    if (whole) {
      out.add({ codec: h.codec, chunks: h.chunks, payload });
      continue;
    }
    const cut = Buffer.concat(entries.map((e) => raw.subarray(e.innerOffset, e.innerOffset + e.rawLength)));
    const { codec: c, payload: p } = codec.encode(cut);
    out.add({ codec: c, chunks: entries.map((e) => ({ id: e.id, length: e.rawLength })), payload: p });
  }
  await bucket.put(packKey(out.id), out.body());
  await bucket.put(indexKey(out.id), encodePackIndex(out.entries));
  return out;
}

/** Retires a pack: its index object first (so that no reader is sent to it), then the pack. */
export async function deletePack(bucket: Bucket, pack: string): Promise<void> {
  await bucket.delete(indexKey(pack));
  await bucket.delete(packKey(pack));
}
