import type { Command } from "commander";
import { Exit } from "../../util/errors.js";
import { formatBytes } from "../../util/units.js";
import { CliContext } from "../context.js";
import { siteOpener, withSshOptions, type SshCliOptions } from "../site-options.js";

export function register(program: Command): void {
  withSshOptions(
    program
      .command("where [image...]")
      .description("which site holds which image: complete, recipe only, partial (percent of bytes), absent")
      .addHelpText(
        "after",
        "\nThis node's repository and every configured site are asked at once, one query each.\n" +
          "Exit 3 when a named image is at no reachable site.\n\nExample:\n  nitro where debian-12-lamp --json\n",
      ),
  ).action(async (names: string[], o: SshCliOptions, cmd: Command) => {
    const ctx = CliContext.of(cmd);
    const [{ whereImages, holdingText }, { SiteRegistry }, { readConfig }, { LocalSite }, { Store }] =
      await Promise.all([
        import("../../site/where.js"),
        import("../../site/registry.js"),
        import("../../store/config.js"),
        import("../../site/local.js"),
        import("../../store/store.js"),
      ]);
    const here = readConfig(ctx.repoDir).site;
    const configs = new SiteRegistry(ctx.repoDir).list();
    const open = siteOpener(ctx, o);
    const hereName = configs.some((c) => c.name === here) ? `${here} (here)` : here;
    const table = await whereImages(
      [
        { name: hereName, open: async () => new LocalSite(hereName, Store.open(ctx.repoDir)) },
        ...configs.map((c) => ({ name: c.name, open: () => open(c) })),
      ],
      names.length > 0 ? names : undefined,
    );
    for (const s of table.sites) if (s.error) ctx.info(`${s.name} is unreachable: ${s.error}`);
    ctx.emit(table, () => {
      if (table.images.length === 0) return "no images at any reachable site";
      const header = ["IMAGE", "SIZE", ...table.sites.map((s) => s.name)];
      const rows = table.images.map((r) => [
        r.image,
        formatBytes(r.size),
        ...table.sites.map((s) => holdingText(r.at[s.name]!)),
      ]);
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      return [header, ...rows]
        .map((cells) =>
          cells
            .map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
            .join("  ")
            .trimEnd(),
        )
        .join("\n");
    });
    const nowhere = table.images.filter((r) =>
      Object.values(r.at).every((h) => h.state === "absent" || h.state === "unreachable"),
    );
    if (names.length > 0 && nowhere.length > 0) {
      process.stderr.write(`nitro: no reachable site has ${nowhere.map((r) => `'${r.image}'`).join(", ")}\n`);
      process.exitCode = Exit.NOT_FOUND;
    }
  });
}
