import type { Command } from "commander";
import { fromSystemError, usage } from "../../util/errors.js";
import { parseSize } from "../../util/units.js";
import { CliContext } from "../context.js";

interface InitOptions {
  site: string;
  chunker: string;
  avgSize: string;
  compress: string;
  level: string;
}

export function register(program: Command): void {
  program
    .command("init")
    .description("create a repository: one store and this node's configuration")
    .option("--site <name>", "name of the site this node belongs to", "local")
    .option("--chunker <kind>", "fastcdc (content-defined) or fixed", "fastcdc")
    .option("--avg-size <size>", "average chunk size (fastcdc: min avg/4, max avg*4; fixed: the size)", "64K")
    .option("--compress <codec>", "zstd or none", "zstd")
    .option("--level <n>", "zstd level (1-19; 1 is fastest, 3 stores ~10% less)", "1")
    .addHelpText(
      "after",
      "\nExample:\n  nitro --repo /srv/nitro init --site lyon --chunker fastcdc --avg-size 64K\n",
    )
    .action(async (o: InitOptions, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      if (o.compress !== "zstd" && o.compress !== "none")
        throw usage(`unknown compression '${o.compress}' (zstd or none)`);
      const level = Number(o.level);
      if (!Number.isInteger(level) || level < 1 || level > 19)
        throw usage(`zstd level must be 1-19, got '${o.level}'`);
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(o.site)) throw usage(`invalid site name '${o.site}'`);
      const [{ Store }, { chunkerParams }] = await Promise.all([
        import("../../store/store.js"),
        import("../../chunk/chunker.js"),
      ]);
      const chunker = chunkerParams(o.chunker, parseSize(o.avgSize));
      let store: ReturnType<typeof Store.init>;
      try {
        store = Store.init(ctx.repoDir, { site: o.site, chunker, compression: { codec: o.compress, level } });
      } catch (err) {
        throw fromSystemError(err, `repository ${ctx.repoDir}`);
      }
      await store.close();
      ctx.emit(
        { repo: ctx.repoDir, ...store.config },
        () =>
          `created repository ${ctx.repoDir} (site ${o.site}, ${store.config.chunker.kind} ${o.avgSize}, ${o.compress})`,
      );
    });
}
