import type { FrameCodec } from "../../store/codec.js";
import { parseFrameHeader } from "../../store/pack.js";
import type { ChunkId, Frame, FrameChunk } from "../../store/types.js";
import { corrupt, notFound } from "../../util/errors.js";
import type { Bucket } from "./bucket.js";
import { packKey } from "./layout.js";
import { mapAhead } from "./parallel.js";
import type { ChunkLocation, SiteIndex } from "./site-index.js";

/** Frames of one pack this close together are fetched in one ranged GET, up to RANGE_MAX_BYTES. */
const RANGE_GAP_BYTES = 256 * 1024;
const RANGE_MAX_BYTES = 16 * 1024 * 1024;
/** Ranged GETs in flight (ahead of the consumer). */
const RANGES_IN_FLIGHT = 4;
/** Chunks cut out of partly wanted frames are regrouped into frames of about this size. */
const REFRAME_TARGET = 2 * 1024 * 1024;
/** ...and of at most this many chunks (the wire's limit per frame). */
const REFRAME_MAX_CHUNKS = 4096;

interface WantedFrame {
  pack: string;
  offset: number;
  length: number;
  wanted: Array<{ id: ChunkId; loc: ChunkLocation }>;
}

interface Range {
  pack: string;
  start: number;
  end: number;
  frames: WantedFrame[];
}

/**
 * The frames holding exactly `ids`, read with ranged GETs of the pack objects (several in
 * flight). A stored frame whose chunks are all wanted goes out as stored; the wanted chunks of
 * the others are cut out and recompressed together. Rejects with NOT_FOUND before yielding
 * anything when the site lacks one of the chunks (after listing its index again).
 */
export async function* readFramesFromBucket(
  bucket: Bucket,
  index: SiteIndex,
  codec: FrameCodec,
  ids: ChunkId[],
  siteName: string,
): AsyncGenerator<Frame> {
  await index.ensure();
  if (ids.some((id) => !index.has(id))) await index.refresh();
  const frames = new Map<string, WantedFrame>();
  const seen = new Set<string>();
  for (const id of ids) {
    const key = id.toString("latin1");
    if (seen.has(key)) continue;
    seen.add(key);
    const loc = index.location(id);
    if (!loc) throw notFound(`chunk ${id.toString("hex")} is not at site '${siteName}'`);
    const fk = `${loc.pack}:${loc.frameOffset}`;
    const f = frames.get(fk);
    if (f) f.wanted.push({ id, loc });
    else
      frames.set(fk, {
        pack: loc.pack,
        offset: loc.frameOffset,
        length: loc.frameLength,
        wanted: [{ id, loc }],
      });
  }

  let partial: { chunks: FrameChunk[]; parts: Buffer[]; raw: number } = { chunks: [], parts: [], raw: 0 };
  const flushPartial = (): Frame => {
    const { codec: c, payload } = codec.encode(Buffer.concat(partial.parts, partial.raw));
    const frame = { codec: c, chunks: partial.chunks, payload };
    partial = { chunks: [], parts: [], raw: 0 };
    return frame;
  };
  const fetch = async (r: Range) => ({
    r,
    bytes: await bucket.getRange(packKey(r.pack), r.start, r.end - r.start),
  });
  for await (const { r, bytes } of mapAhead(ranges([...frames.values()]), RANGES_IN_FLIGHT, fetch)) {
    for (const f of r.frames) {
      const where = `s3 object ${packKey(f.pack)} at ${f.offset}`;
      const buf = bytes.subarray(f.offset - r.start, f.offset - r.start + f.length);
      const h = parseFrameHeader(buf, where);
      if (h.headerLength + h.payloadLength !== f.length)
        throw corrupt(`${where}: frame length differs from the index`);
      const listed = new Set(h.chunks.map((c) => c.id.toString("latin1")));
      if (f.wanted.some((w) => !listed.has(w.id.toString("latin1"))))
        throw corrupt(`${where}: the frame lacks a chunk the index puts there`);
      const payload = buf.subarray(h.headerLength);
      if (f.wanted.length === h.chunks.length) {
        yield { codec: h.codec, chunks: h.chunks, payload };
        continue;
      }
      const raw = codec.decode(h.codec, payload, h.rawLength);
      for (const { id, loc } of f.wanted) {
        partial.chunks.push({ id, length: loc.rawLength });
        partial.parts.push(raw.subarray(loc.innerOffset, loc.innerOffset + loc.rawLength));
        partial.raw += loc.rawLength;
        if (partial.raw >= REFRAME_TARGET || partial.chunks.length >= REFRAME_MAX_CHUNKS)
          yield flushPartial();
      }
    }
  }
  if (partial.chunks.length > 0) yield flushPartial();
}

/** Wanted frames grouped into ranged reads: by pack, in offset order, near neighbours merged. */
function ranges(frames: WantedFrame[]): Range[] {
  frames.sort((a, b) => (a.pack < b.pack ? -1 : a.pack > b.pack ? 1 : a.offset - b.offset));
  const out: Range[] = [];
  for (const f of frames) {
    const last = out.at(-1);
    const end = f.offset + f.length;
    if (
      last &&
      last.pack === f.pack &&
      f.offset - last.end <= RANGE_GAP_BYTES &&
      end - last.start <= RANGE_MAX_BYTES
    ) {
      last.end = Math.max(last.end, end);
      last.frames.push(f);
    } else out.push({ pack: f.pack, start: f.offset, end, frames: [f] });
  }
  return out;
}
