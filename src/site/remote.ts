import type { Duplex, Readable, Writable } from "node:stream";
import type { ChunkId, Frame, Recipe, RecipeSummary, StoredSizes } from "../store/types.js";
import { ProtocolClient, unexpectedReply, type ProtocolClientOptions } from "../wire/client.js";
import { protocolError } from "../wire/errors.js";
import { checkFrameLimits, decodeFrame, frameBodyBytes, frameMessage } from "../wire/frames.js";
import { decodePutAck, decodePutDone, message } from "../wire/messages.js";
import { Limits, Msg } from "../wire/protocol.js";
import { Wakeup } from "../util/wakeup.js";
import type { VerifyEvent, VerifyOptions, VerifyReport } from "../store/verify.js";
import { Exit, NitroError } from "../util/errors.js";
import type {
  GcReport,
  ImageStatus,
  MaintainSite,
  ProbeResult,
  PutProgress,
  PutRecipeOptions,
  PutResult,
  SiteGcOptions,
  SpaceInfo,
} from "./site.js";

export interface RemoteSiteOptions extends ProtocolClientOptions {
  /**
   * Bytes of frames sent but not yet taken by the far store, fixed. By default the window follows
   * the link: twice the measured rate × round trip, between 2 and 64 MiB (see upload()).
   */
  window?: number;
  /** Bytes of frames one getFrames call lets the server send ahead of its consumer. Default 16 MiB. */
  getWindow?: number;
  /**
   * One round trip of the transport, answered before the far `nitro serve` (an SSH keepalive):
   * what ping() times when given, rather than a PING through the far process.
   */
  roundTrip?: () => Promise<void>;
}

const MiB = 1024 * 1024;
const MIN_WINDOW = 2 * MiB;
const MAX_WINDOW = 64 * MiB;
const MAX_DOWNLOADS = 32;

/**
 * A Site spoken to over a byte stream running `nitro serve` (an SSH channel, a child process).
 * The protocol is the ProtocolClient's; here are the Site operations and the flow control of bulk
 * transfers (the upload window, download credit).
 */
export class RemoteSite implements MaintainSite {
  readonly maintainable = true;
  private readonly client: ProtocolClient;
  private readonly getWindow: number;
  private putTurn: Promise<void> = Promise.resolve();
  private downloads = 0;
  private downloadWaiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    io: Duplex | { input: Readable; output: Writable },
    private readonly opts: RemoteSiteOptions = {},
  ) {
    const input = "input" in io ? io.input : io;
    const output = "output" in io ? io.output : io;
    this.getWindow = Math.min(opts.getWindow ?? 16 * MiB, 0xffff_ffff);
    this.client = new ProtocolClient(name, input, output, opts);
  }

  /** Resolves once the server's HELLO has been checked. */
  async ready(): Promise<void> {
    await this.client.ready();
  }

  /** Whether the server refuses writes (known after ready()). */
  get readOnly(): boolean | undefined {
    return this.client.readOnly;
  }

  async has(ids: ChunkId[]): Promise<boolean[]> {
    await this.ready();
    const batches: Promise<boolean[]>[] = [];
    for (let i = 0; i < ids.length; i += Limits.IDS)
      batches.push(this.client.has(ids.slice(i, i + Limits.IDS)));
    return (await Promise.all(batches)).flat();
  }

  /** Asked before ready() too: the request waits behind the greeting (and fails with it). */
  async storedSizes(ids: ChunkId[], lengths: ArrayLike<number>): Promise<StoredSizes> {
    const batches: Promise<StoredSizes>[] = [];
    for (let i = 0; i < ids.length; i += Limits.IDS)
      batches.push(
        this.client.hasSizes(
          ids.slice(i, i + Limits.IDS),
          Array.prototype.slice.call(lengths, i, i + Limits.IDS) as number[],
        ),
      );
    const out = { sizes: new Uint32Array(ids.length), frames: new Uint32Array(ids.length) };
    let base = 0; // frame numbers are per reply: each batch's follow the previous one's
    (await Promise.all(batches)).forEach((part, b) => {
      out.sizes.set(part.sizes, b * Limits.IDS);
      out.frames.set(
        part.frames.map((f) => f + base),
        b * Limits.IDS,
      );
      base += part.frames.reduce((m, f) => Math.max(m, f + 1), 0);
    });
    return out;
  }

  async putFrames(frames: AsyncIterable<Frame>, onProgress?: (p: PutProgress) => void): Promise<PutResult> {
    await this.ready();
    // One upload at a time: the far store has one writer, a second would wait for its lock.
    const previous = this.putTurn;
    let done!: () => void;
    this.putTurn = new Promise((r) => (done = r));
    await previous;
    try {
      return await this.upload(frames, onProgress);
    } finally {
      done();
    }
  }

  /**
   * Streams frames, keeping a window of bytes in flight. More than bandwidth × RTT is needed to
   * fill a long link, but any more only queues in the buffers between here and the far store:
   * sshd grows its channel buffer 32 KiB at a time, copying it each time, which on a virtual
   * machine costs seconds at the start of a transfer (measured on loopback: 2 MiB 2.6 s, 8 MiB
   * 3.5 s, 32 MiB 3.9 s for the same push). So the window is twice the measured rate × the
   * shortest send-to-take time, between 2 and 64 MiB.
   */
  private async upload(
    frames: AsyncIterable<Frame>,
    onProgress?: (p: PutProgress) => void,
  ): Promise<PutResult> {
    const sizes: number[] = [];
    const sentAt: number[] = [];
    let acked = 0;
    let sentBytes = 0;
    let takenBytes = 0;
    let wireBytes = 0;
    let firstSend = 0;
    let minRtt = Infinity;
    let error: unknown;
    let result: PutResult | undefined;
    const changed = new Wakeup();
    const window = () => {
      if (this.opts.window !== undefined) return this.opts.window;
      const seconds = (performance.now() - firstSend) / 1000;
      if (takenBytes === 0 || seconds <= 0) return MIN_WINDOW;
      return Math.min(MAX_WINDOW, Math.max(MIN_WINDOW, 2 * (takenBytes / seconds) * minRtt));
    };
    const put = this.client.register((m) => {
      if (m.type === Msg.PUT_ACK) {
        const a = decodePutAck(m.body);
        if (a.consumedFrames > sizes.length) throw protocolError("PUT_ACK for frames never sent");
        const now = performance.now();
        for (; acked < a.consumedFrames; acked++) {
          takenBytes += sizes[acked]!;
          minRtt = Math.min(minRtt, (now - sentAt[acked]!) / 1000);
        }
        onProgress?.({ chunks: a.durableChunks, rawBytes: a.durableRawBytes, wireBytes });
      } else if (m.type === Msg.PUT_DONE) result = decodePutDone(m.body);
      else throw unexpectedReply(m);
      changed.notify();
      return result !== undefined;
    });
    put.done.catch((err: unknown) => {
      error ??= err;
      changed.notify();
    });
    let sourceError: { error: unknown } | undefined;
    try {
      for await (const frame of frames) {
        if (error || this.client.closed) break;
        checkFrameLimits(frame);
        const size = frameBodyBytes(frame);
        while (!error && sentBytes > takenBytes && sentBytes - takenBytes + size > window())
          await changed.wait();
        if (error) break;
        if (sizes.length === 0) firstSend = performance.now();
        sizes.push(size);
        sentAt.push(performance.now());
        sentBytes += size;
        wireBytes += frame.payload.length;
        if (!this.client.send(frameMessage(Msg.PUT_FRAME, put.req, frame), frame.release))
          await this.client.drain();
      }
    } catch (err) {
      sourceError = { error: err };
    }
    // Also after a failing source: the server commits what it received, so a re-run skips it.
    if (!error) this.client.send(message(Msg.PUT_END, put.req));
    while (!error && !result) await changed.wait();
    if (sourceError) throw sourceError.error;
    if (error) throw error;
    onProgress?.({ chunks: result!.chunks + result!.skipped, rawBytes: result!.rawBytes, wireBytes });
    return result!;
  }

  async *getFrames(ids: ChunkId[]): AsyncIterable<Frame> {
    await this.ready();
    for (let i = 0; i < ids.length; i += Limits.IDS) yield* this.download(ids.slice(i, i + Limits.IDS));
  }

  /** At most MAX_DOWNLOADS at once (the server ends a session that opens more than MAX_GETS). */
  private async *download(ids: ChunkId[]): AsyncGenerator<Frame> {
    while (this.downloads >= MAX_DOWNLOADS) await new Promise<void>((r) => this.downloadWaiters.push(r));
    this.downloads++;
    try {
      yield* this.downloadBatch(ids);
    } finally {
      this.downloads--;
      this.downloadWaiters.shift()?.();
    }
  }

  /**
   * Frames as the consumer takes them; the bytes taken let the server send as much more, granted
   * an eighth of the window at a time: a CREDIT per frame was a packet each way per frame (SSH
   * encryption, a TCP segment, the far side's parsing) for 30 KB of data. The server keeps at
   * least 7/8 of the window in credit, so it never waits on what is held back.
   */
  private async *downloadBatch(ids: ChunkId[]): AsyncGenerator<Frame> {
    const queue: { frame: Frame; size: number }[] = [];
    const grantEvery = Math.ceil(this.getWindow / 8);
    let ungranted = 0;
    let ended = false;
    let error: unknown;
    const changed = new Wakeup();
    const get = this.client.getFrames(this.getWindow, ids, (m) => {
      const frame = decodeFrame(m.body);
      // The body's memory goes back for the next frame once the frame is stored.
      frame.release = m.release;
      queue.push({ frame, size: m.body.length });
      changed.notify();
    });
    get.done.then(
      () => {
        ended = true;
        changed.notify();
      },
      (err: unknown) => {
        error = err;
        changed.notify();
      },
    );
    let head = 0;
    try {
      for (;;) {
        if (head < queue.length) {
          const { frame, size } = queue[head]!;
          queue[head++] = undefined as unknown as { frame: Frame; size: number };
          if (head > 256 && head * 2 > queue.length) {
            queue.splice(0, head);
            head = 0;
          }
          ungranted += size;
          if (ungranted >= grantEvery && !ended && !error) {
            this.client.grant(get, ungranted);
            ungranted = 0;
          }
          yield frame;
          continue;
        }
        if (error) throw error;
        if (ended) return;
        await changed.wait();
      }
    } finally {
      // Abandoned by the consumer: stop the server, drop what is still on its way.
      if (!ended && !error) this.client.cancel(get, Msg.CANCEL);
    }
  }

  async putRecipe(recipe: Recipe, opts: PutRecipeOptions = {}): Promise<void> {
    await this.ready();
    await this.client.putRecipe(recipe, opts);
  }

  /** Asked before ready() too, as storedSizes. */
  async getRecipe(name: string): Promise<Recipe | undefined> {
    return this.client.getRecipe(name);
  }

  async listRecipes(): Promise<RecipeSummary[]> {
    await this.ready();
    return this.client.listRecipes();
  }

  async verify(opts: VerifyOptions, onEvent: (e: VerifyEvent) => void = () => {}): Promise<VerifyReport> {
    await this.ready();
    return this.client.verify(opts, onEvent);
  }

  /**
   * Round-trip time of a tiny request, in seconds: the best of `tries`, on the transport's own
   * round trip where it has one (SSH: answered by sshd), else a PING to the far `nitro serve`.
   * A PING also crosses the far process: on the WAN bench, on a busy machine, 0.4-0.9 ms over
   * `ping -U`, most just after the far side started (probe also pings once the bulk is through).
   */
  async ping(tries = 10): Promise<number> {
    await this.ready();
    const once = this.opts.roundTrip ?? (() => this.client.ping());
    let best = Infinity;
    for (let i = 0; i < tries; i++) {
      const t0 = performance.now();
      await once();
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    return best;
  }

  /**
   * Downloads about `bytes` of random data. The clock starts when the first message arrives
   * (excluding the request's latency and the pipe filling up) and stops at the END.
   */
  async probe(bytes: number): Promise<ProbeResult> {
    const rtt = await this.ping();
    const wanted = Math.max(1, Math.min(Math.floor(bytes), Limits.PROBE_BYTES));
    const tSent = performance.now();
    let tFirst = 0;
    let firstBytes = 0;
    let total = 0;
    await this.client.probe(wanted, (data) => {
      if (total === 0) {
        tFirst = performance.now();
        firstBytes = data.length;
      }
      total += data.length;
    });
    const now = performance.now();
    const warmRtt = Math.min(rtt, await this.ping());
    if (total > firstBytes)
      return { bytes: total - firstBytes, seconds: (now - tFirst) / 1000, rtt: warmRtt };
    return { bytes: total, seconds: Math.max((now - tSent) / 1000 - rtt, 1e-6), rtt: warmRtt };
  }

  async status(names?: string[]): Promise<ImageStatus[]> {
    await this.ready();
    return this.client.status(names);
  }

  async space(): Promise<SpaceInfo> {
    await this.ready();
    return this.client.space();
  }

  async removeRecipes(names: string[]): Promise<string[]> {
    await this.requireWritable("image removal");
    return this.client.removeRecipes(names);
  }

  async gc(opts: SiteGcOptions = {}): Promise<GcReport> {
    await this.requireWritable("gc");
    return this.client.gc({ dryRun: opts.dryRun ?? false, maxUnused: opts.maxUnused });
  }

  /** A server that said read-only in its HELLO is not asked to write (the kind hands it out as a ReadSite). */
  private async requireWritable(what: string): Promise<void> {
    await this.ready();
    if (this.readOnly) throw new NitroError(Exit.FAILURE, `site ${this.name} is read-only: ${what} refused`);
  }

  /** Says BYE, lets the server finish what is in flight, and ends the stream. */
  async close(): Promise<void> {
    await this.client.close();
  }
}
