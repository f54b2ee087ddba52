import type { Command } from "commander";
import { usage } from "../../util/errors.js";
import { formatBytes } from "../../util/units.js";
import { CliContext, withStore } from "../context.js";
import { byteBar } from "../progress.js";
import { siteList, siteOpener, withSshOptions, type SshCliOptions } from "../site-options.js";
import type { GcReport } from "../../store/gc.js";
import type { SiteOutcome } from "../../site/each-site.js";
import type { MaintainSite } from "../../site/site.js";

interface SiteOption extends SshCliOptions {
  site?: string;
}

/** Runs `fn` at each named site (see atEachMaintainSite); sets the exit code of the first failure. */
async function atSites<T>(
  ctx: CliContext,
  o: SiteOption,
  names: string[],
  fn: (site: MaintainSite) => Promise<T>,
): Promise<SiteOutcome<T>[]> {
  const [{ SiteRegistry }, { atEachMaintainSite, outcomesExitCode }] = await Promise.all([
    import("../../site/registry.js"),
    import("../../site/each-site.js"),
  ]);
  const registry = new SiteRegistry(ctx.repoDir);
  const configs = names.map((n) => registry.get(n));
  const outcomes = await atEachMaintainSite(configs, siteOpener(ctx, o), fn);
  for (const r of outcomes)
    if (!r.ok) {
      // A remote site's errors already start with its name.
      const text = r.error.startsWith(`${r.site}: `) ? r.error : `${r.site}: ${r.error}`;
      process.stderr.write(`nitro: ${text}\n`);
    }
  const code = outcomesExitCode(outcomes);
  if (code !== 0) process.exitCode = code;
  return outcomes;
}

function gcText(report: GcReport): string {
  return report.dryRun
    ? `would reclaim ${formatBytes(report.bytesReclaimed)}: ${report.packsRewritten} packs to rewrite, ${report.packsDeleted} to delete, ${report.chunksDeleted} unused chunks`
    : `reclaimed ${formatBytes(report.bytesReclaimed)}: ${report.packsRewritten} packs rewritten, ${report.packsDeleted} deleted, ${formatBytes(report.liveBytes)} in use`;
}

function parsePercent(v: string): number {
  const n = Number(v.replace(/%$/, ""));
  if (v.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100)
    throw usage(`--max-unused takes a percentage from 0 to 100, got '${v}'`);
  return n;
}

export function register(program: Command): void {
  withSshOptions(
    program
      .command("rm <image...>")
      .description("remove images (their recipes); 'nitro gc' then reclaims the space")
      .option("--site <names>", "at these sites (comma-separated) instead of this node")
      .addHelpText(
        "after",
        "\nExamples:\n  nitro rm debian-11-lamp debian-11-base && nitro gc\n  nitro rm debian-11-base --site lyon,paris\n",
      ),
  ).action(async (names: string[], o: SiteOption, cmd: Command) => {
    const ctx = CliContext.of(cmd);
    if (o.site !== undefined) {
      const outcomes = await atSites(ctx, o, siteList(o.site), (site) => site.removeRecipes(names));
      ctx.emit({ sites: outcomes }, () =>
        outcomes
          .filter((r) => r.ok)
          .map(
            (r) =>
              `${r.site}: removed ${r.value.join(", ")}; run 'nitro gc --site ${r.site}' to reclaim the space`,
          )
          .join("\n"),
      );
      return;
    }
    const { removeRecipes } = await import("../../store/remove.js");
    const removed = await withStore(ctx, (s) => removeRecipes(s, names));
    ctx.emit({ removed }, () => `removed ${removed.join(", ")}; run 'nitro gc' to reclaim the space`);
  });

  withSshOptions(
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
      .option("--site <name>", "at this site instead of this node")
      .addHelpText("after", "\nExamples:\n  nitro gc --max-unused 10\n  nitro gc --site lyon --dry-run\n"),
  ).action(async (o: SiteOption & { dryRun?: boolean; maxUnused: number }, cmd: Command) => {
    const ctx = CliContext.of(cmd);
    if (o.site !== undefined) {
      const t0 = performance.now();
      const [r] = await atSites(ctx, o, [o.site], (site) =>
        site.gc({ dryRun: o.dryRun ?? false, maxUnused: o.maxUnused }),
      );
      if (!r!.ok) {
        if (ctx.json) ctx.emit({ error: r!.error, exitCode: r!.exitCode, site: r!.site }, () => "");
        return;
      }
      const seconds = (performance.now() - t0) / 1000;
      ctx.emit({ site: r!.site, ...r!.value, seconds }, () => `${r!.site}: ${gcText(r!.value)}`);
      return;
    }
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
    ctx.emit({ ...report, seconds }, () => gcText(report));
  });
}
