import type { GcReport } from "../store/gc.js";
import type { ImageStatus, SpaceInfo } from "../store/status.js";
import { protocolError } from "./errors.js";
import { Limits } from "./protocol.js";

/**
 * Bodies of the lifecycle messages, all JSON: REMOVE_RECIPES and REMOVED carry a list of image
 * names; STATUS a list of names (an empty body: every image), STATUS_LIST … END the statuses; GC
 * its options and GC_REPORT the report; SPACE nothing and SPACE_INFO the counts (free and total
 * bytes null where unknown: an object store). Every field is
 * checked on arrival: what a site says is data, never trusted.
 */
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isName = (v: unknown): v is string =>
  typeof v === "string" && v.length > 0 && Buffer.byteLength(v) <= Limits.NAME_BYTES;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

function parse(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw protocolError(`${what} is not JSON`);
  }
}

function json(value: unknown, what: string): Buffer {
  const b = Buffer.from(JSON.stringify(value));
  if (b.length > Limits.LIST_BYTES) throw protocolError(`${what} of ${b.length} bytes is too big to send`);
  return b;
}

export function encodeNames(names: string[]): Buffer {
  return json(names, "image name list");
}

export function decodeNames(body: Buffer): string[] {
  const v = parse(body, "image name list");
  if (!Array.isArray(v) || !v.every(isName)) throw protocolError("malformed image name list");
  return v;
}

/** STATUS: the names asked for, or undefined for every image (an empty body). */
export function encodeStatusRequest(names?: string[]): Buffer | undefined {
  return names === undefined ? undefined : encodeNames(names);
}

export function decodeStatusRequest(body: Buffer): string[] | undefined {
  return body.length === 0 ? undefined : decodeNames(body);
}

export interface GcRequest {
  dryRun: boolean;
  maxUnused?: number;
}

export function encodeGcRequest(r: GcRequest): Buffer {
  return json(r, "gc request");
}

export function decodeGcRequest(body: Buffer): GcRequest {
  const v = parse(body, "gc request");
  if (
    !isRecord(v) ||
    typeof v.dryRun !== "boolean" ||
    (v.maxUnused !== undefined && (typeof v.maxUnused !== "number" || !Number.isFinite(v.maxUnused)))
  )
    throw protocolError("malformed gc request");
  return { dryRun: v.dryRun, ...(v.maxUnused !== undefined ? { maxUnused: v.maxUnused } : {}) };
}

const GC_COUNTS = [
  "packsBefore",
  "packsAfter",
  "packsRewritten",
  "packsDeleted",
  "packsWritten",
  "chunksDeleted",
  "packBytesBefore",
  "packBytesAfter",
  "bytesReclaimed",
  "liveBytes",
  "unusedBytesBefore",
  "unusedBytesAfter",
] as const satisfies ReadonlyArray<keyof GcReport>;

export function encodeGcReport(r: GcReport): Buffer {
  return json(r, "gc report");
}

export function decodeGcReport(body: Buffer): GcReport {
  const v = parse(body, "gc report");
  if (!isRecord(v) || typeof v.dryRun !== "boolean" || !GC_COUNTS.every((k) => isCount(v[k])))
    throw protocolError("malformed gc report");
  const report = { dryRun: v.dryRun } as GcReport;
  for (const k of GC_COUNTS) report[k] = v[k] as number;
  return report;
}

/** STATUS_LIST bodies: JSON arrays of statuses, each well within LIST_BYTES. */
export function encodeStatusList(list: ImageStatus[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < list.length;) {
    const batch: string[] = [];
    let bytes = 2;
    for (; i < list.length; i++) {
      const { name, recipe, size, dataBytes, presentBytes, complete } = list[i]!;
      const item = JSON.stringify({ name, recipe, size, dataBytes, presentBytes, complete });
      if (batch.length > 0 && bytes + item.length + 1 > Limits.LIST_BYTES / 4) break;
      batch.push(item);
      bytes += Buffer.byteLength(item) + 1;
    }
    out.push(Buffer.from(`[${batch.join(",")}]`));
  }
  return out;
}

export function decodeStatusList(body: Buffer): ImageStatus[] {
  const v = parse(body, "image status list");
  if (!Array.isArray(v)) throw protocolError("image status list is not an array");
  return v.map((s: unknown) => {
    if (
      !isRecord(s) ||
      !isName(s.name) ||
      typeof s.recipe !== "boolean" ||
      typeof s.complete !== "boolean" ||
      !isCount(s.size) ||
      !isCount(s.dataBytes) ||
      !isCount(s.presentBytes) ||
      s.presentBytes > s.dataBytes ||
      s.dataBytes > s.size
    )
      throw protocolError("malformed image status");
    return {
      name: s.name,
      recipe: s.recipe,
      size: s.size,
      dataBytes: s.dataBytes,
      presentBytes: s.presentBytes,
      complete: s.complete,
    };
  });
}

export function encodeSpace(s: SpaceInfo): Buffer {
  return json({ images: s.images, freeBytes: s.freeBytes, totalBytes: s.totalBytes }, "space info");
}

export function decodeSpace(body: Buffer): SpaceInfo {
  const v = parse(body, "space info");
  const isBytes = (b: unknown): b is number | null => b === null || isCount(b);
  if (!isRecord(v) || !isCount(v.images) || !isBytes(v.freeBytes) || !isBytes(v.totalBytes))
    throw protocolError("malformed space info");
  return { images: v.images, freeBytes: v.freeBytes, totalBytes: v.totalBytes };
}
