/**
 * VERIFY: the client asks a site to verify its store where the data is; the site streams
 * VERIFY_PROGRESS (done u64 | total u64, bytes of frames), VERIFY_FINDING (one finding as JSON,
 * the chunk id in hex) and last VERIFY_REPORT (JSON), then END. The request is JSON:
 * `{images: string[], readData: boolean, drop: boolean}`; a read-only server refuses `drop`.
 * What a site sends is data only: every field is checked for its type and shape.
 */
import type { ChunkDamage, Finding } from "../store/check.js";
import { validateImageName } from "../store/recipe.js";
import { ID_BYTES } from "../store/types.js";
import type { VerifyOptions, VerifyReport } from "../store/verify.js";
import { protocolError } from "./errors.js";
import { decodeU64, encodeU64 } from "./messages.js";
import { Limits } from "./protocol.js";

const CHUNK_KINDS: ReadonlySet<string> = new Set<ChunkDamage>([
  "missing-pack",
  "short-read",
  "bad-header",
  "not-in-frame",
  "bad-data",
  "bad-hash",
]);
const RECIPE_KINDS: ReadonlySet<string> = new Set(["bad-recipe", "missing-recipe"]);

function parseJson(body: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch {
    throw protocolError(`malformed ${what}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw protocolError(`malformed ${what}`);
  return v as Record<string, unknown>;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function names(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((n) => typeof n === "string")) throw protocolError(`malformed ${what}`);
  try {
    return v.map((n: string) => validateImageName(n));
  } catch {
    throw protocolError(`${what} names an invalid image`);
  }
}

export function encodeVerifyRequest(o: VerifyOptions): Buffer {
  const b = Buffer.from(JSON.stringify({ images: o.images, readData: o.readData, drop: o.drop }));
  if (b.length > Limits.JSON_BYTES) throw protocolError("too many images in one VERIFY");
  return b;
}

export function decodeVerifyRequest(body: Buffer): VerifyOptions {
  const o = parseJson(body, "VERIFY");
  if (typeof o.readData !== "boolean" || typeof o.drop !== "boolean") throw protocolError("malformed VERIFY");
  return { images: names(o.images, "VERIFY"), readData: o.readData, drop: o.drop };
}

export function encodeVerifyProgress(done: number, total: number): Buffer {
  return Buffer.concat([encodeU64(done), encodeU64(total)]);
}

export function decodeVerifyProgress(body: Buffer): { done: number; total: number } {
  if (body.length !== 16) throw protocolError("malformed VERIFY_PROGRESS");
  return { done: decodeU64(body.subarray(0, 8), "VERIFY_PROGRESS"), total: decodeU64(body.subarray(8), "") };
}

/** A finding as JSON; a chunk used by more images than fit names the first ones and counts the rest. */
export function encodeFinding(f: Finding): Buffer {
  const json = (images: string[], more: number) =>
    Buffer.from(
      JSON.stringify({
        ...f,
        ...("chunk" in f ? { chunk: f.chunk.toString("hex") } : {}),
        images,
        detail: more > 0 ? `${f.detail} (and ${more} more images)` : f.detail,
      }),
    );
  let images = f.images;
  let b = json(images, 0);
  while (b.length > Limits.JSON_BYTES && images.length > 1) {
    images = images.slice(0, images.length >> 1);
    b = json(images, f.images.length - images.length);
  }
  return b;
}

export function decodeFinding(body: Buffer): Finding {
  const o = parseJson(body, "VERIFY_FINDING");
  const images = names(o.images, "VERIFY_FINDING");
  if (typeof o.kind !== "string" || typeof o.detail !== "string")
    throw protocolError("malformed VERIFY_FINDING");
  if (RECIPE_KINDS.has(o.kind)) {
    if (images.length !== 1) throw protocolError("malformed VERIFY_FINDING");
    return { kind: o.kind as "bad-recipe" | "missing-recipe", images: [images[0]!], detail: o.detail };
  }
  if (
    !CHUNK_KINDS.has(o.kind) ||
    typeof o.chunk !== "string" ||
    !/^[0-9a-f]+$/.test(o.chunk) ||
    o.chunk.length !== ID_BYTES * 2 ||
    !isCount(o.pack) ||
    !isCount(o.offset)
  )
    throw protocolError("malformed VERIFY_FINDING");
  return {
    kind: o.kind as ChunkDamage,
    chunk: Buffer.from(o.chunk, "hex"),
    pack: o.pack,
    offset: o.offset,
    images,
    detail: o.detail,
  };
}

export function encodeVerifyReport(r: VerifyReport): Buffer {
  return Buffer.from(JSON.stringify(r));
}

export function decodeVerifyReport(body: Buffer): VerifyReport {
  const o = parseJson(body, "VERIFY_REPORT");
  const counts = [o.chunks, o.frames, o.images, o.findings, o.dropped];
  if (!counts.every(isCount)) throw protocolError("malformed VERIFY_REPORT");
  return {
    chunks: o.chunks as number,
    frames: o.frames as number,
    images: o.images as number,
    findings: o.findings as number,
    dropped: o.dropped as number,
    incomplete: names(o.incomplete, "VERIFY_REPORT"),
  };
}
