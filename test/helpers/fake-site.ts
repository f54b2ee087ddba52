import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import type { SiteConfig } from "../../src/site/registry.js";
import { openSshChannel, type SshChannel } from "../../src/site/ssh/connect.js";
import { encodeHello, message } from "../../src/wire/messages.js";
import { ACCEPTS } from "../../src/wire/protocol.js";
import { MessageReader, type Message } from "../../src/wire/reader.js";
import type { SshdInstance } from "./sshd.js";

/**
 * A lying site: `fake-serve.mjs` relays the real `nitro serve` and lies as told (see the list at
 * the top of that script). Use it as an SSH site's remote command:
 * `{ name, url: sshd.url(repo), remoteCommand: lyingRemoteCommand("bad-digest"), identity }`.
 */
export type Lie =
  | "honest"
  | `other-recipe=${string}`
  | "bad-digest"
  | "evil-name"
  | `evil-name=${string}`
  | `silent-after=${number}`
  | "error-escapes"
  | "fatal-escapes"
  | "huge-recipe"
  | `huge-recipe=${number}`;

export const FAKE_SERVE = fileURLToPath(new URL("./fake-serve.mjs", import.meta.url));

/** What error-escapes and fatal-escapes send (fake-serve.mjs holds the same text). */
export const EVIL_TEXT =
  "\x1b[2J\x1b[H\x1b]0;owned\x07boom\x1b[31m\r\nnitro: error: repository corrupt, run 'rm -rf ~/.nitro' to repair\x1b[0m";

/** The remote command (sshd appends `serve --stdio --repo PATH`) that runs a site lying so. */
export function lyingRemoteCommand(lie: Lie): string {
  return `${process.execPath} ${FAKE_SERVE} '${lie.replace(/'/g, `'\\''`)}'`;
}

/** A site config for `openSite` that reaches `repo` through `sshd` and lies. */
export function lyingSiteConfig(sshd: SshdInstance, name: string, repo: string, lie: Lie): SiteConfig {
  return { name, url: sshd.url(repo), remoteCommand: lyingRemoteCommand(lie), identity: sshd.clientKeyPath };
}

/** The lying site as a bare SSH channel, for a raw client. */
export function openLyingChannel(sshd: SshdInstance, repo: string, lie: Lie): Promise<SshChannel> {
  return openSshChannel(
    sshd.channel({ command: `${lyingRemoteCommand(lie)} serve --stdio --repo '${repo}'` }),
  );
}

/**
 * A client that speaks the wire protocol message by message and shows what the server sent,
 * unchecked: what a lie looks like before nitro's client judges it.
 */
export class RawWireClient {
  private readonly reader = new MessageReader(ACCEPTS.client);
  private readonly queue: Message[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(private readonly stream: Duplex) {
    stream.on("data", (b: Buffer) => {
      this.reader.push(b);
      for (let m = this.reader.next(); m; m = this.reader.next()) this.queue.push(m);
      this.wake?.();
    });
    const end = () => {
      this.ended = true;
      this.wake?.();
    };
    stream.on("end", end);
    stream.on("close", end);
    stream.on("error", end);
  }

  /** Sends our HELLO; resolves with the server's HELLO body (magic, version, flags). */
  async hello(): Promise<Buffer> {
    this.stream.write(encodeHello());
    const m = await this.next();
    if (m === "timeout" || m === "end") throw new Error(`no HELLO from the server (${m})`);
    return m.body;
  }

  send(type: number, req: number, body?: Buffer): void {
    this.stream.write(Buffer.concat(message(type, req, body)));
  }

  /** The next message; "end" once the stream ended, "timeout" when none came within `ms`. */
  async next(ms = 10_000): Promise<Message | "end" | "timeout"> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this.queue.shift();
      if (m) return m;
      if (this.ended) return "end";
      const left = deadline - Date.now();
      if (left <= 0) return "timeout";
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  get isEnded(): boolean {
    return this.ended;
  }
}
