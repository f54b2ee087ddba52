import type { Command } from "commander";
import { usage } from "../../util/errors.js";
import { CliContext, withStore } from "../context.js";

export function register(program: Command): void {
  program
    .command("serve")
    .description("serve this repository on stdin/stdout (run by SSH on the far side of a site)")
    .option("--stdio", "speak the nitro protocol on stdin/stdout (the only mode)")
    .option("--read-only", "refuse every write")
    .addHelpText(
      "after",
      '\nIn ~/.ssh/authorized_keys, to let a key only pull from this repository:\n  command="nitro serve --stdio --repo /srv/nitro --read-only",restrict ssh-ed25519 AAAA...\n',
    )
    .action(async (o: { stdio?: boolean; readOnly?: boolean }, cmd: Command) => {
      if (!o.stdio) throw usage("serve needs --stdio (it is meant to be run by ssh)");
      const ctx = CliContext.of(cmd);
      const [{ LocalSite }, { serveSite }, { sharedVerifier }, { growPipe, ReusedBufferReads }] =
        await Promise.all([
          import("../../site/local.js"),
          import("../../wire/server.js"),
          import("../../store/verify-pool.js"),
          import("../../util/pipes.js"),
          import("../../store/store.js"), // for withStore below: loaded alongside, not after
        ]);
      growPipe(0);
      growPipe(1);
      const input = ReusedBufferReads.open(0) ?? process.stdin;
      await withStore(ctx, (store) =>
        serveSite(new LocalSite(store.config.site, store, ctx.lockWait), input, process.stdout, {
          readOnly: o.readOnly ?? false,
          // The frame checker's thread starts during a push's HAS round trip, before its first
          // frame; a session that only reads never starts it (~50 ms of CPU for each far start).
          beforeWrites: () => sharedVerifier?.warm(),
        }),
      );
    });
}
