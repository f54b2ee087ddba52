import { basename, extname } from "node:path";
import type { Command } from "commander";
import type { AddResult } from "../../image/ingest.js";
import { usage } from "../../util/errors.js";
import { formatBytes, formatRate, formatSeconds } from "../../util/units.js";
import { CliContext, withStore } from "../context.js";
import { byteBar, type Progress } from "../progress.js";

export function defaultImageName(file: string): string {
  return basename(file, extname(file));
}

function report(ctx: CliContext, r: AddResult): void {
  const { recipe, ...figures } = r;
  const ratio = r.storedBytes > 0 ? r.logicalBytes / r.storedBytes : Infinity;
  const result = { name: recipe.name, digest: recipe.digest, ...figures, dedupRatio: ratio };
  // JSON Lines: one compact object per image, as each is stored.
  if (ctx.json) return void process.stdout.write(JSON.stringify(result) + "\n");
  ctx.emit(result, () =>
    [
      `added ${recipe.name}: ${formatBytes(r.logicalBytes)} in ${r.chunks} chunks (${formatBytes(r.zeroBytes)} zeros)`,
      `  new unique ${formatBytes(r.newBytes)} in ${r.newChunks} chunks, stored ${formatBytes(r.storedBytes)}, ratio ${ratio === Infinity ? "∞" : ratio.toFixed(1)}:1`,
      `  ${formatSeconds(r.seconds)}, ${formatRate(r.logicalBytes / r.seconds)}`,
    ].join("\n"),
  );
}

export function register(program: Command): void {
  program
    .command("add <file...>")
    .description("cut images into chunks and store the new ones; record each one's recipe")
    .option("--name <name>", "image name, for a single file (default: file name without extension)")
    .option("--force", "replace existing images of those names")
    .addHelpText(
      "after",
      [
        "",
        "All files are opened and their names checked before anything is stored; each image is",
        "reported (with --json: one JSON object per image) as soon as it is stored.",
        "",
        "Examples:",
        "  nitro add debian-12-lamp.qcow2 --name lamp",
        "  nitro add images/*.qcow2",
        "",
      ].join("\n"),
    )
    .action(async (files: string[], o: { name?: string; force?: boolean }, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      if (o.name !== undefined && files.length > 1) throw usage("--name needs a single file");
      const inputs = files.map((path) => ({ path, name: o.name ?? defaultImageName(path) }));
      const { addImages } = await import("../../image/ingest.js");
      await withStore(ctx, async (store) => {
        let bar: Progress | undefined;
        const stop = () => (bar?.stop(), (bar = undefined));
        await addImages(store, inputs, {
          force: o.force,
          lockWait: ctx.lockWait,
          onStart: (input, size) => (bar = byteBar(ctx, `add ${input.name}`, size)),
          onProgress: (d, t) => bar?.update(d, t),
          onAdded: (r) => (stop(), report(ctx, r)),
        }).finally(stop);
      });
    });
}
