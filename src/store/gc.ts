import { closeSync, openSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { Exit, NitroError, corrupt, fromSystemError, usage } from "../util/errors.js";
import type { FrameCodec } from "./codec.js";
import { decodeLocation, type IndexDb } from "./index-db.js";
import { GcGuard } from "./gc-guard.js";
import { GcOutput, syncDir } from "./gc-output.js";
import { liveChunkKeys, planGc, type GcPlan, type IndexedFrame, type PackUse } from "./gc-plan.js";
import { packDir, packIds, packPath } from "./layout.js";
import { RepoLock } from "./lock.js";
import { checkedChunk, decodeCopied } from "./frame-check.js";
import { PackReader, parseFrameHeader } from "./pack.js";
import { pausePoint } from "./pause.js";
import type { FrameChunk } from "./types.js";

/** Raw bytes per regrouped frame, as the writer makes them. */
const FRAME_TARGET = 2 * 1024 * 1024;
/** Like restic's prune: rewrite a pack once more than 5% of it is unused. */
export const DEFAULT_MAX_UNUSED = 5;
/** Attempts when recipes stored meanwhile (a push announcing an image) revive chunks gc meant to drop. */
const ATTEMPTS = 3;

export interface GcOptions {
  dryRun?: boolean;
  /** Percent of a pack that may be unused before its live frames are copied out (0-100). */
  maxUnused?: number;
  lockWait?: number;
  onProgress?: (p: { copiedBytes: number; totalBytes: number }) => void;
}

export interface GcReport {
  dryRun: boolean;
  packsBefore: number;
  packsAfter: number;
  /** Packs whose live frames were copied into new packs, then deleted. */
  packsRewritten: number;
  /** Packs deleted with nothing live in them (rewritten ones not counted). */
  packsDeleted: number;
  packsWritten: number;
  chunksDeleted: number;
  /** Bytes of pack files before and after (a dry run estimates after). */
  packBytesBefore: number;
  packBytesAfter: number;
  bytesReclaimed: number;
  /** Bytes the live chunks take in packs (a frame partly live counts in proportion). */
  liveBytes: number;
  unusedBytesBefore: number;
  unusedBytesAfter: number;
}

/** What gc works on: the Store gives itself. */
export interface GcTarget {
  readonly dir: string;
  readonly index: IndexDb;
  readonly codec: FrameCodec;
}

/**
 * Reclaims the space of chunks no recipe uses and of pack bytes no index entry points at. Under
 * the writer lock: live frames of packs above the unused threshold are copied into new packs and
 * fsynced, one index transaction points the chunks at them (dead entries deleted, counters
 * recounted), and only then are the old packs deleted. A crash before the transaction leaves the
 * new packs unreferenced, after it the old ones: either way the next gc deletes them. Readers
 * (export, serve) that lose a pack re-read the chunk's location and retry (see Store).
 */
export async function gcStore(store: GcTarget, opts: GcOptions = {}): Promise<GcReport> {
  const maxUnused = opts.maxUnused ?? DEFAULT_MAX_UNUSED;
  if (!Number.isFinite(maxUnused) || maxUnused < 0 || maxUnused > 100)
    throw usage(`--max-unused takes a percentage from 0 to 100, got '${maxUnused}'`);
  const lock = await RepoLock.acquire(join(store.dir, "lock"), opts.lockWait ?? 10);
  let guard: GcGuard;
  try {
    guard = await GcGuard.exclusive(store.dir, opts.lockWait ?? 10);
  } catch (err) {
    lock.release();
    throw err;
  }
  try {
    await pausePoint("gc:locked");
    let first: Before | undefined;
    let orphans = 0;
    for (let attempt = 1; ; attempt++) {
      const plan = planGc(store.dir, store.index, maxUnused);
      await pausePoint("gc:planned");
      if (opts.dryRun) return estimate(plan);
      first ??= before(plan);
      markTopPack(store.dir, plan);
      // Packs nothing ever pointed at go first: on a full disk that makes room for the rest.
      orphans += await dropUnindexed(store.dir, plan);
      const out = new GcOutput(store.dir, plan.topPack + 1);
      try {
        await copyLiveFrames(store, plan, out, opts.onProgress);
        out.finish();
      } catch (err) {
        out.discard();
        throw err;
      }
      await pausePoint("gc:copied");
      let switched: boolean;
      try {
        switched = switchIndex(store.index, plan, out);
      } catch (err) {
        out.discard();
        throw err;
      }
      if (!switched) {
        out.discard();
        if (attempt < ATTEMPTS) continue;
        throw new NitroError(Exit.LOCKED, "recipes kept changing during gc; retry later");
      }
      await pausePoint("gc:switched");
      await retire(store.dir, plan);
      return measure(store, plan, out, first, orphans);
    }
  } catch (err) {
    // LMDB reports a full disk by its message only.
    if (!(err instanceof NitroError) && /no space left on device/i.test(String(err)))
      throw new NitroError(Exit.NO_SPACE, "gc: no space left on device");
    throw fromSystemError(err, "gc");
  } finally {
    guard.release();
    lock.release();
  }
}

const sum = (packs: PackUse[], f: (p: PackUse) => number) => packs.reduce((s, p) => s + f(p), 0);

interface Before {
  packsBefore: number;
  packBytesBefore: number;
  liveBytes: number;
  unusedBytesBefore: number;
}

function before(plan: GcPlan): Before {
  const packBytesBefore = sum(plan.packs, (p) => p.size);
  const liveBytes = sum(plan.packs, (p) => p.liveBytes);
  return {
    packsBefore: plan.packs.length,
    packBytesBefore,
    liveBytes,
    unusedBytesBefore: packBytesBefore - liveBytes,
  };
}

function estimate(plan: GcPlan): GcReport {
  const b = before(plan);
  const bytesReclaimed = sum(plan.drop, (p) => p.size) + sum(plan.rewrite, (p) => p.size - p.liveBytes);
  const written = Math.ceil(sum(plan.rewrite, (p) => p.liveBytes) / (1024 * 1024 * 1024));
  return {
    dryRun: true,
    packsAfter: plan.packs.length - plan.drop.length - plan.rewrite.length + written,
    packsRewritten: plan.rewrite.length,
    packsDeleted: plan.drop.length,
    packsWritten: written,
    chunksDeleted: plan.deadChunks.length,
    ...b,
    packBytesAfter: b.packBytesBefore - bytesReclaimed,
    bytesReclaimed,
    unusedBytesAfter: b.unusedBytesBefore - bytesReclaimed,
  };
}

function measure(store: GcTarget, plan: GcPlan, out: GcOutput, b: Before, orphans: number): GcReport {
  const after = planGc(store.dir, store.index, 100);
  const packBytesAfter = sum(after.packs, (p) => p.size);
  const liveBytes = sum(after.packs, (p) => p.liveBytes);
  return {
    dryRun: false,
    packsBefore: b.packsBefore,
    packsAfter: after.packs.length,
    packsRewritten: plan.rewrite.length,
    packsDeleted: plan.drop.length + orphans,
    packsWritten: out.packIds.length,
    chunksDeleted: plan.deadChunks.length,
    packBytesBefore: b.packBytesBefore,
    packBytesAfter,
    bytesReclaimed: b.packBytesBefore - packBytesAfter,
    liveBytes,
    unusedBytesBefore: b.unusedBytesBefore,
    unusedBytesAfter: packBytesAfter - liveBytes,
  };
}

/**
 * Copies the live chunks of the packs to rewrite: a stored frame whose chunks are all live goes
 * byte for byte; the live chunks of the others are checked against their ids and regrouped.
 */
async function copyLiveFrames(
  store: GcTarget,
  plan: GcPlan,
  out: GcOutput,
  onProgress: GcOptions["onProgress"],
): Promise<void> {
  const reader = new PackReader((id) => packPath(store.dir, id));
  const totalBytes = sum(plan.rewrite, (p) => p.liveBytes);
  let copiedBytes = 0;
  let group: { chunks: FrameChunk[]; parts: Buffer[]; raw: number } = { chunks: [], parts: [], raw: 0 };
  const flushGroup = () => {
    if (group.chunks.length === 0) return;
    const { codec, payload } = store.codec.encode(Buffer.concat(group.parts, group.raw));
    out.appendFrame(codec, group.chunks, payload);
    group = { chunks: [], parts: [], raw: 0 };
  };
  try {
    for (const pack of plan.rewrite)
      for (const frame of pack.liveFrames) {
        const frames = out.frames;
        const bytes = reader.read(frame.pack, frame.offset, frame.length);
        const where = `pack ${frame.pack} at ${frame.offset}`;
        const h = parseFrameHeader(bytes, where);
        if (h.headerLength + h.payloadLength !== frame.length)
          throw corrupt(`${where}: the frame's header disagrees with the index (run 'nitro check')`);
        // Every live chunk is checked, also in a frame copied as stored: damage is not carried on.
        const check = { codec: store.codec, where, hint: "run 'nitro check --read-data'" };
        const whole = wholeAndLive(frame, h.chunks);
        const raw = decodeCopied(check, h, bytes.subarray(h.headerLength), whole);
        const live = frame.chunks.flatMap((c) =>
          c.live
            ? [{ id: c.id, data: checkedChunk(check, raw, c.id, c.loc.innerOffset, c.loc.rawLength) }]
            : [],
        );
        if (whole) out.append(bytes.subarray(0, h.headerLength), bytes.subarray(h.headerLength), h.chunks);
        else {
          for (const { id, data } of live) {
            group.chunks.push({ id, length: data.length });
            group.parts.push(data);
            group.raw += data.length;
            if (group.raw >= FRAME_TARGET) flushGroup();
          }
        }
        copiedBytes += Math.round((frame.length * frame.liveRaw) / frame.indexedRaw);
        onProgress?.({ copiedBytes, totalBytes });
        if (out.frames > frames) await pausePoint(`gc:frame:${out.frames}`);
      }
    const frames = out.frames;
    flushGroup();
    if (out.frames > frames) await pausePoint(`gc:frame:${out.frames}`);
  } finally {
    reader.close();
  }
}

/** Whether the frame's header lists exactly its indexed chunks, all live, where the index says. */
function wholeAndLive(frame: IndexedFrame, listed: FrameChunk[]): boolean {
  if (listed.length !== frame.chunks.length || frame.chunks.some((c) => !c.live)) return false;
  const at = new Set<string>();
  let inner = 0;
  for (const c of listed) {
    at.add(`${c.id.toString("latin1")}:${inner}:${c.length}`);
    inner += c.length;
  }
  return frame.chunks.every((c) =>
    at.has(`${c.id.toString("latin1")}:${c.loc.innerOffset}:${c.loc.rawLength}`),
  );
}

/**
 * The one transaction: moved chunks point at their new packs, dead entries go, counters are
 * recounted. Returns false, writing nothing, if a recipe stored since the plan uses a chunk whose
 * pack is being retired uncopied (the caller plans again).
 */
function switchIndex(index: IndexDb, plan: GcPlan, out: GcOutput): boolean {
  const retired = new Set([...plan.rewrite, ...plan.drop].map((p) => p.id));
  return index.env.transactionSync(() => {
    const live = liveChunkKeys(index);
    const dead = [];
    for (const id of plan.deadChunks) {
      const key = id.toString("latin1");
      if (!live.has(key)) dead.push(id);
      else if (!out.moved.has(key)) {
        const v = index.chunks.get(id);
        if (v && retired.has(decodeLocation(v).pack)) return false;
      }
    }
    for (const [key, loc] of out.moved) index.chunks.putSync(Buffer.from(key, "latin1"), loc);
    for (const id of dead) index.chunks.removeSync(id);
    const frames = new Set<string>();
    const counters = { chunks: 0, uniqueBytes: 0, storedBytes: 0 };
    for (const { value } of index.chunks.getRange()) {
      const loc = decodeLocation(value);
      counters.chunks++;
      counters.uniqueBytes += loc.rawLength;
      const k = `${loc.pack}:${loc.frameOffset}`;
      if (!frames.has(k)) {
        frames.add(k);
        counters.storedBytes += loc.frameLength;
      }
    }
    index.meta.putSync("counters", counters);
    return true;
  });
}

/**
 * Deletes the packs no index entry points into (never read by anyone, as the index points into a
 * pack only once it is complete and durable), takes them out of the plan, returns how many.
 */
async function dropUnindexed(dir: string, plan: GcPlan): Promise<number> {
  const orphans = plan.drop.filter((p) => !p.indexed);
  if (orphans.length === 0) return 0;
  for (const p of orphans) unlinkSync(packPath(dir, p.id));
  syncDir(packDir(dir));
  await pausePoint("gc:orphans");
  plan.drop = plan.drop.filter((p) => p.indexed);
  plan.packs = plan.packs.filter((p) => p.indexed || !orphans.includes(p));
  return orphans.length;
}

/**
 * Pack ids are never used twice, so that a reader holding a retired pack open never mistakes a
 * new pack for it: if the highest-numbered pack is to go and gc writes no pack above it, an empty
 * pack takes the next number first (planGc keeps an empty top pack).
 */
function markTopPack(dir: string, plan: GcPlan): void {
  const top = plan.topPack;
  const going = new Set(plan.drop.map((p) => p.id));
  const kept = plan.packs.filter((p) => !going.has(p.id)).map((p) => p.id);
  if (plan.rewrite.length > 0 || Math.max(0, ...kept) >= top) return;
  closeSync(openSync(packPath(dir, top + 1), "wx"));
  syncDir(packDir(dir));
  plan.topPack = top + 1;
}

/** Deletes the packs the index no longer points into, now that it points elsewhere. */
async function retire(dir: string, plan: GcPlan): Promise<void> {
  const retired = [...plan.rewrite, ...plan.drop].map((p) => p.id).sort((a, b) => a - b);
  if (retired.length === 0) return;
  let n = 0;
  for (const id of retired) {
    unlinkSync(packPath(dir, id));
    await pausePoint(`gc:unlinked:${++n}`);
  }
  syncDir(packDir(dir));
}

/** Bytes of all pack files (for tests and reports). */
export function packBytes(dir: string): number {
  return packIds(dir).reduce((s, id) => s + statSync(packPath(dir, id)).size, 0);
}
