import type { FrameCodec } from "../../store/codec.js";
import { verifyAhead } from "../../store/receive.js";
import type { Frame, PutProgress, PutResult } from "../../store/types.js";
import type { Bucket } from "./bucket.js";
import { checkFrameHere } from "./check-frame.js";
import { indexKey, packKey } from "./layout.js";
import { PackBuilder } from "./pack-builder.js";
import { encodePackIndex } from "./pack-index.js";
import type { SiteIndex } from "./site-index.js";

/** A pack goes up once it holds this much; the next fills while it uploads. */
export const PACK_BYTES = 64 * 1024 * 1024;

/**
 * Receives frames for an s3:// site: checks each (hash, on the verifier worker ahead of the
 * packing, as a store receiving them does: src/store/receive.ts), keeps only the chunks the site lacks,
 * packs them and uploads each pack, then its index object. A chunk counts as stored once its
 * index object is: an interrupted upload leaves at most an unindexed pack (for gc), never an
 * index entry pointing at nothing.
 */
export async function putFramesToBucket(
  bucket: Bucket,
  index: SiteIndex,
  codec: FrameCodec,
  frames: AsyncIterable<Frame>,
  onProgress?: (p: PutProgress) => void,
): Promise<PutResult> {
  await index.ensure();
  const result: PutResult = { chunks: 0, rawBytes: 0, wireBytes: 0, skipped: 0 };
  const durable: PutProgress = { chunks: 0, rawBytes: 0, wireBytes: 0 };
  const pending = new Set<string>(); // chunks packed but not yet indexed at the site
  let pack = new PackBuilder();
  let uploading: Promise<void> = Promise.resolve();

  const upload = async (p: PackBuilder, wireBytes: number) => {
    await bucket.put(packKey(p.id), p.body());
    const idx = encodePackIndex(p.entries);
    await bucket.put(indexKey(p.id), idx);
    index.addWritten(p.id, p.entries, idx);
    for (const e of p.entries) pending.delete(e.id.toString("latin1"));
    durable.chunks += p.entries.length;
    durable.rawBytes += p.rawBytes;
    durable.wireBytes = wireBytes;
    onProgress?.({ ...durable, chunks: durable.chunks + result.skipped });
  };
  const sendPack = async () => {
    const p = pack;
    pack = new PackBuilder();
    await uploading; // one pack in flight: memory stays at two packs
    uploading = upload(p, result.wireBytes);
    uploading.catch(() => undefined); // awaited by the next sendPack or at the end
  };

  const keep = (frame: Frame) => {
    result.wireBytes += frame.payload.length;
    const fresh = frame.chunks.map((c) => {
      const key = c.id.toString("latin1");
      const isNew = !index.has(c.id) && !pending.has(key);
      if (isNew) pending.add(key);
      return isNew;
    });
    const stored = frame.chunks.filter((_, i) => fresh[i]);
    result.skipped += frame.chunks.length - stored.length;
    if (stored.length === 0) return;
    result.chunks += stored.length;
    result.rawBytes += stored.reduce((s, c) => s + c.length, 0);
    pack.add(stored.length === frame.chunks.length ? frame : reframe(frame, fresh, codec));
  };

  try {
    for await (const { frame, verified } of verifyAhead(frames)) {
      try {
        if (!verified) checkFrameHere(frame, codec);
        keep(frame);
      } finally {
        frame.release?.();
      }
      if (pack.size >= PACK_BYTES) await sendPack();
    }
    if (pack.entries.length > 0) await sendPack();
    await uploading;
    return result;
  } catch (err) {
    await uploading.catch(() => undefined);
    throw err;
  }
}

/** The frame cut down to the chunks marked in `keep`, re-encoded. */
function reframe(frame: Frame, keep: boolean[], codec: FrameCodec): Frame {
  const rawLength = frame.chunks.reduce((s, c) => s + c.length, 0);
  const raw = codec.decode(frame.codec, frame.payload, rawLength);
  const parts: Buffer[] = [];
  let o = 0;
  frame.chunks.forEach((c, i) => {
    if (keep[i]) parts.push(raw.subarray(o, o + c.length));
    o += c.length;
  });
  const { codec: c, payload } = codec.encode(Buffer.concat(parts));
  return { codec: c, chunks: frame.chunks.filter((_, i) => keep[i]), payload };
}
