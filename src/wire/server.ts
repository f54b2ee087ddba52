import { randomBytes } from "node:crypto";
import type { Readable, Writable } from "node:stream";
import type { ReusedBufferReads } from "../util/pipes.js";
import { validateImageName, verifyRecipe } from "../store/recipe.js";
import { ENTRY_BYTES } from "../store/types.js";
import type { GcReport } from "../store/gc.js";
import type { ImageStatus, SpaceInfo } from "../store/status.js";
import type {
  ChunkId,
  Frame,
  FrameShares,
  PutProgress,
  PutResult,
  Recipe,
  RecipeSummary,
} from "../store/types.js";
import { BufferPool } from "../util/buffer-pool.js";
import { Exit, NitroError } from "../util/errors.js";
import { Outbox, readMessages } from "./channel.js";
import { errorCodeOf, protocolError } from "./errors.js";
import { checkFrameLimits, decodeFrame, frameBodyBytes, frameMessage } from "./frames.js";
import {
  decodeGet,
  decodeHello,
  decodeIds,
  decodeU32,
  decodeU64,
  encodeBitmap,
  encodeSizes,
  encodeError,
  encodeHello,
  encodePutAck,
  encodePutDone,
  message,
} from "./messages.js";
import {
  decodeGcRequest,
  decodeNames,
  decodeStatusRequest,
  encodeGcReport,
  encodeNames,
  encodeSpace,
  encodeStatusList,
  type GcRequest,
} from "./maintain.js";
import { ACCEPTS, FLAG_READ_ONLY, Limits, Msg, PROTOCOL_VERSION, msgName } from "./protocol.js";
import { ByteQueue } from "./queue.js";
import { RecipeAssembler, decodeRecipeHeader, encodeList, recipeHeader, recipeParts } from "./recipes.js";
import type { Message } from "./reader.js";
import { Wakeup } from "../util/wakeup.js";
import type { VerifyListener, VerifyOptions, VerifyReport } from "../store/verify.js";
import { decodeVerifyRequest, encodeFinding, encodeVerifyProgress, encodeVerifyReport } from "./verify.js";

/**
 * What a session serves: the store's side of every request. Declared here so that the protocol
 * does not depend on the site layer, whose `WriteSite` fits it as it is.
 */
export interface ServedSite {
  has(ids: ChunkId[]): Promise<boolean[]>;
  storedSizes(ids: ChunkId[]): Promise<FrameShares>;
  getFrames(ids: ChunkId[]): AsyncIterable<Frame>;
  getRecipe(name: string): Promise<Recipe | undefined>;
  listRecipes(): Promise<RecipeSummary[]>;
  putFrames(frames: AsyncIterable<Frame>, onProgress?: (p: PutProgress) => void): Promise<PutResult>;
  putRecipe(recipe: Recipe, opts?: { force?: boolean }): Promise<void>;
  /** Verifies the store where it is (a site without it answers VERIFY with an ERROR). */
  verify?(opts: VerifyOptions, onEvent: VerifyListener): Promise<VerifyReport>;
  status(names?: string[]): Promise<ImageStatus[]>;
  space(): Promise<SpaceInfo>;
  removeRecipes(names: string[]): Promise<string[]>;
  gc(opts: GcRequest): Promise<GcReport>;
}

export interface ServeOptions {
  /** Refuse PUT_FRAME, PUT_RECIPE, REMOVE_RECIPES and GC (authorized_keys forced command for pull-only peers). */
  readOnly: boolean;
  /**
   * Called once, at the first HAS or frame upload (a push asks HAS first): a writable server gets
   * ready to receive (starts the frame checker's thread) then, not for a session that only reads.
   */
  beforeWrites?: () => void;
}

/** Frames received but not yet taken by the store, per put stream, before reading pauses. */
const PUT_QUEUE_BYTES = 32 * 1024 * 1024;
/** Replies being computed at once before reading pauses. */
const MAX_HANDLERS = 64;
/** Longest the greeting waits for the first answers to leave with it (see holdOpening). */
const OPENING_HOLD_MS = 50;
/**
 * Concurrent streams a client may open; beyond them the session ends. With the per-message limits
 * they bound what a client can make the server hold: 64 downloads × 2 MiB of ids, 4 uploads × 32 MiB,
 * one recipe upload at a time (≤ Limits.RECIPE_UPLOAD_BYTES) and one recipe download at a time.
 */
export const MAX_GETS = 64;
const MAX_PUTS = 4;
/** Requests whose later messages are dropped (a refused put keeps arriving for a while). */
const MAX_DEAD = 1024;

/**
 * Serves `site` over a byte stream until the client says BYE or the input ends. Protocol errors
 * end the session with an ERROR message and reject with a REMOTE NitroError; errors of one request
 * (a corrupt frame, a missing chunk, a read-only refusal) answer that request with an ERROR and the
 * session goes on.
 */
export async function serveSite(
  site: ServedSite,
  input: Readable | ReusedBufferReads,
  output: Writable,
  opts: ServeOptions,
): Promise<void> {
  await new Session(site, new Outbox(output), opts).run(input);
}

class PutStream {
  readonly queue: ByteQueue<Frame>;
  consumed = 0;
  durableChunks = 0;
  durableRawBytes = 0;
  inputEnded = false;
  ackScheduled = false;
  done: Promise<void> = Promise.resolve();

  constructor(
    readonly req: number,
    onTake: () => void,
  ) {
    this.queue = new ByteQueue<Frame>(() => {
      this.consumed++;
      onTake();
    });
  }
}

class GetStream {
  cancelled = false;
  private readonly changed = new Wakeup();

  constructor(
    readonly req: number,
    public credit: number,
  ) {}

  grant(bytes: number): void {
    this.credit += bytes;
    this.changed.notify();
  }

  cancel(): void {
    this.cancelled = true;
    this.changed.notify();
  }

  /** Waits until the server may send (credit left) or the stream is cancelled. */
  async ready(): Promise<boolean> {
    while (this.credit <= 0 && !this.cancelled) await this.changed.wait();
    return !this.cancelled;
  }
}

class Session {
  private readonly puts = new Map<number, PutStream>();
  private readonly gets = new Map<number, GetStream>();
  /** The session's one recipe upload, from its header until the store has it (or refused it). */
  private upload: { req: number; asm: RecipeAssembler; storing: boolean } | undefined;
  private recipeReads: Promise<void> = Promise.resolve();
  private readonly dead = new Set<number>();
  private readonly handlers = new Set<Promise<void>>();
  private readonly downloads = new Set<Promise<void>>();
  private silenced = false;
  private probeData: Buffer | undefined;
  private writesPrepared = false;
  /** Frame bodies arrive in pieces and are assembled here; the store gives them back. */
  private readonly bodies = new BufferPool();

  constructor(
    private readonly site: ServedSite,
    private readonly out: Outbox,
    private readonly opts: ServeOptions,
  ) {}

  async run(input: Readable | ReusedBufferReads): Promise<void> {
    const opened = this.holdOpening();
    this.out.send([encodeHello(this.opts.readOnly ? FLAG_READ_ONLY : 0)]);
    let bye = false;
    let fatal: NitroError | undefined;
    let bug: unknown;
    try {
      for await (const m of readMessages(input, ACCEPTS.server, this.bodies)) {
        if (m.type === Msg.BYE) {
          bye = true;
          break;
        }
        await this.dispatch(m);
        opened();
        if (this.handlers.size >= MAX_HANDLERS) await Promise.race(this.handlers);
        if (this.out.congested) await this.out.drain();
      }
    } catch (err) {
      // A broken input (peer vanished) ends the session like EOF; anything else is fatal.
      if (err instanceof NitroError) fatal = err;
      else if (!isStreamClosed(err)) {
        fatal = new NitroError(Exit.INTERNAL, errorCodeOf(err).message);
        bug = err;
      }
    }
    if (fatal) {
      this.send(Msg.ERROR, 0, encodeError(fatal.exitCode, fatal.message));
      this.silenced = true;
    }
    await this.shutdown();
    if (bye) this.send(Msg.BYE, 0);
    this.out.end();
    // A bug keeps its stack for the caller (exit 70); the client got its one-line ERROR.
    if (fatal) throw bug ?? fatal;
  }

  /**
   * Holds the greeting until the questions the client wrote with its HELLO (a pull asks for the
   * recipe and the holdings before the server has started) are answered, so that all of it
   * leaves in one write (see Outbox.hold); at most OPENING_HOLD_MS. The returned function is
   * called after each dispatched message: the first call ends the hold once the messages read
   * with that input are dispatched and their handlers have ended.
   */
  private holdOpening(): () => void {
    this.out.hold();
    const release = () => {
      clearTimeout(cap);
      this.out.release();
    };
    const cap = setTimeout(release, OPENING_HOLD_MS).unref();
    let asked = false;
    return () => {
      if (asked) return;
      asked = true;
      setImmediate(() => void Promise.allSettled([...this.handlers]).then(release));
    };
  }

  private async dispatch(m: Message): Promise<void> {
    switch (m.type) {
      case Msg.HELLO:
        return this.hello(m.body);
      case Msg.HAS: {
        this.writesLikely();
        const ids = decodeIds(m.body);
        return this.spawn(m.req, async () => {
          this.send(Msg.HAS_REPLY, m.req, encodeBitmap(await this.site.has(ids)));
        });
      }
      case Msg.HAS_SIZES: {
        const ids = decodeIds(m.body);
        return this.spawn(m.req, async () => {
          this.send(Msg.HAS_SIZES_REPLY, m.req, encodeSizes(await this.site.storedSizes(ids)));
        });
      }
      case Msg.PUT_FRAME:
        return this.putFrame(m);
      case Msg.PUT_END:
        return this.putEnd(m.req);
      case Msg.GET_FRAMES:
        return this.getFrames(m);
      case Msg.CREDIT:
        return this.gets.get(m.req)?.grant(decodeU32(m.body, "CREDIT"));
      case Msg.CANCEL:
        return this.gets.get(m.req)?.cancel();
      case Msg.PUT_RECIPE:
        return this.putRecipe(m);
      case Msg.RECIPE_PART:
        return this.recipePart(m);
      case Msg.GET_RECIPE:
        return this.spawn(m.req, () => this.inTurn(() => this.getRecipe(m.req, m.body)));
      case Msg.LIST_RECIPES:
        return this.spawn(m.req, async () => {
          for (const body of encodeList(await this.site.listRecipes())) {
            if (!this.send(Msg.RECIPE_LIST, m.req, body)) await this.out.drain();
          }
          this.send(Msg.END, m.req);
        });
      case Msg.PING:
        this.send(Msg.PONG, m.req, m.body);
        return;
      case Msg.PROBE:
        return this.probe(m.req, decodeU64(m.body, "PROBE"));
      case Msg.VERIFY:
        return this.verify(m.req, decodeVerifyRequest(m.body));
      case Msg.STATUS: {
        const names = decodeStatusRequest(m.body);
        return this.spawn(m.req, async () => {
          for (const body of encodeStatusList(await this.site.status(names)))
            if (!this.send(Msg.STATUS_LIST, m.req, body)) await this.out.drain();
          this.send(Msg.END, m.req);
        });
      }
      case Msg.SPACE:
        return this.spawn(m.req, async () => {
          this.send(Msg.SPACE_INFO, m.req, encodeSpace(await this.site.space()));
        });
      case Msg.REMOVE_RECIPES: {
        if (this.opts.readOnly) return this.refuseWrite(m.req, "image removal");
        const names = decodeNames(m.body);
        return this.spawn(m.req, async () => {
          this.send(Msg.REMOVED, m.req, encodeNames(await this.site.removeRecipes(names)));
        });
      }
      case Msg.GC: {
        if (this.opts.readOnly) return this.refuseWrite(m.req, "gc");
        const request = decodeGcRequest(m.body);
        return this.spawn(m.req, async () => {
          this.send(Msg.GC_REPORT, m.req, encodeGcReport(await this.site.gc(request)));
        });
      }
      default:
        throw protocolError(`unexpected message type ${msgName(m.type)}`);
    }
  }

  private hello(body: Buffer): void {
    const { version } = decodeHello(body, "client");
    if (version !== PROTOCOL_VERSION)
      throw protocolError(
        `protocol version mismatch: the client speaks version ${version}, this server ${PROTOCOL_VERSION} (install the same nitro release on both sides)`,
      );
  }

  private refuseWrite(req: number, what: string): void {
    this.markDead(req);
    this.send(
      Msg.ERROR,
      req,
      encodeError(Exit.FAILURE, `site is read-only (nitro serve --read-only): ${what} refused`),
    );
  }

  private writesLikely(): void {
    if (this.opts.readOnly || this.writesPrepared) return;
    this.writesPrepared = true;
    this.opts.beforeWrites?.();
  }

  private async putFrame(m: Message): Promise<void> {
    if (this.dead.has(m.req)) return;
    if (this.opts.readOnly) return this.refuseWrite(m.req, "frame upload");
    this.writesLikely();
    const frame = decodeFrame(m.body);
    frame.release = m.release;
    let stream = this.puts.get(m.req);
    if (!stream) stream = this.openPut(m.req);
    else if (stream.inputEnded) throw protocolError(`PUT_FRAME after PUT_END on request ${m.req}`);
    stream.queue.push(frame, m.body.length);
    await stream.queue.room(PUT_QUEUE_BYTES);
  }

  private putEnd(req: number): void {
    if (this.dead.has(req)) return;
    if (this.opts.readOnly) return this.refuseWrite(req, "frame upload");
    const stream = this.puts.get(req) ?? this.openPut(req);
    if (stream.inputEnded) throw protocolError(`second PUT_END on request ${req}`);
    stream.inputEnded = true;
    stream.queue.end();
  }

  /** One store putFrames call per stream, fed from the socket; acks follow takes and commits. */
  private openPut(req: number): PutStream {
    if (this.puts.size >= MAX_PUTS) throw protocolError(`more than ${MAX_PUTS} concurrent uploads`);
    const stream = new PutStream(req, () => this.ack(stream));
    this.puts.set(req, stream);
    stream.done = this.site
      .putFrames(stream.queue, (p) => {
        stream.durableChunks = p.chunks;
        stream.durableRawBytes = p.rawBytes;
        this.ack(stream);
      })
      .then(
        (result) => {
          if (stream.inputEnded) this.send(Msg.PUT_DONE, req, encodePutDone(result));
          else this.failPut(stream, new NitroError(Exit.INTERNAL, "the store stopped reading frames"));
        },
        (err) => this.failPut(stream, err),
      )
      .finally(() => {
        stream.queue.abort();
        this.puts.delete(req);
      });
    return stream;
  }

  private failPut(stream: PutStream, err: unknown): void {
    const { code, message } = errorCodeOf(err);
    if (!stream.inputEnded) this.markDead(stream.req);
    this.send(Msg.ERROR, stream.req, encodeError(code, message));
  }

  /** One PUT_ACK per turn of the event loop at most, carrying the latest counts. */
  private ack(s: PutStream): void {
    if (s.ackScheduled) return;
    s.ackScheduled = true;
    setImmediate(() => {
      s.ackScheduled = false;
      const { consumed: consumedFrames, durableChunks, durableRawBytes } = s;
      this.send(Msg.PUT_ACK, s.req, encodePutAck({ consumedFrames, durableChunks, durableRawBytes }));
    });
  }

  private getFrames(m: Message): void {
    const { credit, ids } = decodeGet(m.body);
    if (this.gets.has(m.req)) throw protocolError(`request ${m.req} is already streaming`);
    if (this.gets.size >= MAX_GETS) throw protocolError(`more than ${MAX_GETS} concurrent downloads`);
    const stream = new GetStream(m.req, credit);
    this.gets.set(m.req, stream);
    // Not a handler: a download waiting for CREDIT must not stop the reading of that CREDIT.
    const p = this.streamFrames(stream, ids)
      .catch((err) => this.sendError(m.req, err))
      .finally(() => {
        this.gets.delete(m.req);
        this.downloads.delete(p);
      });
    this.downloads.add(p);
  }

  private async streamFrames(stream: GetStream, ids: ChunkId[]): Promise<void> {
    for await (const frame of this.site.getFrames(ids)) {
      if (!(await stream.ready()) || this.out.closed) break;
      checkFrameLimits(frame);
      stream.credit -= frameBodyBytes(frame);
      if (!this.sendPieces(frameMessage(Msg.FRAME, stream.req, frame), frame.release)) await this.out.drain();
    }
    this.send(Msg.END, stream.req);
  }

  private putRecipe(m: Message): void {
    if (this.dead.has(m.req)) return;
    if (this.opts.readOnly) return this.refuseWrite(m.req, "recipe upload");
    if (this.upload)
      throw protocolError(
        `recipe upload on request ${m.req} while request ${this.upload.req} uploads one (one at a time)`,
      );
    const header = decodeRecipeHeader(m.body);
    if (header.count * ENTRY_BYTES > Limits.RECIPE_UPLOAD_BYTES) {
      this.markDead(m.req);
      const limit = Math.floor(Limits.RECIPE_UPLOAD_BYTES / ENTRY_BYTES);
      const msg = `recipe '${header.name}' of ${header.count} entries is more than this site takes in one upload (limit ${limit})`;
      this.send(Msg.ERROR, m.req, encodeError(Exit.FAILURE, msg));
      return;
    }
    this.upload = { req: m.req, asm: new RecipeAssembler(header), storing: false };
    if (this.upload.asm.complete) this.storeRecipe();
  }

  private recipePart(m: Message): void {
    if (this.dead.has(m.req)) return;
    const upload = this.upload;
    if (!upload || upload.req !== m.req || upload.storing)
      throw protocolError(`RECIPE_PART for request ${m.req}, which uploads no recipe`);
    upload.asm.add(m.body);
    if (upload.asm.oversized) {
      // Refused as soon as the entries pass the size the header declared, before any more arrive.
      this.upload = undefined;
      this.markDead(m.req);
      const msg = `recipe '${upload.asm.header.name}': entry lengths add up to more than its size`;
      this.send(Msg.ERROR, m.req, encodeError(Exit.CORRUPT, msg));
      return;
    }
    if (upload.asm.complete) this.storeRecipe();
  }

  /** Hands the complete upload to the store; the next upload may start once the store is done. */
  private storeRecipe(): void {
    const upload = this.upload!;
    upload.storing = true;
    this.spawn(upload.req, async () => {
      try {
        const recipe = upload.asm.finish();
        validateImageName(recipe.name);
        verifyRecipe(recipe);
        await this.site.putRecipe(recipe, { force: upload.asm.header.force === true });
      } finally {
        this.upload = undefined;
      }
      this.send(Msg.OK, upload.req);
    });
  }

  /**
   * Recipe downloads run one after another: each holds its whole recipe until it is sent, and a
   * session may have many requests in flight.
   */
  private inTurn(work: () => Promise<void>): Promise<void> {
    const run = this.recipeReads.then(work);
    this.recipeReads = run.catch(() => undefined);
    return run;
  }

  private async getRecipe(req: number, body: Buffer): Promise<void> {
    const recipe = await this.site.getRecipe(validateImageName(body.toString("utf8")));
    if (!recipe) {
      this.send(Msg.OK, req);
      return;
    }
    this.send(Msg.RECIPE, req, recipeHeader(recipe));
    for (const part of recipeParts(recipe)) {
      if (!this.send(Msg.RECIPE_PART, req, part)) await this.out.drain();
    }
  }

  private probe(req: number, bytes: number): void {
    if (bytes > Limits.PROBE_BYTES)
      throw protocolError(`PROBE of ${bytes} bytes (limit ${Limits.PROBE_BYTES})`);
    // Random bytes defeat any compression on the path; one block repeated is cheap to send.
    this.probeData ??= randomBytes(Limits.PROBE_DATA);
    const data = this.probeData;
    this.spawn(req, async () => {
      for (let left = bytes; left > 0 && !this.out.closed; left -= data.length) {
        if (!this.send(Msg.PROBE_DATA, req, data.subarray(0, Math.min(left, data.length))))
          await this.out.drain();
      }
      this.send(Msg.END, req);
    });
  }

  private verify(req: number, opts: VerifyOptions): void {
    if (opts.drop && this.opts.readOnly) return this.refuseWrite(req, "verify --repair");
    const verify = this.site.verify?.bind(this.site);
    if (!verify) return this.sendError(req, new NitroError(Exit.FAILURE, "this site cannot verify"));
    this.spawn(req, async () => {
      // The walk waits for a congested link, and stops once nobody is listening.
      const report = await verify(opts, async (e) => {
        if (this.out.closed) throw new NitroError(Exit.REMOTE, "the session ended during verify");
        const sent =
          e.type === "progress"
            ? this.send(Msg.VERIFY_PROGRESS, req, encodeVerifyProgress(e.done, e.total))
            : this.send(Msg.VERIFY_FINDING, req, encodeFinding(e.finding));
        if (!sent) await this.out.drain();
      });
      this.send(Msg.VERIFY_REPORT, req, encodeVerifyReport(report));
      this.send(Msg.END, req);
    });
  }

  /** Runs one request's reply (bodies are decoded before); its failure answers that request only. */
  private spawn(req: number, work: () => Promise<void>): void {
    const p: Promise<void> = work()
      .catch((err) => this.sendError(req, err))
      .finally(() => this.handlers.delete(p));
    this.handlers.add(p);
  }

  private sendError(req: number, err: unknown): void {
    const { code, message } = errorCodeOf(err);
    this.send(Msg.ERROR, req, encodeError(code, message));
  }

  private markDead(req: number): void {
    this.dead.add(req);
    if (this.dead.size > MAX_DEAD) this.dead.delete(this.dead.values().next().value!);
  }

  private send(type: number, req: number, body?: Buffer): boolean {
    return this.sendPieces(message(type, req, body));
  }

  /** After a fatal ERROR nothing more is said: the client stops listening at that ERROR. */
  private sendPieces(pieces: Buffer[], written?: () => void): boolean {
    if (!this.silenced) return this.out.send(pieces, written);
    written?.();
    return false;
  }

  /** Commits what every open upload received, stops downloads, waits for replies in progress. */
  private async shutdown(): Promise<void> {
    for (const s of this.puts.values()) {
      s.inputEnded = true;
      s.queue.end();
    }
    for (const g of this.gets.values()) g.cancel();
    const puts = [...this.puts.values()].map((s) => s.done);
    await Promise.allSettled([...this.handlers, ...this.downloads, ...puts]);
  }
}

function isStreamClosed(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "ERR_STREAM_PREMATURE_CLOSE" || code === "ECONNRESET" || code === "EPIPE";
}
