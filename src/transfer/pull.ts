import { join } from "node:path";
import type { Writable } from "node:stream";
import { ImageAssembly } from "../image/image-assembly.js";
import { followAssembly } from "../image/image-follower.js";
import { plan as makePlan } from "../plan/plan.js";
import { NO_SITE, type Objective, type Plan, type PlanSite, type Strategy } from "../plan/types.js";
import type { ReadSite } from "../site/site.js";
import { uniqueChunks } from "../store/recipe.js";
import { storeFrame, verifyAhead, type CheckedFrame } from "../store/receive.js";
import type { Store } from "../store/store.js";
import { ENTRY_BYTES, type ChunkId, type Recipe } from "../store/types.js";
import { sharedVerifier } from "../store/verify-pool.js";
import type { StoreWriter } from "../store/writer.js";
import { Exit, NitroError } from "../util/errors.js";
import { maySteal } from "./steal-policy.js";

export interface PullSource extends PlanSite {
  site: ReadSite;
}

export interface PullOptions {
  objective?: Objective;
  strategy?: Strategy;
  lockWait?: number;
  /** Most raw bytes asked of a source in one request (a slow link gets smaller ones). */
  batchBytes?: number;
  /** Also writes the image file, chunk by chunk as frames arrive (sparse, verified, atomic). */
  output?: { path: string; force?: boolean };
  /**
   * Streams the image to this stream in order while it is fetched (through a temporary in the
   * store's directory, removed at the end); rejects, with a strict prefix written, if the pull fails.
   */
  stream?: Writable;
  onPlan?(plan: Plan, sources: readonly PullSource[]): void;
  onProgress?(source: string, bytes: number): void;
  onEvent?(message: string): void;
}

export interface SourceReport {
  site: string;
  plannedChunks: number;
  /** Planned and received bytes are wire bytes (stored frames and their header entries). */
  plannedBytes: number;
  plannedSeconds: number;
  chunks: number;
  bytes: number;
  /** The image bytes those chunks hold. */
  rawBytes: number;
  seconds: number;
  /** Chunks (and their planned wire bytes) it took over from other sources' queues. */
  stole: number;
  stolenBytes: number;
  failed?: string;
}

export interface PullReport {
  image: string;
  /** Distinct chunks of the image, and how many the destination already held. */
  chunks: number;
  present: number;
  fetchedChunks: number;
  /** Image bytes fetched, and the bytes that travelled for them. */
  fetchedBytes: number;
  wireBytes: number;
  predictedMakespan: number;
  lowerBound: number;
  seconds: number;
  /** $ of egress paid (on the wire bytes), and what the plan predicted. */
  cost: number;
  plannedCost: number;
  /** What work stealing moved away from the plan, and the $ it added (negative: saved). */
  stealing: StealingReport;
  sources: SourceReport[];
}

export interface StealingReport {
  chunks: number;
  bytes: number;
  cost: number;
}

/**
 * Executes a plan: one worker per source with a window of requests in flight. Every frame is
 * checked (each chunk's hash, on the verifier worker, as for a push) before it is kept. A source that runs out of its
 * own chunks takes queued ones from the source predicted to finish last (work stealing, by the
 * rates actually measured); a source that fails or sends a corrupt chunk is dropped and its
 * chunks go to the other holders.
 */
export interface Prepared {
  recipe: Recipe;
  /** Distinct chunks of the image, and how many the destination already holds. */
  chunks: number;
  present: number;
  needIds: ChunkId[];
  /** Chunks the destination already holds. */
  presentIds: ChunkId[];
  /** Per needed chunk: the largest stored size its holders report (what the plan counts), and its image bytes. */
  sizes: Uint32Array;
  rawSizes: Uint32Array;
  holders: Uint32Array;
  /** The sources that answered; holder bit s refers to sources[s]. */
  sources: PullSource[];
  plan: Plan;
}

/**
 * What the destination lacks, who holds it and at what stored size (one batched question per
 * site), and the plan, in wire bytes. A chunk's size is the largest its holders report: they
 * compress alike, and the prediction should not be short. Unreachable sites are left out with a
 * note.
 */
export async function preparePlan(
  destHas: (ids: ChunkId[]) => Promise<boolean[]> | boolean[],
  recipe: Recipe,
  all: PullSource[],
  opts: Pick<PullOptions, "objective" | "strategy" | "onEvent"> = {},
): Promise<Prepared> {
  const { ids, lengths } = uniqueChunks(recipe);
  const present = await destHas(ids);
  const need = ids.map((_, i) => i).filter((i) => !present[i]);
  const needIds = need.map((i) => ids[i]!);
  const answers = await Promise.allSettled(all.map((s) => s.site.storedSizes(needIds)));
  const sources = all.filter((s, i) => {
    const a = answers[i]!;
    if (a.status === "rejected")
      opts.onEvent?.(`${s.name}: unreachable, left out (${(a.reason as Error).message})`);
    return a.status === "fulfilled";
  });
  const holders = new Uint32Array(need.length);
  const sizes = new Uint32Array(need.length);
  const rawSizes = Uint32Array.from(need, (i) => lengths[i]!);
  answers
    .flatMap((a) => (a.status === "fulfilled" ? [a.value] : []))
    .forEach((held, s) =>
      held.forEach((size, k) => {
        if (size === 0) return;
        holders[k]! |= 1 << s;
        if (size > sizes[k]!) sizes[k] = size;
      }),
    );
  // A chunk nobody holds is counted at its image size (in unassignedBytes).
  sizes.forEach((size, k) => size === 0 && (sizes[k] = rawSizes[k]!));
  const plan = makePlan({ sites: sources, sizes, holders }, opts.objective ?? { kind: "time" }, {
    strategy: opts.strategy ?? "optimal",
  });
  return {
    recipe,
    chunks: ids.length,
    present: ids.length - need.length,
    needIds,
    presentIds: ids.filter((_, i) => present[i]),
    sizes,
    rawSizes,
    holders,
    sources,
    plan,
  };
}

export async function pullChunks(
  dest: Store,
  recipe: Recipe,
  all: PullSource[],
  opts: PullOptions = {},
): Promise<PullReport> {
  const t0 = performance.now();
  // The verifier's thread starts while the holders are asked, not when the first frame comes.
  sharedVerifier?.warm();
  const prep = await preparePlan((ids) => dest.has(ids), recipe, all, opts);
  const { needIds, sizes, rawSizes, holders, sources, plan: p } = prep;
  if (p.unassigned > 0)
    throw new NitroError(
      Exit.INCOMPLETE,
      `${p.unassigned} chunks of '${recipe.name}' (${p.unassignedBytes} bytes) are held by no reachable site: nothing was fetched`,
    );
  opts.onPlan?.(p, sources);

  const output = opts.stream
    ? new ImageAssembly(recipe, join(dest.dir, "pull-stream"), true)
    : opts.output && new ImageAssembly(recipe, opts.output.path, opts.output.force ?? false);
  const following = opts.stream && output && followAssembly(output, opts.stream);
  // Its failure (the reader went away) is the pull's, reported once the run has stopped.
  following?.catch(() => undefined);
  const writer = await dest.writer(opts.lockWait).catch(async (err: unknown) => {
    output?.abort();
    await following?.catch(() => undefined);
    throw err;
  });
  try {
    // A stream waits for its prefix: the chunks already here go in first.
    if (following) await output.placeFrom(dest, prep.presentIds);
    const run = new PullRun(needIds, sizes, holders, sources, p, writer, dest, output, opts);
    const reports = await run.execute();
    await writer.commit(recipe);
    if (following) {
      output.markComplete();
      await following;
      output.abort(); // removes the temporary
    } else if (output) {
      await output.placeFrom(dest, prep.presentIds);
      output.finish();
    }
    return {
      image: recipe.name,
      chunks: prep.chunks,
      present: prep.present,
      fetchedChunks: needIds.length,
      fetchedBytes: rawSizes.reduce((s, x) => s + x, 0),
      wireBytes: reports.reduce((s, r) => s + r.bytes, 0),
      predictedMakespan: p.makespan,
      lowerBound: p.lowerBound,
      seconds: (performance.now() - t0) / 1000,
      cost: reports.reduce((s, r, i) => s + (r.bytes / 1e9) * sources[i]!.cost, 0),
      plannedCost: p.cost,
      stealing: run.stealing,
      sources: reports,
    };
  } catch (err) {
    output?.abort();
    await following?.catch(() => undefined);
    // What did arrive is kept: running the pull again fetches only the rest.
    await writer.commit().catch(() => undefined);
    throw err;
  } finally {
    writer.close();
  }
}

const MIN_BATCH = 128 * 1024;
const BATCH_SECONDS = 0.2;
/** Wire bytes between commits: a pull killed or failed and run again fetches only the rest. */
const COMMIT_EVERY = 64 * 1024 * 1024;

class PullRun {
  private readonly queues: number[][];
  private readonly queuedBytes: number[];
  private readonly inflightBytes: number[];
  private readonly done: Uint8Array;
  private readonly alive: boolean[];
  private readonly index = new Map<string, number>();
  private readonly reports: SourceReport[];
  private readonly started = performance.now();
  private outstanding: number;
  private lost = 0;
  private wake: () => void = () => {};
  private changed!: Promise<void>;
  private readonly batchBytes: number;
  readonly stealing = { chunks: 0, bytes: 0, cost: 0 };
  /** Bytes stored since the last commit; while a commit is being begun, frames wait for it. */
  private sinceCommit = 0;
  private committing?: Promise<unknown>;
  private commits: Promise<void> = Promise.resolve();

  constructor(
    private readonly ids: ChunkId[],
    private readonly sizes: Uint32Array,
    private readonly holders: Uint32Array,
    private readonly sources: PullSource[],
    private readonly plan: Plan,
    private readonly writer: StoreWriter,
    private readonly dest: Store,
    private readonly output: ImageAssembly | undefined,
    private readonly opts: PullOptions,
  ) {
    this.queues = sources.map(() => []);
    this.queuedBytes = sources.map(() => 0);
    this.inflightBytes = sources.map(() => 0);
    plan.assignment.forEach((s, k) => {
      if (s === NO_SITE) return;
      this.queues[s]!.push(k);
      this.queuedBytes[s]! += sizes[k]!;
    });
    ids.forEach((id, k) => this.index.set(id.toString("latin1"), k));
    this.done = new Uint8Array(ids.length);
    this.alive = sources.map(() => true);
    this.outstanding = ids.length;
    this.batchBytes = opts.batchBytes ?? 4 * 1024 * 1024;
    this.reports = sources.map((s, i) => ({
      site: s.name,
      plannedChunks: plan.chunksPerSite[i]!,
      plannedBytes: plan.bytesPerSite[i]!,
      plannedSeconds: plan.secondsPerSite[i]!,
      chunks: 0,
      bytes: 0,
      rawBytes: 0,
      seconds: 0,
      stole: 0,
      stolenBytes: 0,
    }));
    this.resetSignal();
  }

  async execute(): Promise<SourceReport[]> {
    await Promise.all(this.sources.map((_, s) => this.worker(s)));
    await this.commits;
    if (this.lost > 0)
      throw new NitroError(
        Exit.INCOMPLETE,
        `${this.lost} chunks could not be fetched: every site holding them failed (${this.reports
          .filter((r) => r.failed)
          .map((r) => `${r.site}: ${r.failed}`)
          .join("; ")})`,
      );
    return this.reports;
  }

  private resetSignal(): void {
    this.changed = new Promise((r) => (this.wake = r));
  }

  private signal(): void {
    this.wake();
    this.resetSignal();
  }

  /**
   * Bytes per request: about 1/5 s of the source's rate. What is in flight cannot be stolen, so a
   * slow link must not hold seconds of it when the others run out of work.
   */
  private batch(s: number): number {
    return Math.min(this.batchBytes, Math.max(MIN_BATCH, this.rate(s) * BATCH_SECONDS));
  }

  /** Requests in flight per source: enough to cover bandwidth × RTT, plus two. */
  private window(s: number): number {
    return Math.ceil((this.rate(s) * (this.sources[s]!.rtt ?? 0)) / this.batch(s)) + 2;
  }

  /** Some chunk lost every holder: the pull fails, so the workers stop at once. */
  private get doomed(): boolean {
    return this.lost > 0;
  }

  private async worker(s: number): Promise<void> {
    const inflight = new Set<Promise<void>>();
    while (this.alive[s] && this.outstanding > 0 && !this.doomed) {
      const batch = this.take(s) ?? this.steal(s);
      if (batch) {
        const req: Promise<void> = this.fetch(s, batch).finally(() => inflight.delete(req));
        inflight.add(req);
        if (inflight.size >= this.window(s)) await Promise.race(inflight);
      } else if (inflight.size > 0) await Promise.race(inflight);
      else await this.changed;
    }
    await Promise.all(inflight);
    this.reports[s]!.seconds = (performance.now() - this.started) / 1000;
  }

  private take(s: number): number[] | undefined {
    const q = this.queues[s]!;
    if (q.length === 0) return undefined;
    const batch: number[] = [];
    let bytes = 0;
    const limit = this.batch(s);
    while (q.length > 0 && bytes < limit) {
      const k = q.shift()!;
      batch.push(k);
      bytes += this.sizes[k]!;
    }
    this.queuedBytes[s]! -= bytes;
    return batch;
  }

  /** Measured rate once there is something to measure, the matrix's figure before. */
  private rate(s: number): number {
    const elapsed = (performance.now() - this.started) / 1000;
    const r = this.reports[s]!;
    return r.bytes > 4 * MIN_BATCH && elapsed > 0.1 ? r.bytes / elapsed : this.sources[s]!.bandwidth;
  }

  /**
   * Takes queued chunks it also holds from the source expected to finish last, if it would finish
   * them (after what it already has in flight) before that source gets to them, and the plan's
   * objective allows it (maySteal: never for a baseline, never dearer for cost).
   */
  private steal(s: number): number[] | undefined {
    const bit = 1 << s;
    const order = this.sources
      .map((_, t) => t)
      .filter((t) => t !== s && this.alive[t] && this.queues[t]!.length > 0)
      .sort((a, b) => this.queuedBytes[b]! / this.rate(b) - this.queuedBytes[a]! / this.rate(a));
    const elapsed = (performance.now() - this.started) / 1000;
    const price = (i: number) => this.sources[i]!.cost;
    for (const t of order) {
      const victimLeft = this.queuedBytes[t]! / this.rate(t);
      const limit = this.batch(s);
      if ((this.inflightBytes[s]! + limit) / this.rate(s) >= victimLeft) continue;
      const steal = { thiefPrice: price(s), victimPrice: price(t), victimFinish: elapsed + victimLeft };
      if (!maySteal(this.plan, steal)) continue;
      const q = this.queues[t]!;
      const batch: number[] = [];
      let bytes = 0;
      for (let j = q.length - 1; j >= 0 && bytes < limit; j--) {
        const k = q[j]!;
        if ((this.holders[k]! & bit) === 0) continue;
        batch.push(k);
        bytes += this.sizes[k]!;
        q.splice(j, 1);
      }
      if (batch.length === 0) continue;
      this.queuedBytes[t]! -= bytes;
      this.reports[s]!.stole += batch.length;
      this.reports[s]!.stolenBytes += bytes;
      this.stealing.chunks += batch.length;
      this.stealing.bytes += bytes;
      this.stealing.cost += (bytes * (price(s) - price(t))) / 1e9;
      return batch;
    }
    return undefined;
  }

  private async fetch(s: number, batch: number[]): Promise<void> {
    const src = this.sources[s]!;
    let inflight = batch.reduce((n, k) => n + this.sizes[k]!, 0);
    this.inflightBytes[s]! += inflight;
    try {
      for await (const checked of verifyAhead(src.site.getFrames(batch.map((k) => this.ids[k]!)))) {
        if (!this.alive[s]) throw new NitroError(Exit.REMOTE, "source dropped");
        // Leaving the loop cancels the download; the run is failing, its report says why.
        if (this.doomed) return;
        // Read before storing: storing gives the frame's buffer (ids included) back for reuse.
        const got = checked.frame.chunks.map((c) => ({ key: c.id.toString("latin1"), length: c.length }));
        this.reports[s]!.bytes += checked.frame.payload.length + got.length * ENTRY_BYTES;
        await this.keep(checked);
        for (const c of got) {
          const k = this.index.get(c.key);
          if (k === undefined || this.done[k]) continue;
          this.done[k] = 1;
          this.outstanding--;
          this.reports[s]!.chunks++;
          this.reports[s]!.rawBytes += c.length;
          this.inflightBytes[s]! -= this.sizes[k]!;
          inflight -= this.sizes[k]!;
        }
        this.opts.onProgress?.(src.name, this.reports[s]!.bytes);
      }
      const missed = batch.filter((k) => !this.done[k]);
      if (missed.length > 0)
        throw new NitroError(Exit.REMOTE, `did not send ${missed.length} requested chunks`);
    } catch (err) {
      this.drop(s, err as Error, batch);
    } finally {
      this.inflightBytes[s]! -= inflight;
      if (this.outstanding === 0) this.signal();
    }
  }

  /**
   * Writes a checked frame's chunks into the output file, at their offsets, and stores it; every
   * COMMIT_EVERY bytes a commit begins (frames wait until it has taken what came before them).
   * An unverified frame (no verifier worker) is placed only once the writer has checked it.
   */
  private async keep(checked: CheckedFrame): Promise<void> {
    while (this.committing) await this.committing;
    const { frame, verified } = checked;
    const raw = frame.chunks.reduce((n, c) => n + c.length, 0);
    const wire = frame.payload.length;
    if (this.output && verified)
      this.output.placeFrame(frame.chunks, this.dest.codec.decodeTransient(frame.codec, frame.payload, raw));
    const later = this.output &&
      !verified && {
        chunks: frame.chunks.map((c) => ({ id: Buffer.from(c.id), length: c.length })),
        raw: this.dest.codec.decode(frame.codec, frame.payload, raw),
      };
    await storeFrame(this.writer, checked);
    if (later) this.output!.placeFrame(later.chunks, later.raw);
    this.sinceCommit += wire;
    if (this.sinceCommit < COMMIT_EVERY || this.committing) return;
    this.sinceCommit = 0;
    const begun = this.writer.commitSoon();
    this.committing = begun.finally(() => (this.committing = undefined));
    const { done } = await begun;
    this.commits = this.commits.then(() => done);
    // Awaited at the end of the run; a run that fails before then has its own error to report.
    this.commits.catch(() => undefined);
  }

  /** Drops a failed source; its unfinished chunks go to the other holders expected to finish first. */
  private drop(s: number, err: Error, batch: number[]): void {
    const pending = batch.filter((k) => !this.done[k]);
    if (this.alive[s]) {
      this.alive[s] = false;
      this.reports[s]!.failed = err.message;
      this.opts.onEvent?.(
        `${this.sources[s]!.name}: dropped (${err.message}); re-planning its chunks over the others`,
      );
      pending.push(...this.queues[s]!);
      this.queues[s] = [];
      this.queuedBytes[s] = 0;
    }
    for (const k of pending) {
      let best = -1;
      for (let t = 0; t < this.sources.length; t++) {
        if (!this.alive[t] || (this.holders[k]! & (1 << t)) === 0) continue;
        if (best < 0 || this.queuedBytes[t]! / this.rate(t) < this.queuedBytes[best]! / this.rate(best))
          best = t;
      }
      if (best < 0) {
        this.lost++;
        this.outstanding--;
        continue;
      }
      this.queues[best]!.push(k);
      this.queuedBytes[best]! += this.sizes[k]!;
    }
    this.signal();
  }
}
