import { homedir } from "node:os";
import { resolve } from "node:path";
import type { Command } from "commander";
import type { Store } from "../store/store.js";
import { trace } from "../util/trace.js";

export interface GlobalOptions {
  repo?: string;
  json?: boolean;
  quiet?: boolean;
  progress?: boolean;
  lockWait: number;
}

/** What every command gets: where the repository is and how to talk to the user. */
export class CliContext {
  readonly repoDir: string;
  readonly json: boolean;
  readonly quiet: boolean;
  /** Progress bars only for a person watching: a TTY on stderr, not --json/--quiet/--no-progress. */
  readonly showProgress: boolean;
  readonly lockWait: number;

  constructor(g: GlobalOptions) {
    this.repoDir = resolve(g.repo ?? process.env.NITRO_HOME ?? `${homedir()}/.nitro`);
    this.json = g.json ?? false;
    this.quiet = g.quiet ?? false;
    this.showProgress = (g.progress ?? true) && !this.json && !this.quiet && process.stderr.isTTY === true;
    this.lockWait = g.lockWait;
  }

  static of(cmd: Command): CliContext {
    return new CliContext(cmd.optsWithGlobals<GlobalOptions>());
  }

  /** The result of a command: JSON on stdout with --json, else the human text (unless --quiet). */
  emit(result: unknown, human: () => string): void {
    if (this.json) process.stdout.write(JSON.stringify(result, null, 2) + "\n");
    else if (!this.quiet) {
      const text = human();
      if (text) process.stdout.write(text.endsWith("\n") ? text : text + "\n");
    }
  }

  /** Informational line on stderr (suppressed by --quiet and --json). */
  info(line: string): void {
    if (!this.quiet && !this.json) process.stderr.write(line + "\n");
  }
}

/**
 * Runs fn with an open store and closes it whatever happens. The store's modules (LMDB among
 * them) load here rather than at start-up, so that a command can first start what waits on the
 * network (push connects to its sites before this).
 */
export async function withStore<T>(ctx: CliContext, fn: (store: Store) => Promise<T> | T): Promise<T> {
  const { Store } = await import("../store/store.js");
  const store = Store.open(ctx.repoDir);
  trace("store open");
  try {
    return await fn(store);
  } finally {
    await store.close();
    trace("store closed");
  }
}
