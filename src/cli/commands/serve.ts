import type { Command } from "commander";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { usage } from "../../util/errors.js";
import { CliContext, withStore } from "../context.js";

interface ServeFlags {
  stdio?: boolean;
  socket?: string | true;
  readOnly?: boolean;
}

export function register(program: Command): void {
  program
    .command("serve")
    .description("serve this repository to nitro clients: on stdin/stdout (run by SSH) or on a Unix socket")
    .option("--stdio", "speak the nitro protocol on stdin/stdout (what SSH runs for each session)")
    .option(
      "--socket [path]",
      "keep serving, each connection to a Unix socket a session (default: serve.sock in the repository)",
    )
    .option("--read-only", "refuse every write")
    .addHelpText(
      "after",
      [
        "",
        "In ~/.ssh/authorized_keys, to let a key only pull from this repository:",
        '  command="nitro serve --stdio --repo /srv/nitro --read-only",restrict ssh-ed25519 AAAA...',
        "",
        "With `nitro serve --socket` running at a site (a systemd service, say), clients that reach",
        "it over SSH open the socket (OpenSSH's streamlocal forwarding) instead of starting a nitro",
        "per session; where it does not run, or the key may not forward, they run `serve --stdio`.",
        "The socket is the owner's only: it lets in whom SSH lets in as that user.",
        "",
      ].join("\n"),
    )
    .action(async (o: ServeFlags, cmd: Command) => {
      if (Boolean(o.stdio) === (o.socket !== undefined))
        throw usage("serve needs --stdio (run by ssh) or --socket (a long-running server), one of them");
      const ctx = CliContext.of(cmd);
      if (o.socket !== undefined) return serveSocket(ctx, o.socket === true ? undefined : o.socket, o);
      const [session, { growPipe, ReusedBufferReads }] = await Promise.all([
        sessionServer(ctx, o),
        import("../../util/pipes.js"),
      ]);
      growPipe(0);
      growPipe(1);
      await session(ReusedBufferReads.open(0) ?? process.stdin, process.stdout);
    });
}

/** One session on a byte stream, with the store opened for it (what `serve --stdio` runs once). */
async function sessionServer(ctx: CliContext, o: ServeFlags) {
  const [{ LocalSite }, { serveSite }, { sharedVerifier }] = await Promise.all([
    import("../../site/local.js"),
    import("../../wire/server.js"),
    import("../../store/verify-pool.js"),
    import("../../store/store.js"), // for withStore below: loaded alongside, not after
  ]);
  return (input: Parameters<typeof serveSite>[1], output: Writable) =>
    withStore(ctx, (store) =>
      serveSite(new LocalSite(store.config.site, store, ctx.lockWait), input, output, {
        readOnly: o.readOnly ?? false,
        // The frame checker's thread starts during a push's HAS round trip, before its first
        // frame; a session that only reads never starts it (~50 ms of CPU for each far start).
        beforeWrites: () => sharedVerifier?.warm(),
      }),
    );
}

/** Serves until SIGTERM or SIGINT; each session opens the store as a `serve --stdio` process would. */
async function serveSocket(ctx: CliContext, path: string | undefined, o: ServeFlags): Promise<void> {
  const [session, { listenOnSocket, SERVE_SOCKET }, { Store }] = await Promise.all([
    sessionServer(ctx, o),
    import("../../wire/listen.js"),
    import("../../store/store.js"),
  ]);
  await Store.open(ctx.repoDir).close(); // a missing or broken repository fails now, not at the first client
  const listening = await listenOnSocket(
    path ?? join(ctx.repoDir, SERVE_SOCKET),
    (socket) => session(socket, socket),
    (err) => process.stderr.write(`nitro serve: session ended: ${(err as Error).message ?? String(err)}\n`),
  );
  const stop = () => void listening.stop();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  await listening.stopped;
}
