import type { Duplex, Readable, Writable } from "node:stream";
import type { ChunkId, Frame, Recipe, RecipeSummary } from "../store/types.js";
import { NitroError, remote } from "../util/errors.js";
import { Outbox, readMessages } from "../wire/channel.js";
import { ProtocolError, protocolError } from "../wire/errors.js";
import { checkFrameLimits, decodeFrame, frameBodyBytes, frameMessage } from "../wire/frames.js";
import {
  decodeBitmap,
  decodeError,
  decodeHello,
  decodePutAck,
  decodePutDone,
  encodeGet,
  encodeHello,
  encodeIds,
  encodeU32,
  encodeU64,
  message,
} from "../wire/messages.js";
import { ACCEPTS, FLAG_READ_ONLY, Limits, Msg, PROTOCOL_VERSION, msgName } from "../wire/protocol.js";
import type { Message } from "../wire/reader.js";
import {
  RecipeAssembler,
  decodeList,
  decodeRecipeHeader,
  recipeHeader,
  recipeParts,
} from "../wire/recipes.js";
import { Wakeup } from "../util/wakeup.js";
import type { ProbeResult, PutProgress, PutResult, WriteSite } from "./site.js";

export interface RemoteSiteOptions {
  /**
   * Bytes of frames sent but not yet taken by the far store, fixed. By default the window follows
   * the link: twice the measured rate × round trip, between 2 and 64 MiB (see upload()).
   */
  window?: number;
  /** Bytes of frames one getFrames call lets the server send ahead of its consumer. Default 16 MiB. */
  getWindow?: number;
  /** Words to add when the connection drops, e.g. the remote command's stderr. */
  describeClose?: () => string | undefined;
  /** Closes the transport under the stream (the SSH connection) once the session has ended. */
  closeTransport?: () => Promise<void>;
}

interface Pending {
  onMessage(m: Message): void;
  onError(err: NitroError): void;
}

const MiB = 1024 * 1024;
const MIN_WINDOW = 2 * MiB;
const MAX_WINDOW = 64 * MiB;
const MAX_DOWNLOADS = 32;

/**
 * A Site spoken to over a byte stream running `nitro serve` (an SSH channel, a child process).
 * Requests are pipelined on the one stream: each carries an id the replies echo.
 */
export class RemoteSite implements WriteSite {
  private readonly out: Outbox;
  private readonly pending = new Map<number, Pending>();
  private readonly getWindow: number;
  private readonly hello: Promise<number>;
  private helloSettle!: { resolve: (flags: number) => void; reject: (err: NitroError) => void };
  private readonly reading: Promise<void>;
  private failure: NitroError | undefined;
  private nextReq = 1;
  private flags: number | undefined;
  private byeReceived = false;
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
    this.out = new Outbox(output, undefined, () => this.fail(this.closedError()));
    this.hello = new Promise<number>((resolve, reject) => (this.helloSettle = { resolve, reject }));
    this.hello.catch(() => {});
    this.out.send([encodeHello()]);
    this.reading = this.read(input);
  }

  /** Resolves once the server's HELLO has been checked. */
  async ready(): Promise<void> {
    await this.hello;
  }

  /** Whether the server refuses writes (known after ready()). */
  get readOnly(): boolean | undefined {
    return this.flags === undefined ? undefined : (this.flags & FLAG_READ_ONLY) !== 0;
  }

  async has(ids: ChunkId[]): Promise<boolean[]> {
    await this.ready();
    const batches: Promise<boolean[]>[] = [];
    for (let i = 0; i < ids.length; i += Limits.IDS) {
      const batch = ids.slice(i, i + Limits.IDS);
      batches.push(
        this.call(Msg.HAS, encodeIds(batch), Msg.HAS_REPLY, (m) => decodeBitmap(m.body, batch.length)),
      );
    }
    return (await Promise.all(batches)).flat();
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
    let error: NitroError | undefined;
    let result: PutResult | undefined;
    const changed = new Wakeup();
    const window = () => {
      if (this.opts.window !== undefined) return this.opts.window;
      const seconds = (performance.now() - firstSend) / 1000;
      if (takenBytes === 0 || seconds <= 0) return MIN_WINDOW;
      return Math.min(MAX_WINDOW, Math.max(MIN_WINDOW, 2 * (takenBytes / seconds) * minRtt));
    };
    const req = this.register({
      onMessage: (m) => {
        if (m.type === Msg.PUT_ACK) {
          const a = decodePutAck(m.body);
          if (a.consumedFrames > sizes.length) throw protocolError("PUT_ACK for frames never sent");
          const now = performance.now();
          for (; acked < a.consumedFrames; acked++) {
            takenBytes += sizes[acked]!;
            minRtt = Math.min(minRtt, (now - sentAt[acked]!) / 1000);
          }
          onProgress?.({ chunks: a.durableChunks, rawBytes: a.durableRawBytes, wireBytes });
        } else if (m.type === Msg.PUT_DONE) {
          result = decodePutDone(m.body);
          this.pending.delete(req);
        } else if (m.type === Msg.ERROR) {
          error = this.errorFrom(m.body);
          this.pending.delete(req);
        } else throw unexpected(m);
        changed.notify();
      },
      onError: (err) => {
        error ??= err;
        changed.notify();
      },
    });
    let sourceError: { error: unknown } | undefined;
    try {
      for await (const frame of frames) {
        if (error || this.out.closed) break;
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
        if (!this.out.send(frameMessage(Msg.PUT_FRAME, req, frame), frame.release)) await this.out.drain();
      }
    } catch (err) {
      sourceError = { error: err };
    }
    // Also after a failing source: the server commits what it received, so a re-run skips it.
    if (!error) this.out.send(message(Msg.PUT_END, req));
    while (!error && !result) await changed.wait();
    this.pending.delete(req);
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

  private async *downloadBatch(ids: ChunkId[]): AsyncGenerator<Frame> {
    const queue: { frame: Frame; size: number }[] = [];
    let ended = false;
    let error: NitroError | undefined;
    const changed = new Wakeup();
    const req = this.register({
      onMessage: (m) => {
        if (m.type === Msg.FRAME) queue.push({ frame: decodeFrame(m.body), size: m.body.length });
        else if (m.type === Msg.END) ended = true;
        else if (m.type === Msg.ERROR) error = this.errorFrom(m.body);
        else throw unexpected(m);
        if (ended || error) this.pending.delete(req);
        changed.notify();
      },
      onError: (err) => {
        error ??= err;
        changed.notify();
      },
    });
    this.out.send(message(Msg.GET_FRAMES, req, encodeGet(this.getWindow, ids)));
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
          // The consumer took it: the server may send that many bytes more.
          if (!ended && !error) this.out.send(message(Msg.CREDIT, req, encodeU32(size)));
          yield frame;
          continue;
        }
        if (error) throw error;
        if (ended) return;
        await changed.wait();
      }
    } finally {
      if (!ended && !error && this.pending.has(req)) {
        // Abandoned by the consumer: stop the server, drop what is still on its way.
        this.pending.set(req, {
          onMessage: (m) => {
            if (m.type === Msg.END || m.type === Msg.ERROR) this.pending.delete(req);
          },
          onError: () => {},
        });
        this.out.send(message(Msg.CANCEL, req));
      }
    }
  }

  async putRecipe(recipe: Recipe): Promise<void> {
    await this.ready();
    const header = recipeHeader(recipe);
    const parts = recipeParts(recipe);
    const reply = this.call(
      Msg.PUT_RECIPE,
      header,
      Msg.OK,
      () => undefined,
      async (req) => {
        for (const part of parts) {
          if (!this.out.send(message(Msg.RECIPE_PART, req, part))) await this.out.drain();
        }
      },
    );
    await reply;
  }

  async getRecipe(name: string): Promise<Recipe | undefined> {
    await this.ready();
    return new Promise<Recipe | undefined>((resolve, reject) => {
      let asm: RecipeAssembler | undefined;
      const finish = (f: () => void) => {
        this.pending.delete(req);
        f();
      };
      const req = this.register({
        onMessage: (m) => {
          if (m.type === Msg.OK && !asm) return finish(() => resolve(undefined));
          if (m.type === Msg.ERROR) return finish(() => reject(this.errorFrom(m.body)));
          if (m.type === Msg.RECIPE && !asm) asm = new RecipeAssembler(decodeRecipeHeader(m.body));
          else if (m.type === Msg.RECIPE_PART && asm) asm.add(m.body);
          else throw unexpected(m);
          if (asm.complete) {
            const a = asm;
            finish(() => {
              try {
                resolve(a.finish());
              } catch (err) {
                reject(err);
              }
            });
          }
        },
        onError: reject,
      });
      this.out.send(message(Msg.GET_RECIPE, req, Buffer.from(name, "utf8")));
    });
  }

  async listRecipes(): Promise<RecipeSummary[]> {
    await this.ready();
    return new Promise<RecipeSummary[]>((resolve, reject) => {
      const list: RecipeSummary[] = [];
      const req = this.register({
        onMessage: (m) => {
          if (m.type === Msg.RECIPE_LIST) return void list.push(...decodeList(m.body));
          if (m.type !== Msg.END && m.type !== Msg.ERROR) throw unexpected(m);
          this.pending.delete(req);
          if (m.type === Msg.END) resolve(list);
          else reject(this.errorFrom(m.body));
        },
        onError: reject,
      });
      this.out.send(message(Msg.LIST_RECIPES, req));
    });
  }

  /** Round-trip time of a tiny request, in seconds: the best of `tries`. */
  async ping(tries = 3): Promise<number> {
    await this.ready();
    let best = Infinity;
    for (let i = 0; i < tries; i++) {
      const t0 = performance.now();
      await this.call(Msg.PING, Buffer.from("nitro"), Msg.PONG, () => undefined);
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
    return new Promise<ProbeResult>((resolve, reject) => {
      const tSent = performance.now();
      let tFirst = 0;
      let firstBytes = 0;
      let total = 0;
      const req = this.register({
        onMessage: (m) => {
          if (m.type === Msg.PROBE_DATA) {
            if (total === 0) {
              tFirst = performance.now();
              firstBytes = m.body.length;
            }
            total += m.body.length;
            if (total > wanted) throw protocolError("PROBE sent more data than asked");
            return;
          }
          if (m.type !== Msg.END && m.type !== Msg.ERROR) throw unexpected(m);
          this.pending.delete(req);
          if (m.type === Msg.ERROR) return reject(this.errorFrom(m.body));
          const now = performance.now();
          if (total > firstBytes) resolve({ bytes: total - firstBytes, seconds: (now - tFirst) / 1000, rtt });
          else resolve({ bytes: total, seconds: Math.max((now - tSent) / 1000 - rtt, 1e-6), rtt });
        },
        onError: reject,
      });
      this.out.send(message(Msg.PROBE, req, encodeU64(wanted)));
    });
  }

  /** Says BYE, lets the server finish what is in flight, and ends the stream. */
  async close(): Promise<void> {
    if (!this.failure) {
      this.out.send(message(Msg.BYE, 0));
      const timeout = new Promise<void>((r) => setTimeout(r, 10_000).unref());
      await Promise.race([this.reading, timeout]);
    }
    this.fail(remote(`${this.name}: site closed`));
    this.out.end();
    await this.opts.closeTransport?.();
  }

  /** One request, one reply of type `expect` (or an ERROR). `after` sends the rest of the request. */
  private call<T>(
    type: number,
    body: Buffer,
    expect: number,
    parse: (m: Message) => T,
    after?: (req: number) => Promise<void>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const req = this.register({
        onMessage: (m) => {
          this.pending.delete(req);
          try {
            if (m.type === Msg.ERROR) reject(this.errorFrom(m.body));
            else if (m.type === expect) resolve(parse(m));
            else throw unexpected(m);
          } catch (err) {
            reject(err);
            throw err;
          }
        },
        onError: reject,
      });
      this.out.send(message(type, req, body));
      after?.(req).catch(reject);
    });
  }

  private register(p: Pending): number {
    if (this.failure) throw this.failure;
    const req = this.nextReq;
    this.nextReq = this.nextReq >= 0xffff_fffe ? 1 : this.nextReq + 1;
    this.pending.set(req, p);
    return req;
  }

  private async read(input: Readable): Promise<void> {
    try {
      for await (const m of readMessages(input, ACCEPTS.client)) {
        this.dispatch(m);
        if (this.failure) break;
      }
      this.fail(this.closedError());
    } catch (err) {
      const e = err instanceof NitroError ? err : remote(`connection lost: ${(err as Error).message}`);
      this.fail(new NitroError(e.exitCode, `${this.name}: ${e.message}`));
    }
  }

  private closedError(): NitroError {
    if (this.byeReceived) return remote(`${this.name}: site closed`);
    const why = this.opts.describeClose?.();
    return remote(`${this.name}: connection closed by the site${why ? `: ${why}` : ""}`);
  }

  private dispatch(m: Message): void {
    if (m.type === Msg.HELLO) return this.onHello(m.body);
    if (m.req === 0) {
      if (m.type === Msg.BYE) this.byeReceived = true;
      else if (m.type === Msg.ERROR) this.fail(this.errorFrom(m.body));
      else throw unexpected(m);
      return;
    }
    // Replies to requests we gave up on (failed put streams) are dropped.
    const p = this.pending.get(m.req);
    if (!p) return;
    try {
      p.onMessage(m);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.fail(new NitroError(err.exitCode, `${this.name}: ${err.message}`));
    }
  }

  private onHello(body: Buffer): void {
    const { version, flags } = decodeHello(body, "server");
    if (version !== PROTOCOL_VERSION)
      throw protocolError(
        `protocol version mismatch: this nitro speaks version ${PROTOCOL_VERSION}, the site ${version} (install the same nitro release on both sides)`,
      );
    this.flags = flags;
    this.helloSettle.resolve(flags);
  }

  private errorFrom(body: Buffer): NitroError {
    const { code, message } = decodeError(body);
    return new NitroError(code, `${this.name}: ${message}`);
  }

  private fail(err: NitroError): void {
    if (this.failure) return;
    this.failure = err;
    this.helloSettle.reject(err);
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.onError(err);
    this.out.end();
  }
}

const unexpected = (m: Message) => protocolError(`unexpected ${msgName(m.type)} for request ${m.req}`);
