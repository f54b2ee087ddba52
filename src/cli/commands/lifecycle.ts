import type { Command } from "commander";
import { usage } from "../../util/errors.js";
import { formatBytes } from "../../util/units.js";
import { CliContext, withStore } from "../context.js";
import { byteBar } from "../progress.js";

function parsePercent(v: string): number {
  const n = Number(v.replace(/%$/, ""));
  if (v.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100)
    throw usage(`--max-unused takes a percentage from 0 to 100, got '${v}'`);
  return n;
}

export function register(program: Command): void {
  program
    .command("rm <image...>")
    .description("remove images (their recipes); 'nitro gc' then reclaims the space")
    .addHelpText("after", "\nExample:\n  nitro rm debian-11-lamp debian-11-base && nitro gc\n")
    .action(async (names: string[], _o: unknown, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const { removeRecipes } = await import("../../store/remove.js");
      const removed = await withStore(ctx, (s) => removeRecipes(s, names));
      ctx.emit({ removed }, () => `removed ${removed.join(", ")}; run 'nitro gc' to reclaim the space`);
    });

  program
    .command("gc")
    .description("reclaim the space of chunks no image uses and of bytes interrupted runs left behind")
    .option("--dry-run", "only report what would be reclaimed")
    .option(
      "--max-unused <pct>",
      "rewrite a pack once more than this percent of it is unused (0: any unused byte)",
      parsePercent,
      5,
    )
    .addHelpText("after", "\nExample:\n  nitro gc --max-unused 10\n")
    .action(async (o: { dryRun?: boolean; maxUnused: number }, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const { gcStore } = await import("../../store/gc.js");
      const t0 = performance.now();
      const report = await withStore(ctx, async (s) => {
        let bar: ReturnType<typeof byteBar> | undefined;
        try {
          return await gcStore(s, {
            dryRun: o.dryRun,
            maxUnused: o.maxUnused,
            lockWait: ctx.lockWait,
            onProgress: ({ copiedBytes, totalBytes }) => {
              bar ??= byteBar(ctx, "gc", totalBytes);
              bar.update(copiedBytes);
            },
          });
        } finally {
          bar?.stop();
        }
      });
      const seconds = (performance.now() - t0) / 1000;
      ctx.emit({ ...report, seconds }, () =>
        report.dryRun
          ? `would reclaim ${formatBytes(report.bytesReclaimed)}: ${report.packsRewritten} packs to rewrite, ${report.packsDeleted} to delete, ${report.chunksDeleted} unused chunks`
          : `reclaimed ${formatBytes(report.bytesReclaimed)}: ${report.packsRewritten} packs rewritten, ${report.packsDeleted} deleted, ${formatBytes(report.liveBytes)} in use`,
      );
    });
}
