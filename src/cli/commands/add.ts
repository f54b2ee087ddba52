import { basename, extname } from "node:path";
import type { Command } from "commander";
import { formatBytes, formatRate, formatSeconds } from "../../util/units.js";
import { CliContext, withStore } from "../context.js";
import { byteBar } from "../progress.js";

export function defaultImageName(file: string): string {
  return basename(file, extname(file));
}

export function register(program: Command): void {
  program
    .command("add <file>")
    .description("cut an image into chunks and store the new ones; record its recipe")
    .option("--name <name>", "image name (default: file name without extension)")
    .option("--force", "replace an existing image of that name")
    .addHelpText("after", "\nExample:\n  nitro add debian-12-lamp.qcow2 --name lamp\n")
    .action(async (file: string, o: { name?: string; force?: boolean }, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const { addImage } = await import("../../image/ingest.js");
      await withStore(ctx, async (store) => {
        const bar = byteBar(ctx, "add", 0);
        const r = await addImage(store, file, {
          name: o.name ?? defaultImageName(file),
          force: o.force,
          lockWait: ctx.lockWait,
          onProgress: (d, t) => bar.update(d, t),
        }).finally(() => bar.stop());
        const { recipe, ...figures } = r;
        const ratio = r.storedBytes > 0 ? r.logicalBytes / r.storedBytes : Infinity;
        ctx.emit({ name: recipe.name, digest: recipe.digest, ...figures, dedupRatio: ratio }, () =>
          [
            `added ${recipe.name}: ${formatBytes(r.logicalBytes)} in ${r.chunks} chunks (${formatBytes(r.zeroBytes)} zeros)`,
            `  new unique ${formatBytes(r.newBytes)} in ${r.newChunks} chunks, stored ${formatBytes(r.storedBytes)}, ratio ${ratio === Infinity ? "∞" : ratio.toFixed(1)}:1`,
            `  ${formatSeconds(r.seconds)}, ${formatRate(r.logicalBytes / r.seconds)}`,
          ].join("\n"),
        );
      });
    });
}
