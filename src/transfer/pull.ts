import { plan as makePlan } from "../plan/plan.js";
import { NO_SITE, type Objective, type Plan, type PlanSite, type Strategy } from "../plan/types.js";
import type { ReadSite } from "../site/site.js";
import { uniqueChunks } from "../store/recipe.js";
import { storeFrame, verifyAhead } from "../store/receive.js";
import type { Store } from "../store/store.js";
import type { ChunkId, Recipe } from "../store/types.js";
import type { StoreWriter } from "../store/writer.js";
import { Exit, NitroError } from "../util/errors.js";

export interface PullSource extends PlanSite {
  site: ReadSite;
}

export interface PullOptions {
  objective?: Objective;
  strategy?: Strategy;
  lockWait?: number;
  /** Most raw bytes asked of a source in one request (a slow link gets smaller ones). */
  batchBytes?: number;
  onPlan?(plan: Plan, sources: readonly PullSource[]): void;
  onProgress?(source: string, bytes: number): void;
  onEvent?(message: string): void;
}

export interface SourceReport {
  site: string;
  plannedChunks: number;
  plannedBytes: number;
  plannedSeconds: number;
  chunks: number;
  bytes: number;
  seconds: number;
  /** Chunks it took over from slower sources, and chunks it lost to faster ones. */
  stole: number;
  failed?: string;
}

export interface PullReport {
  image: string;
  /** Distinct chunks of the image, and how many the destination already held. */
  chunks: number;
  present: number;
  fetchedChunks: number;
  fetchedBytes: number;
  predictedMakespan: number;
  lowerBound: number;
  seconds: number;
  cost: number;
  sources: SourceReport[];
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
  sizes: Uint32Array;
  holders: Uint32Array;
  /** The sources that answered; holder bit s refers to sources[s]. */
  sources: PullSource[];
  plan: Plan;
}

/**
 * What the destination lacks, who holds it (one batched question per site), and the plan.
 * Unreachable sites are left out with a note.
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
  const answers = await Promise.allSettled(all.map((s) => s.site.has(needIds)));
  const sources = all.filter((s, i) => {
    const a = answers[i]!;
    if (a.status === "rejected")
      opts.onEvent?.(`${s.name}: unreachable, left out (${(a.reason as Error).message})`);
    return a.status === "fulfilled";
  });
  const holders = new Uint32Array(need.length);
  const sizes = new Uint32Array(need.length);
  need.forEach((i, k) => (sizes[k] = lengths[i]!));
  answers
    .flatMap((a) => (a.status === "fulfilled" ? [a.value] : []))
    .forEach((held, s) => held.forEach((h, k) => h && (holders[k]! |= 1 << s)));
  const plan = makePlan({ sites: sources, sizes, holders }, opts.objective ?? { kind: "time" }, {
    strategy: opts.strategy ?? "optimal",
  });
  return {
    recipe,
    chunks: ids.length,
    present: ids.length - need.length,
    needIds,
    sizes,
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
  const prep = await preparePlan((ids) => dest.has(ids), recipe, all, opts);
  const { needIds, sizes, holders, sources, plan: p } = prep;
  if (p.unassigned > 0)
    throw new NitroError(
      Exit.INCOMPLETE,
      `${p.unassigned} chunks of '${recipe.name}' (${p.unassignedBytes} bytes) are held by no reachable site: nothing was fetched`,
    );
  opts.onPlan?.(p, sources);

  const writer = await dest.writer(opts.lockWait);
  try {
    const run = new PullRun(needIds, sizes, holders, sources, p, writer, opts);
    const reports = await run.execute();
    await writer.commit(recipe);
    return {
      image: recipe.name,
      chunks: prep.chunks,
      present: prep.present,
      fetchedChunks: needIds.length,
      fetchedBytes: sizes.reduce((s, x) => s + x, 0),
      predictedMakespan: p.makespan,
      lowerBound: p.lowerBound,
      seconds: (performance.now() - t0) / 1000,
      cost: reports.reduce((s, r, i) => s + (r.bytes / 1e9) * sources[i]!.cost, 0),
      sources: reports,
    };
  } finally {
    writer.close();
  }
}

const MIN_BATCH = 128 * 1024;
const BATCH_SECONDS = 0.2;

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

  constructor(
    private readonly ids: ChunkId[],
    private readonly sizes: Uint32Array,
    private readonly holders: Uint32Array,
    private readonly sources: PullSource[],
    plan: Plan,
    private readonly writer: StoreWriter,
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
      seconds: 0,
      stole: 0,
    }));
    this.resetSignal();
  }

  async execute(): Promise<SourceReport[]> {
    await Promise.all(this.sources.map((_, s) => this.worker(s)));
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
   * them (after what it already has in flight) before that source gets to them.
   */
  private steal(s: number): number[] | undefined {
    const bit = 1 << s;
    const order = this.sources
      .map((_, t) => t)
      .filter((t) => t !== s && this.alive[t] && this.queues[t]!.length > 0)
      .sort((a, b) => this.queuedBytes[b]! / this.rate(b) - this.queuedBytes[a]! / this.rate(a));
    for (const t of order) {
      const victimLeft = this.queuedBytes[t]! / this.rate(t);
      const limit = this.batch(s);
      if ((this.inflightBytes[s]! + limit) / this.rate(s) >= victimLeft) continue;
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
        await storeFrame(this.writer, checked);
        for (const c of got) {
          const k = this.index.get(c.key);
          if (k === undefined || this.done[k]) continue;
          this.done[k] = 1;
          this.outstanding--;
          this.reports[s]!.chunks++;
          this.reports[s]!.bytes += c.length;
          this.inflightBytes[s]! -= c.length;
          inflight -= c.length;
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
