import type { Readable, Writable } from "node:stream";
import { digestMatches, validateImageName } from "../store/recipe.js";
import type { GcReport } from "../store/gc.js";
import type { ImageStatus, SpaceInfo } from "../store/status.js";
import type { ChunkId, Recipe, RecipeSummary, StoredSizes } from "../store/types.js";
import { NitroError, corrupt, remote } from "../util/errors.js";
import { Outbox } from "./channel.js";
import { ProtocolError, protocolError } from "./errors.js";
import {
  decodeBitmap,
  decodeSizes,
  decodeHello,
  encodeGet,
  encodeHello,
  encodeIds,
  encodeU32,
  encodeU64,
  message,
} from "./messages.js";
import {
  decodeGcReport,
  decodeNames,
  decodeSpace,
  decodeStatusList,
  encodeGcRequest,
  encodeNames,
  encodeStatusRequest,
  type GcRequest,
} from "./maintain.js";
import { ACCEPTS, FLAG_READ_ONLY, Msg, PROTOCOL_VERSION, msgName } from "./protocol.js";
import { Liveness, siteTimeout } from "./liveness.js";
import { BufferPool } from "../util/buffer-pool.js";
import { MessageReader, type Message } from "./reader.js";
import { RecipeAssembler, decodeList, decodeRecipeHeader, recipeHeader, recipeParts } from "./recipes.js";
import { quoteRemoteText, remoteError } from "./remote-error.js";
import type { VerifyEvent, VerifyOptions, VerifyReport } from "../store/verify.js";
import { decodeFinding, decodeVerifyProgress, decodeVerifyReport, encodeVerifyRequest } from "./verify.js";

export interface ProtocolClientOptions {
  /** Words to add when the connection drops, e.g. the remote command's stderr. */
  describeClose?: () => string | undefined;
  /** Closes the transport under the stream (the SSH connection) once the session has ended. */
  /** `linger`: wait for the far end to finish (false after a session that changed nothing there). */
  closeTransport?: (linger: boolean) => Promise<void>;
  /**
   * Seconds the site may stay silent while a reply is awaited, at least: the deadline grows with
   * the bytes sent since it last spoke (see Liveness). Default: siteTimeout().
   */
  timeout?: number;
}

/**
 * Takes the replies to one request in order (an ERROR never reaches it: it fails the request) and
 * returns true at the last one. A ProtocolError thrown here ends the session; any other error
 * fails this request only, and its later replies are dropped.
 */
export type OnReply = (m: Message) => boolean;

/** A request in flight: `done` settles at its last reply, its ERROR, or the end of the session. */
export interface Request {
  readonly req: number;
  readonly done: Promise<void>;
}

interface Pending {
  onReply: OnReply;
  settle: (err?: unknown) => void;
}

export const unexpectedReply = (m: Message) =>
  protocolError(`unexpected ${msgName(m.type)} for request ${m.req}`);

/** 15 → "15", 0.6 → "0.6": test settings stay readable. */
const formatDeadline = (seconds: number) => String(Number(seconds.toFixed(seconds < 10 ? 1 : 0)));

/** An OnReply for a request answered by one message of type `type`. */
const expect =
  (type: number): OnReply =>
  (m) => {
    if (m.type !== type) throw unexpectedReply(m);
    return true;
  };

/**
 * The client end of a `nitro serve` session over a byte stream: HELLO, request ids, the routing of
 * replies, the session's end. Requests are pipelined: each carries an id its replies echo. Each
 * message type has one method here; the flow control of bulk transfers is the caller's.
 */
/**
 * Recycled memory for the large bodies received (frames): a fresh buffer per frame cost a page
 * fault per 4 KiB and the collector's time. A body's consumer gives it back (Message.release).
 */
const RECEIVED_BODIES = new BufferPool(4 * 1024 * 1024, 48);

/** Requests after which the server may still be finishing (storing, committing, collecting). */
const CHANGES_SITE = new Set<number>([
  Msg.PUT_FRAME,
  Msg.PUT_END,
  Msg.PUT_RECIPE,
  Msg.VERIFY,
  Msg.REMOVE_RECIPES,
  Msg.GC,
]);

export class ProtocolClient {
  private readonly out: Outbox;
  private readonly pending = new Map<number, Pending>();
  private readonly hello: Promise<number>;
  private helloSettle!: { resolve: (flags: number) => void; reject: (err: NitroError) => void };
  private readonly reading: Promise<void>;
  private failure: NitroError | undefined;
  private nextReq = 1;
  private flags: number | undefined;
  private byeReceived = false;
  /** Whether a request that changes the far store was sent (close then waits for the server). */
  private changedSite = false;
  private readonly liveness: Liveness;
  /** Resolves when the session fails or closes. */
  private readonly ended: Promise<void>;
  private markEnded!: () => void;

  constructor(
    /** The site's name: every error from it is labelled with it. */
    readonly site: string,
    input: Readable,
    output: Writable,
    private readonly opts: ProtocolClientOptions = {},
  ) {
    this.out = new Outbox(output, undefined, () => this.fail(this.closedError()));
    this.hello = new Promise<number>((resolve, reject) => (this.helloSettle = { resolve, reject }));
    this.hello.catch(() => {});
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
    this.liveness = new Liveness(opts.timeout ?? siteTimeout(), {
      busy: () => this.flags === undefined || this.pending.size > 0,
      ping: () => this.open(Msg.PING, Buffer.from("alive?"), expect(Msg.PONG)),
      stalled: (seconds) =>
        this.fail(remote(`site ${site} stopped answering (no reply in ${formatDeadline(seconds)} s)`)),
    });
    this.send([encodeHello()]);
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

  /** Whether nothing more can be sent. */
  get closed(): boolean {
    return this.out.closed;
  }

  /** Writes one message; false when the caller should await drain(). */
  send(pieces: Buffer[], written?: () => void): boolean {
    if (!this.out.closed) this.liveness.sent(pieces.reduce((n, p) => n + p.length, 0));
    if (!this.changedSite && CHANGES_SITE.has(pieces[0]![4]!)) this.changedSite = true;
    return this.out.send(pieces, written);
  }

  /** Resolves once the output has room again, or the session has ended. */
  drain(): Promise<void> {
    // A site that stopped reading never drains the stream: the session's end must free the writer.
    return Promise.race([this.out.drain(), this.ended]);
  }

  /** Takes a request id for replies to come; the caller sends the request's messages. */
  register(onReply: OnReply): Request {
    if (this.failure) throw this.failure;
    const req = this.nextReq;
    this.nextReq = this.nextReq >= 0xffff_fffe ? 1 : this.nextReq + 1;
    let settle!: Pending["settle"];
    const done = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
    done.catch(() => {});
    this.pending.set(req, { onReply, settle });
    return { req, done };
  }

  /** Sends a request of one message and routes its replies to `onReply`. */
  open(type: number, body: Buffer | undefined, onReply: OnReply): Request {
    const r = this.register(onReply);
    this.send(message(type, r.req, body));
    return r;
  }

  /** Sends a request whose replies are `item` messages up to an END. */
  stream(type: number, body: Buffer | undefined, item: number, onItem: (m: Message) => void): Request {
    return this.open(type, body, (m) => {
      if (m.type === Msg.END) return true;
      if (m.type !== item) throw unexpectedReply(m);
      onItem(m);
      return false;
    });
  }

  /** One request, one reply of type `expect`. */
  async call<T>(
    type: number,
    body: Buffer | undefined,
    expect: number,
    parse: (m: Message) => T,
  ): Promise<T> {
    let result!: T;
    await this.open(type, body, (m) => {
      if (m.type !== expect) throw unexpectedReply(m);
      result = parse(m);
      return true;
    }).done;
    return result;
  }

  /**
   * Gives up on a streaming request: `done` resolves now, the server is told `cancelType`, and what
   * it still sends up to its END or ERROR is dropped.
   */
  cancel(r: Request, cancelType: number): void {
    const p = this.pending.get(r.req);
    if (!p) return;
    const settle = p.settle;
    this.pending.set(r.req, { onReply: (m) => m.type === Msg.END, settle: () => {} });
    settle();
    this.send(message(cancelType, r.req));
  }

  async has(ids: ChunkId[]): Promise<boolean[]> {
    return this.call(Msg.HAS, encodeIds(ids), Msg.HAS_REPLY, (m) => decodeBitmap(m.body, ids.length));
  }

  /**
   * HAS_SIZES: per id (of a chunk of that raw length), the bytes the site would send for it (0
   * when it lacks it) and its frame.
   */
  async hasSizes(ids: ChunkId[], lengths: ArrayLike<number>): Promise<StoredSizes> {
    return this.call(Msg.HAS_SIZES, encodeIds(ids), Msg.HAS_SIZES_REPLY, (m) => decodeSizes(m.body, lengths));
  }

  async ping(): Promise<void> {
    await this.call(Msg.PING, Buffer.from("nitro"), Msg.PONG, () => undefined);
  }

  /** GET_FRAMES: the server may send `credit` bytes of FRAME bodies ahead of grant(). */
  getFrames(credit: number, ids: ChunkId[], onFrame: (m: Message) => void): Request {
    return this.stream(Msg.GET_FRAMES, encodeGet(credit, ids), Msg.FRAME, onFrame);
  }

  /** CREDIT: lets a download's server send `bytes` more. */
  grant(r: Request, bytes: number): void {
    this.send(message(Msg.CREDIT, r.req, encodeU32(bytes)));
  }

  /** PROBE: `onData` gets each PROBE_DATA body up to the END. */
  probe(bytes: number, onData: (body: Buffer) => void): Promise<void> {
    let total = 0;
    return this.stream(Msg.PROBE, encodeU64(bytes), Msg.PROBE_DATA, (m) => {
      total += m.body.length;
      if (total > bytes) throw protocolError("PROBE sent more data than asked");
      onData(m.body);
    }).done;
  }

  /** VERIFY: the site verifies its store; progress and findings come as they are known. */
  async verify(opts: VerifyOptions, onEvent: (e: VerifyEvent) => void): Promise<VerifyReport> {
    let report: VerifyReport | undefined;
    await this.open(Msg.VERIFY, encodeVerifyRequest(opts), (m) => {
      if (m.type === Msg.END && report) return true;
      if (report) throw unexpectedReply(m);
      if (m.type === Msg.VERIFY_PROGRESS) onEvent({ type: "progress", ...decodeVerifyProgress(m.body) });
      else if (m.type === Msg.VERIFY_FINDING) onEvent({ type: "finding", finding: decodeFinding(m.body) });
      else if (m.type === Msg.VERIFY_REPORT) report = decodeVerifyReport(m.body);
      else throw unexpectedReply(m);
      return false;
    }).done;
    return report!;
  }

  async listRecipes(): Promise<RecipeSummary[]> {
    const list: RecipeSummary[] = [];
    await this.stream(Msg.LIST_RECIPES, undefined, Msg.RECIPE_LIST, (m) => list.push(...decodeList(m.body)))
      .done;
    return list;
  }

  async putRecipe(recipe: Recipe, opts: { force?: boolean } = {}): Promise<void> {
    const header = recipeHeader(recipe, opts);
    const r = this.open(Msg.PUT_RECIPE, header, (m) => {
      if (m.type !== Msg.OK) throw unexpectedReply(m);
      return true;
    });
    for (const part of recipeParts(recipe)) {
      if (this.out.closed) break;
      if (!this.send(message(Msg.RECIPE_PART, r.req, part))) await this.drain();
    }
    await r.done;
  }

  /**
   * The recipe named `name`, or undefined if the site has none. A reply for another name, with a
   * name no store would accept, or whose entries do not hash to its digest is refused (CORRUPT).
   */
  async getRecipe(name: string): Promise<Recipe | undefined> {
    let asm: RecipeAssembler | undefined;
    await this.open(Msg.GET_RECIPE, Buffer.from(name, "utf8"), (m) => {
      if (m.type === Msg.OK && !asm) return true;
      if (m.type === Msg.RECIPE && !asm) asm = new RecipeAssembler(this.checkedHeader(name, m.body));
      else if (m.type === Msg.RECIPE_PART && asm) asm.add(m.body);
      else throw unexpectedReply(m);
      return asm.complete;
    }).done;
    if (!asm) return undefined;
    let recipe: Recipe;
    try {
      recipe = asm.finish();
    } catch (err) {
      throw err instanceof NitroError ? corrupt(`${this.site}: ${err.message}`) : err;
    }
    if (!digestMatches(recipe))
      throw corrupt(`${this.site}: sent image '${name}' with a chunk list that does not match its digest`);
    return recipe;
  }

  private checkedHeader(asked: string, body: Buffer) {
    const header = decodeRecipeHeader(body);
    const sent = quoteRemoteText(header.name);
    if (header.name !== asked) throw corrupt(`${this.site}: sent image '${sent}' when asked for '${asked}'`);
    try {
      validateImageName(header.name);
    } catch {
      throw corrupt(`${this.site}: sent an image under an invalid name '${sent}'`);
    }
    return header;
  }

  /** REMOVE_RECIPES: the names the site removed (all asked for, or an ERROR and none). */
  async removeRecipes(names: string[]): Promise<string[]> {
    return this.call(Msg.REMOVE_RECIPES, encodeNames(names), Msg.REMOVED, (m) => decodeNames(m.body));
  }

  async gc(request: GcRequest): Promise<GcReport> {
    return this.call(Msg.GC, encodeGcRequest(request), Msg.GC_REPORT, (m) => decodeGcReport(m.body));
  }

  /** STATUS: the site's statuses of the named images (every image when `names` is undefined). */
  async status(names?: string[]): Promise<ImageStatus[]> {
    const list: ImageStatus[] = [];
    await this.stream(Msg.STATUS, encodeStatusRequest(names), Msg.STATUS_LIST, (m) =>
      list.push(...decodeStatusList(m.body)),
    ).done;
    return list;
  }

  async space(): Promise<SpaceInfo> {
    return this.call(Msg.SPACE, undefined, Msg.SPACE_INFO, (m) => decodeSpace(m.body));
  }

  /** Says BYE, lets the server finish what is in flight, and ends the stream. */
  async close(): Promise<void> {
    // A session that only read has nothing to finish: the server is not waited for.
    const linger = this.changedSite;
    if (!this.failure) {
      this.send(message(Msg.BYE, 0));
      const timeout = new Promise<void>((r) => setTimeout(r, 10_000).unref());
      if (linger) await Promise.race([this.reading, timeout]);
    }
    this.fail(remote(`${this.site}: site closed`));
    this.out.end();
    await this.opts.closeTransport?.(linger);
  }

  /**
   * Takes the input's chunks as they come ('data'): its async iterator's read() joins whatever is
   * buffered into one new Buffer, a copy of most of a download's bytes. Ends the session at the
   * input's end, error or premature close; the input is left paused, not destroyed (it may be the
   * Duplex we write to).
   */
  private read(input: Readable): Promise<void> {
    const reader = new MessageReader(ACCEPTS.client, RECEIVED_BODIES);
    return new Promise<void>((resolve) => {
      let ended = false;
      const stop = (failure: NitroError) => {
        if (ended) return;
        ended = true;
        input.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
        input.pause();
        this.fail(failure);
        resolve();
      };
      const onData = (chunk: Buffer) => {
        // Bytes, not whole messages, show progress: a large frame on a slow link takes a while.
        this.liveness.heard(chunk.length);
        try {
          reader.push(chunk);
          for (let m = reader.next(); m && !ended; m = reader.next()) {
            this.dispatch(m);
            if (this.failure) stop(this.failure);
          }
        } catch (err) {
          onError(err);
        }
      };
      const onEnd = () => stop(this.closedError());
      const onError = (err: unknown) => {
        const e = err instanceof NitroError ? err : remote(`connection lost: ${(err as Error).message}`);
        stop(new NitroError(e.exitCode, `${this.site}: ${e.message}`));
      };
      const onClose = () => onError(new Error("Premature close"));
      input.on("data", onData).once("end", onEnd).once("error", onError).once("close", onClose);
    });
  }

  private closedError(): NitroError {
    if (this.byeReceived) return remote(`${this.site}: site closed`);
    const why = this.opts.describeClose?.();
    return remote(`${this.site}: connection closed by the site${why ? `: ${quoteRemoteText(why)}` : ""}`);
  }

  private dispatch(m: Message): void {
    if (m.type === Msg.HELLO) return this.onHello(m.body);
    if (m.req === 0) {
      if (m.type === Msg.BYE) this.byeReceived = true;
      else if (m.type === Msg.ERROR) this.fail(remoteError(this.site, m.body));
      else throw unexpectedReply(m);
      return;
    }
    // Replies to requests we gave up on (failed put streams) are dropped.
    const p = this.pending.get(m.req);
    if (!p) return;
    if (m.type === Msg.ERROR) {
      this.pending.delete(m.req);
      return p.settle(remoteError(this.site, m.body));
    }
    let last: boolean;
    try {
      last = p.onReply(m);
    } catch (err) {
      if (err instanceof ProtocolError)
        return this.fail(new NitroError(err.exitCode, `${this.site}: ${err.message}`));
      this.pending.delete(m.req);
      return p.settle(err);
    }
    if (last) {
      this.pending.delete(m.req);
      p.settle();
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

  private fail(err: NitroError): void {
    if (this.failure) return;
    this.failure = err;
    this.liveness.stop();
    this.markEnded();
    this.helloSettle.reject(err);
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.settle(err);
    this.out.end();
  }
}
