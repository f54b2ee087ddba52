import { join } from "node:path";
import type { Writable } from "node:stream";
import { ImageAssembly } from "../image/image-assembly.js";
import { followAssembly } from "../image/image-follower.js";
import { plan as makePlan } from "../plan/plan.js";
import { NO_SITE, type Objective, type Plan, type PlanSite, type Strategy } from "../plan/types.js";
import type { ReadSite } from "../site/site.js";
import { uniqueChunks } from "../store/recipe.js";
import { storeFrame, verifyAhead, type CheckedFrame, type PlaceFrame } from "../store/receive.js";
import type { Store } from "../store/store.js";
import {
  ENTRY_BYTES,
  type ChunkId,
  type ChunkList,
  type Frame,
  type Recipe,
  type StoredSizes,
} from "../store/types.js";
import { FrameWriteError, sharedVerifier } from "../store/verify-pool.js";
import type { StoreWriter } from "../store/writer.js";
import { Exit, NitroError, fromSystemError } from "../util/errors.js";
import { trace } from "../util/trace.js";
import { snapToFrames } from "./frame-snap.js";
import { replanQueues, type SourceNow } from "./replan.js";
import type { Eventually } from "./site-set.js";
import { mayHedge, mayReplan, maySteal } from "./steal-policy.js";

export interface PullSource extends PlanSite {
  site: ReadSite;
}

export interface PullOptions {
  objective?: Objective;
  strategy?: Strategy;
  /** Whether chunks in flight at a slow source may be asked again at the end (see hedge; default true). */
  hedge?: boolean;
  lockWait?: number;
  /**
   * When the command began (performance.now()), default when the pull is called: sites that take
   * more than twice as long as those first holding every chunk to answer are not waited for.
   */
  since?: number;
  /** Most raw bytes asked of a source in one request (a slow link gets smaller ones). */
  batchBytes?: number;
  /** Also writes the image file, chunk by chunk as frames arrive (sparse, verified, atomic). */
  output?: { path: string; force?: boolean };
  /**
   * Streams the image to this stream in order while it is fetched (through a temporary in the
   * store's directory, removed at the end); rejects, with a strict prefix written, if the pull fails.
   */
  stream?: Writable;
  /** What the destination lacks of a recipe (default: lacking() on the destination store). */
  lacking?(recipe: Recipe): Promise<Lacking>;
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
  /** For a source the plan was made without: seconds into the transfer when it answered and joined. */
  joined?: number;
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
  /** Chunks (and their wire bytes) the runs of the planner at measured rates moved between sources. */
  replanning: { times: number; chunks: number; bytes: number; snapped: number };
  /** Chunks (and their wire bytes) asked of a second source at the end, and how many came from it first. */
  hedging: { chunks: number; bytes: number; won: number };
  sources: SourceReport[];
  /** Sites open but still to say what they hold when the pull was done (it went on without them). */
  unheard: string[];
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
  /** Per source, per needed chunk: its frame there (chunks asked for together by frame travel as stored). */
  frames: Uint32Array[];
  /** The sources that answered; holder bit s refers to sources[s]. */
  sources: PullSource[];
  plan: Plan;
  /** The answers still to come of the sites the plan was made without (see preparePlan's startEarly). */
  late: LateAnswer[];
}

/** A source's answer: which of the needed chunks it holds, at what stored size, in which frames. */
export interface Holdings {
  source: PullSource;
  held: StoredSizes;
}

/**
 * Once the sources that have answered hold every needed chunk, the plan waits for the others as
 * long again as that took (from `since`), and at least this long, before it is made without them:
 * they join the running pull when they answer.
 */
const MIN_JOIN_GRACE_MS = 100;

/**
 * What the destination lacks, who holds it and at what stored size (one batched question per
 * site), and the plan, in wire bytes. A chunk's size is the largest its holders report: they
 * compress alike, and the prediction should not be short. Unreachable sites are left out with a
 * note. With `startEarly`, the plan may be made once the sites that have answered hold every chunk
 * (see MIN_JOIN_GRACE_MS): the others are `late`, to join the pull when they answer.
 */
export async function preparePlan(
  destHas: (ids: ChunkId[]) => Promise<boolean[]> | boolean[],
  recipe: Recipe,
  all: ReadonlyArray<Eventually<PullSource | undefined>>,
  opts: Pick<PullOptions, "objective" | "strategy" | "onEvent" | "since" | "lacking"> & {
    startEarly?: boolean;
  } = {},
): Promise<Prepared> {
  const since = opts.since ?? performance.now();
  const { ids, present, need, needed } = await (opts.lacking?.(recipe) ?? lacking(destHas, recipe));
  trace(`recipe and dest index: ${need.length} chunks to fetch`);
  // Each site is asked as soon as it is open, not once the last one is.
  const opened: Array<string | undefined> = [];
  const asked = all.map(async (opening, i): Promise<Holdings | undefined> => {
    const source = await opening;
    if (!source) return undefined;
    opened[i] = source.name;
    try {
      const held = await source.site.storedSizes(needed.ids, needed.lengths);
      trace(`${source.name}: sizes`);
      return { source, held };
    } catch (err) {
      opts.onEvent?.(`${source.name}: unreachable, left out (${(err as Error).message})`);
      return undefined;
    }
  });
  const answered = await (opts.startEarly ? covering(asked, need.length, since) : Promise.all(asked));
  const answers = answered.filter((a): a is Holdings => a !== undefined && a !== null);
  const late = asked.flatMap((answer, i) =>
    answered[i] === null ? [lateAnswer(answer, () => opened[i])] : [],
  );
  const sources = answers.map((a) => a.source);
  const holders = new Uint32Array(need.length);
  const sizes = new Uint32Array(need.length);
  const rawSizes = Uint32Array.from(needed.lengths);
  const held = answers.map((a) => a.held);
  held.forEach(({ sizes: at }, s) =>
    at.forEach((size, k) => {
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
  trace("plan made");
  return {
    recipe,
    chunks: ids.length,
    present: ids.length - need.length,
    needIds: needed.ids,
    presentIds: ids.filter((_, i) => present[i]),
    sizes,
    rawSizes,
    holders,
    frames: held.map((h) => h.frames),
    sources,
    plan,
    late,
  };
}

/** A site's answer still to come, and its name once it is open. */
export interface LateAnswer {
  answer: Promise<Holdings | undefined>;
  /** The site's name if it has opened but not answered (yet). */
  unheard(): string | undefined;
}

function lateAnswer(answer: Promise<Holdings | undefined>, name: () => string | undefined): LateAnswer {
  let settled = false;
  void answer.then(() => (settled = true));
  return { answer, unheard: () => (settled ? undefined : name()) };
}

/**
 * The answers as they stand once those in hold every one of `count` chunks and the grace has
 * passed (see MIN_JOIN_GRACE_MS), or once all are in: null for a site that has not answered yet.
 */
async function covering(
  asked: ReadonlyArray<Promise<Holdings | undefined>>,
  count: number,
  since: number,
): Promise<Array<Holdings | undefined | null>> {
  const answers: Array<Holdings | undefined | null> = asked.map(() => null);
  const covered = new Uint8Array(count);
  let left = count;
  let coveredAll!: () => void;
  const allCovered = new Promise<void>((resolve) => (coveredAll = resolve));
  if (left === 0) coveredAll();
  asked.forEach((p, i) =>
    p.then((a) => {
      answers[i] = a;
      a?.held.sizes.forEach((size, k) => {
        if (size === 0 || covered[k]) return;
        covered[k] = 1;
        if (--left === 0) coveredAll();
      });
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  const grace = allCovered.then(() => {
    if (settled) return;
    const ms = Math.max(MIN_JOIN_GRACE_MS, performance.now() - since);
    return new Promise<void>((r) => (timer = setTimeout(r, ms)));
  });
  await Promise.race([Promise.all(asked), grace]);
  settled = true;
  clearTimeout(timer);
  return answers.slice();
}

/**
 * The recipe's distinct chunks, which of them the destination holds, and the indices of the
 * others (in recipe order) with those chunks themselves: what the holders are asked about.
 */
export async function lacking(
  destHas: (ids: ChunkId[]) => Promise<boolean[]> | boolean[],
  recipe: Recipe,
): Promise<Lacking> {
  const { ids, lengths } = uniqueChunks(recipe);
  const present = await destHas(ids);
  const need = ids.map((_, i) => i).filter((i) => !present[i]);
  const needed = { ids: need.map((i) => ids[i]!), lengths: need.map((i) => lengths[i]!) };
  return { ids, lengths, present, need, needed };
}

export type Lacking = ChunkList & { present: boolean[]; need: number[]; needed: ChunkList };

/**
 * lacking() keeping its last answer: the holdings asked early (about the first recipe to arrive)
 * and the plan (about the first in site order) count an identical recipe once, not twice (the
 * destination's index is read for every distinct chunk: 30-100 ms for a 600 MB image).
 */
export function lackingOnce(
  destHas: (ids: ChunkId[]) => Promise<boolean[]> | boolean[],
): (recipe: Recipe) => Promise<Lacking> {
  let last: { recipe: Recipe; result: Promise<Lacking> } | undefined;
  return (recipe) => {
    if (last && sameRecipe(last.recipe, recipe)) return last.result;
    last = { recipe, result: lacking(destHas, recipe) };
    return last.result;
  };
}

const sameRecipe = (a: Recipe, b: Recipe) =>
  a === b || (a.digest === b.digest && a.size === b.size && a.entries.equals(b.entries));

/**
 * Starts the frame checker's thread (~0.1 s of CPU to boot): a pull calls it at the latest while
 * the holders are asked, the CLI as soon as the store is open, during the SSH handshakes, so that
 * the boot is not in the transfer's way.
 */
export function warmReceiver(): void {
  sharedVerifier?.warm();
}

/**
 * The image file `-o` asks for (a stream's is made once planned); if it cannot be made (it exists,
 * no --force), the planning under way is left to fail on its own.
 */
function outputFile(
  recipe: Recipe,
  opts: PullOptions,
  planning: Promise<unknown>,
): ImageAssembly | undefined {
  if (opts.stream || !opts.output) return undefined;
  try {
    return new ImageAssembly(recipe, opts.output.path, opts.output.force ?? false);
  } catch (err) {
    planning.catch(() => undefined);
    throw err;
  }
}

export async function pullChunks(
  dest: Store,
  recipe: Recipe,
  all: ReadonlyArray<Eventually<PullSource | undefined>>,
  opts: PullOptions = {},
): Promise<PullReport> {
  const t0 = performance.now();
  warmReceiver();
  // A late site that fails once the pull is done (it closes the sites) says nothing more.
  let done = false;
  const planning = preparePlan((ids) => dest.has(ids), recipe, all, {
    ...opts,
    onEvent: (m) => done || opts.onEvent?.(m),
    startEarly: mayReplan({
      strategy: opts.strategy ?? "optimal",
      objective: opts.objective ?? { kind: "time" },
    }),
  });
  // The output file is made while the holders answer (~20 ms of local work, off the start's path).
  const file = outputFile(recipe, opts, planning);
  const prep = await planning.catch((err: unknown) => {
    file?.abort();
    throw err;
  });
  const { needIds, rawSizes, sources, plan: p } = prep;
  if (p.unassigned > 0) {
    file?.abort();
    throw new NitroError(
      Exit.INCOMPLETE,
      `${p.unassigned} chunks of '${recipe.name}' (${p.unassignedBytes} bytes) are held by no reachable site: nothing was fetched`,
    );
  }
  opts.onPlan?.(p, sources);

  const output = opts.stream ? new ImageAssembly(recipe, join(dest.dir, "pull-stream"), true) : file;
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
    const run = new PullRun(prep, writer, dest, output, opts);
    for (const { answer } of prep.late) void answer.then((a) => a && run.join(a));
    const reports = await run.execute().finally(() => (done = true));
    trace("all chunks in");
    await writer.commit(recipe);
    trace("store committed");
    // Chunks a frame that failed its check had reserved, if no other frame placed them since.
    await output?.settled();
    await output?.placeFrom(dest, output.missingIds());
    if (following) {
      output.markComplete();
      await following;
      output.abort(); // removes the temporary
    } else output?.finish();
    trace("output done");
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
      replanning: run.replanning,
      hedging: run.hedging,
      sources: reports,
      // With nothing to fetch, no site's answer mattered.
      unheard: needIds.length > 0 ? prep.late.flatMap((l) => l.unheard() ?? []) : [],
    };
  } catch (err) {
    output?.abort();
    // Writes still under way on the verifier's thread end (in the removed temporary) and the
    // file is closed before the pull returns.
    await output?.settled();
    await following?.catch(() => undefined);
    // What did arrive is kept: running the pull again fetches only the rest.
    await writer.commit().catch(() => undefined);
    throw err;
  } finally {
    writer.close();
  }
}

function newReport(
  site: string,
  plannedChunks: number,
  plannedBytes: number,
  plannedSeconds: number,
): SourceReport {
  const zero = { chunks: 0, bytes: 0, rawBytes: 0, seconds: 0, stole: 0, stolenBytes: 0 };
  return { site, plannedChunks, plannedBytes, plannedSeconds, ...zero };
}

/** A failure to keep a frame here: it ends the pull rather than dropping the source. */
class LocalFailure extends Error {
  constructor(readonly reason: unknown) {
    super("local failure");
  }
}

const MIN_BATCH = 128 * 1024;
/** A chunk is asked twice only if the copy would come this much sooner (seconds): bytes for time. */
const HEDGE_GAIN_S = 0.1;
/** How often the queued chunks are planned again, and how long a source is watched first. */
const REPLAN_EVERY_MS = 250;
const MEASURE_MS = 300;
const BATCH_SECONDS = 0.2;
/**
 * How far a request may outgrow its size to end at a stored frame's end. On the WAN bench's
 * slowest link a request (1/5 s) is half a stored frame: at 1.5 the far sides recompressed 12% of
 * the chunks they sent (s6 asked for 11 of its 12 frames in parts) and spent 0.4-0.5 CPU-s more
 * per pull on it.
 */
const FRAME_STRETCH = 4;
/** Wire bytes between commits: a pull killed or failed and run again fetches only the rest. */
const COMMIT_EVERY = 64 * 1024 * 1024;

class PullRun {
  private readonly queues: number[][];
  private readonly queuedBytes: number[];
  private readonly inflightBytes: number[];
  private readonly done: Uint8Array;
  /** Per chunk: the sources it is in flight at (a bit each); their inflightBytes count it. */
  private readonly asked: Uint32Array;
  /** Per chunk: asked of a second source (see hedge). */
  private readonly hedged: Uint8Array;
  /** Per source: its requests in flight, oldest first. */
  private readonly flights: Array<Set<number[]>>;
  /** The requests hedge() made. */
  private readonly copies = new WeakSet<number[]>();
  private readonly alive: boolean[];
  private readonly index = new Map<string, number>();
  private readonly reports: SourceReport[];
  private readonly started = performance.now();
  private readonly lastFrame: number[] = [];
  private readonly firstRequest: number[] = [];
  /** When each source's first frame came, and the bytes counted with it. */
  private readonly firstFrame: Array<{ at: number; bytes: number }> = [];
  private outstanding: number;
  private lost = 0;
  private fatal: unknown;
  /** The verifier's thread writes each checked frame's chunks into the output file. */
  private readonly place: PlaceFrame | undefined;
  private wake: () => void = () => {};
  private changed!: Promise<void>;
  private readonly batchBytes: number;
  readonly stealing = { chunks: 0, bytes: 0, cost: 0 };
  readonly replanning = { times: 0, chunks: 0, bytes: 0, snapped: 0 };
  readonly hedging = { chunks: 0, bytes: 0, won: 0 };
  /** Whether this run may hedge (see hedge). */
  private readonly hedges: boolean;
  private nextReplan = 0;
  private readonly workers: Array<Promise<void>> = [];
  private ended = false;
  /** Bytes stored since the last commit; while a commit is being begun, frames wait for it. */
  private sinceCommit = 0;
  private committing?: Promise<unknown>;
  private commits: Promise<void> = Promise.resolve();

  private readonly ids: ChunkId[];
  private readonly sizes: Uint32Array;
  private readonly holders: Uint32Array;
  private readonly frames: Uint32Array[];
  private readonly sources: PullSource[];
  private readonly plan: Plan;

  constructor(
    prep: Prepared,
    private readonly writer: StoreWriter,
    private readonly dest: Store,
    private readonly output: ImageAssembly | undefined,
    private readonly opts: PullOptions,
  ) {
    ({ needIds: this.ids, sizes: this.sizes, holders: this.holders, frames: this.frames } = prep);
    ({ sources: this.sources, plan: this.plan } = prep);
    const { ids, sources, plan } = this;
    this.queues = sources.map(() => []);
    this.queuedBytes = sources.map(() => 0);
    this.inflightBytes = sources.map(() => 0);
    plan.assignment.forEach((s, k) => {
      if (s === NO_SITE) return;
      this.queues[s]!.push(k);
    });
    this.requeue(this.queues);
    ids.forEach((id, k) => this.index.set(id.toString("latin1"), k));
    this.done = new Uint8Array(ids.length);
    this.asked = new Uint32Array(ids.length);
    this.hedged = new Uint8Array(ids.length);
    this.flights = sources.map(() => new Set());
    this.alive = sources.map(() => true);
    this.outstanding = ids.length;
    this.batchBytes = opts.batchBytes ?? 4 * 1024 * 1024;
    this.hedges = opts.hedge !== false && mayHedge(plan);
    this.reports = sources.map((s, i) =>
      newReport(s.name, plan.chunksPerSite[i]!, plan.bytesPerSite[i]!, plan.secondsPerSite[i]!),
    );
    const out = output;
    this.place = out && ((frame: Frame) => out.reserveFrame(frame.chunks));
    this.resetSignal();
  }

  async execute(): Promise<SourceReport[]> {
    const replans = mayReplan(this.plan) ? setInterval(() => this.replan(), REPLAN_EVERY_MS) : undefined;
    this.sources.forEach((_, s) => this.workers.push(this.worker(s)));
    try {
      // Sources that join while this runs add their workers.
      for (let i = 0; i < this.workers.length; i++) await this.workers[i];
    } finally {
      this.ended = true;
      clearInterval(replans);
    }
    await this.commits;
    if (this.fatal !== undefined) throw this.fatal;
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

  /**
   * A source that answered after the plan was made: it takes the queued chunks it holds that a
   * re-plan at the rates known (the matrix's for it) gives it, and works like the others.
   */
  join({ source, held }: Holdings): void {
    const s = this.sources.length;
    if (this.ended || this.outstanding === 0 || this.doomed || s >= 32) return;
    const bit = 1 << s;
    held.sizes.forEach((size, k) => size > 0 && (this.holders[k]! |= bit));
    this.sources.push(source);
    this.frames.push(held.frames);
    this.queues.push([]);
    this.queuedBytes.push(0);
    this.inflightBytes.push(0);
    this.flights.push(new Set());
    this.alive.push(true);
    this.reports.push({
      ...newReport(source.name, 0, 0, 0),
      joined: (performance.now() - this.started) / 1000,
    });
    trace(`${source.name}: joined`);
    this.replanNow(true);
    this.workers.push(this.worker(s));
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

  /** Bytes in flight per source: bandwidth × RTT and two requests' worth. */
  private windowBytes(s: number): number {
    return this.rate(s) * (this.sources[s]!.rtt ?? 0) + 2 * this.batch(s);
  }

  /** Some chunk lost every holder, or writing here failed: the workers stop at once. */
  private get doomed(): boolean {
    return this.lost > 0 || this.fatal !== undefined;
  }

  /** A failure here (disk full...) ends the pull: no other source would do better. */
  private fail(err: unknown): void {
    this.fatal ??= err;
    this.signal();
  }

  private async worker(s: number): Promise<void> {
    const inflight = new Set<Promise<void>>();
    while (this.alive[s] && this.outstanding > 0 && !this.doomed) {
      const batch = this.take(s) ?? this.steal(s) ?? this.hedge(s);
      if (batch) {
        if (this.firstRequest[s] === undefined) {
          this.firstRequest[s] = performance.now();
          trace(`${this.sources[s]!.name}: first request`);
        }
        const req: Promise<void> = this.fetch(s, batch).finally(() => inflight.delete(req));
        inflight.add(req);
        if (inflight.size >= this.window(s) || this.inflightBytes[s]! >= this.windowBytes(s))
          await Promise.race(inflight);
      } else if (inflight.size > 0) await Promise.race(inflight);
      else await this.changed;
    }
    await Promise.all(inflight);
    trace(`${this.sources[s]!.name}: last frame at ${(this.lastFrame[s]! / 1000).toFixed(3)}`);
    this.reports[s]!.seconds = (performance.now() - this.started) / 1000;
  }

  private take(s: number): number[] | undefined {
    const q = this.queues[s]!;
    if (q.length === 0) return undefined;
    const batch: number[] = [];
    let bytes = 0;
    const limit = this.batch(s);
    while (q.length > 0 && (bytes < limit || this.frameGoesOn(s, q[0]!, batch, bytes, limit))) {
      const k = q.shift()!;
      batch.push(k);
      bytes += this.sizes[k]!;
    }
    this.queuedBytes[s]! -= bytes;
    return batch;
  }

  /**
   * The rate source s has delivered at since its first frame, once that says something; for a
   * source asked long ago that has sent (almost) nothing, what it sent since it was first asked.
   */
  private measured(s: number): number | undefined {
    const first = this.firstFrame[s];
    const last = this.lastFrame[s];
    if (first && last !== undefined && last - first.at >= MEASURE_MS)
      return ((this.reports[s]!.bytes - first.bytes) * 1000) / (last - first.at);
    const asked = this.firstRequest[s];
    const waited = asked === undefined ? 0 : performance.now() - asked;
    return waited >= 2 * MEASURE_MS ? (this.reports[s]!.bytes * 1000) / waited : undefined;
  }

  /**
   * Plans the chunks not yet asked for again, at the rates measured (see replanQueues). On a
   * large image planning takes a while on this thread: it runs at most a tenth of the time.
   */
  private replan(): void {
    if (this.doomed || this.outstanding === 0 || performance.now() < this.nextReplan) return;
    const t0 = performance.now();
    try {
      this.replanNow();
    } finally {
      this.nextReplan = performance.now() + 9 * (performance.now() - t0);
    }
  }

  /** With `now`, a source at work not measured yet counts at its quick rate (see rate) rather than waiting. */
  private replanNow(now = false): void {
    const sources: SourceNow[] = [];
    for (let s = 0; s < this.sources.length; s++) {
      const src = this.sources[s]!;
      const busy = this.queues[s]!.length > 0 || this.inflightBytes[s]! > 0;
      const quick = !busy ? src.bandwidth : now ? this.rate(s) : undefined;
      const rate = !this.alive[s] ? 0 : (this.measured(s) ?? quick);
      if (rate === undefined) return; // a source at work not measured yet: next time
      sources.push({
        name: src.name,
        cost: src.cost,
        rate,
        busy: rate > 0 ? this.inflightBytes[s]! / rate : 0,
      });
    }
    const r = replanQueues(this.queues, this.sizes, this.holders, sources);
    if (!r) return;
    this.requeue(r.queues);
    this.replanning.times++;
    this.replanning.chunks += r.moved;
    this.replanning.bytes += r.movedBytes;
    trace(`replanned: ${r.moved} chunks moved, finish in ${r.before.toFixed(2)} -> ${r.after.toFixed(2)} s`);
    this.signal();
  }

  /**
   * Takes these queues (a plan's) and, where the plan is to be re-planned anyway, moves chunks so
   * that fewer stored frames are asked for in parts (see snapToFrames).
   */
  private requeue(queues: number[][]): void {
    if (mayReplan(this.plan))
      this.replanning.snapped += snapToFrames(queues, this.sizes, this.holders, this.frames);
    queues.forEach((q, s) => {
      this.queues[s] = q;
      this.queuedBytes[s] = q.reduce((n, k) => n + this.sizes[k]!, 0);
    });
  }

  /**
   * Whether a batch that has reached its size takes chunk k anyway: k is in the frame (at source
   * s) of the batch's last chunk, and the batch is under FRAME_STRETCH times its size. A frame
   * asked for whole goes as stored; cut, each part costs the source a decompression of the whole
   * frame and a compression of the part.
   */
  private frameGoesOn(s: number, k: number, batch: number[], bytes: number, limit: number): boolean {
    const f = this.frames[s]!;
    return bytes < limit * FRAME_STRETCH && f[k] === f[batch[batch.length - 1]!];
  }

  /**
   * Measured rate once there is something to measure, the matrix's figure before: quick to react,
   * for sizing requests and stealing (measured() waits longer, for re-planning).
   */
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
      for (let j = q.length - 1; j >= 0; j--) {
        const k = q[j]!;
        if ((this.holders[k]! & bit) === 0) continue;
        if (bytes >= limit && !this.frameGoesOn(s, k, batch, bytes, limit)) break;
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

  /**
   * At the end, with nothing left to take or steal: asks this source again for chunks in flight
   * at another that this one would deliver sooner. The first copy to come is kept and the
   * request left with nothing new is abandoned. Without it a slow link's last requests set the
   * pull's end (one stored frame of 0.5 MB is 0.3 s at 12 Mbit/s). The copies cost bytes: only
   * where the plan's objective is time (mayHedge).
   */
  private hedge(s: number): number[] | undefined {
    if (!this.hedges) return undefined;
    const bit = 1 << s;
    const rate = this.rate(s);
    const ready = this.inflightBytes[s]! / rate + (this.sources[s]!.rtt ?? 0);
    const limit = this.batch(s);
    const finish = (t: number) => (this.queuedBytes[t]! + this.inflightBytes[t]!) / this.rate(t);
    const order = this.sources
      .map((_, t) => t)
      .filter((t) => t !== s && this.alive[t] && this.inflightBytes[t]! > 0)
      .sort((a, b) => finish(b) - finish(a));
    for (const t of order) {
      // A source sends its requests in order: the chunks it would deliver last come first here,
      // each due once what was asked before it has come.
      let after = this.inflightBytes[t]!;
      // Its measured rate where there is one: a source that has sent little is not at the matrix's.
      const theirRate = Math.max(this.measured(t) ?? this.rate(t), 1);
      const batch: number[] = [];
      let bytes = 0;
      scan: for (const f of [...this.flights[t]!].reverse())
        for (let j = f.length - 1; j >= 0; j--) {
          const k = f[j]!;
          if (this.done[k] || (this.asked[k]! & (1 << t)) === 0) continue;
          const theirs = after / theirRate;
          after -= this.sizes[k]!;
          if (this.hedged[k] || (this.holders[k]! & bit) === 0) continue;
          if (bytes >= limit || ready + (bytes + this.sizes[k]!) / rate + HEDGE_GAIN_S >= theirs) break scan;
          batch.push(k);
          bytes += this.sizes[k]!;
        }
      if (batch.length === 0) continue;
      for (const k of batch) this.hedged[k] = 1;
      this.hedging.chunks += batch.length;
      this.hedging.bytes += bytes;
      this.copies.add(batch);
      return batch.sort((a, b) => a - b);
    }
    return undefined;
  }

  private async fetch(s: number, batch: number[]): Promise<void> {
    const src = this.sources[s]!;
    const bit = 1 << s;
    for (const k of batch) {
      this.asked[k]! |= bit;
      this.inflightBytes[s]! += this.sizes[k]!;
    }
    this.flights[s]!.add(batch);
    const copy = this.copies.has(batch);
    const frames = verifyAhead(src.site.getFrames(batch.map((k) => this.ids[k]!)), this.place);
    let reading: Promise<IteratorResult<CheckedFrame>> | undefined;
    let ended = false;
    try {
      for (;;) {
        reading = frames.next();
        const next = await this.unlessObsolete(reading, batch);
        if (!next) return; // every chunk came from another source: abandoned
        reading = undefined;
        if (next.done) {
          ended = true;
          break;
        }
        const checked = next.value;
        if (!this.alive[s]) throw new NitroError(Exit.REMOTE, "source dropped");
        // Leaving the loop cancels the download; the run is failing, its report says why.
        if (this.doomed) return;
        // Read before storing: storing gives the frame's buffer (ids included) back for reuse.
        const got = checked.frame.chunks.map((c) => this.index.get(c.id.toString("latin1")));
        const lengths = checked.frame.chunks.map((c) => c.length);
        const first = this.reports[s]!.bytes === 0;
        this.reports[s]!.bytes += checked.frame.payload.length + got.length * ENTRY_BYTES;
        if (first) {
          this.firstFrame[s] = { at: performance.now(), bytes: this.reports[s]!.bytes };
          trace(`${src.name}: first frame`);
        }
        // A copy of chunks that came from another source first is not stored again.
        if (got.some((k) => k !== undefined && !this.done[k]))
          await this.keep(checked).catch((err: unknown) => {
            throw new LocalFailure(err);
          });
        else checked.frame.release?.();
        let raced = false;
        got.forEach((k, i) => {
          if (k === undefined || this.done[k]) return;
          raced ||= this.asked[k] !== bit;
          if (copy) this.hedging.won++;
          this.arrived(k);
          this.reports[s]!.chunks++;
          this.reports[s]!.rawBytes += lengths[i]!;
        });
        // A request for the same chunks at another source may have nothing left to wait for.
        if (raced) this.signal();
        this.lastFrame[s] = performance.now();
        this.opts.onProgress?.(src.name, this.reports[s]!.bytes);
      }
      const missed = batch.filter((k) => !this.done[k]);
      if (missed.length > 0)
        throw new NitroError(Exit.REMOTE, `did not send ${missed.length} requested chunks`);
    } catch (err) {
      if (err instanceof LocalFailure) this.fail(err.reason);
      else if (err instanceof FrameWriteError) this.fail(fromSystemError(err, this.output!.target));
      else this.drop(s, err as Error, batch);
    } finally {
      if (!ended) {
        // A generator's return() waits behind a read in flight: that read ends on its own.
        reading?.catch(() => undefined);
        const closing = frames.return(undefined);
        if (reading) closing.catch(() => undefined);
        else await closing.catch(() => undefined);
      }
      this.flights[s]!.delete(batch);
      for (const k of batch)
        if (this.asked[k]! & bit) {
          this.asked[k]! &= ~bit;
          this.inflightBytes[s]! -= this.sizes[k]!;
        }
      if (this.outstanding === 0) this.signal();
    }
  }

  /** The next frame, or undefined once every chunk of the batch has come (from elsewhere). */
  private async unlessObsolete(
    reading: Promise<IteratorResult<CheckedFrame>>,
    batch: number[],
  ): Promise<IteratorResult<CheckedFrame> | undefined> {
    // Only a hedged pull asks for a chunk twice; elsewhere a request never becomes obsolete.
    if (!this.hedges) return reading;
    for (;;) {
      const next = await Promise.race([reading, this.changed.then(() => undefined)]);
      if (next) return next;
      if (batch.every((k) => this.done[k])) return undefined;
    }
  }

  /** Chunk k has been kept: no request waits for it any more. */
  private arrived(k: number): void {
    this.done[k] = 1;
    this.outstanding--;
    for (let m = this.asked[k]!; m !== 0; m &= m - 1)
      this.inflightBytes[31 - Math.clz32(m & -m)]! -= this.sizes[k]!;
    this.asked[k] = 0;
  }

  /**
   * Stores a checked frame; every COMMIT_EVERY bytes a commit begins (frames wait until it has
   * taken what came before them). The output file has the frame's chunks already (placed by the
   * verifier's thread), except without a verifier thread: then the frame is placed here, once
   * the writer has checked it.
   */
  private async keep(checked: CheckedFrame): Promise<void> {
    while (this.committing) await this.committing;
    const { frame, verified } = checked;
    const wire = frame.payload.length;
    const later = this.output &&
      !verified && {
        chunks: frame.chunks.map((c) => ({ id: Buffer.from(c.id), length: c.length })),
        raw: this.dest.codec.decode(
          frame.codec,
          frame.payload,
          frame.chunks.reduce((n, c) => n + c.length, 0),
        ),
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
    // A chunk also in flight at another source waits for that one.
    const pending = batch.filter((k) => !this.done[k] && (this.asked[k]! & ~(1 << s)) === 0);
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
