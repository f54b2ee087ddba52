import type { Command } from "commander";
import { entryCount, entryLength, isZeroEntry } from "../../store/recipe.js";
import { Exit, notFound } from "../../util/errors.js";
import { formatBytes } from "../../util/units.js";
import { CliContext, withStore } from "../context.js";
import { byteBar } from "../progress.js";
import type { Store } from "../../store/store.js";

export function requireRecipe(store: Store, name: string) {
  const r = store.getRecipe(name);
  if (!r) throw notFound(`no image '${name}' in ${store.dir} (see 'nitro ls')`);
  return r;
}

export function register(program: Command): void {
  program
    .command("ls")
    .description("list images")
    .addHelpText("after", "\nExample:\n  nitro ls --json\n")
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const list = await withStore(ctx, (s) =>
        s.listRecipes().map((r) => ({ ...r, complete: s.missingChunks(requireRecipe(s, r.name)) === 0 })),
      );
      ctx.emit(list, () =>
        list.length === 0
          ? "no images"
          : list
              .map(
                (r) =>
                  `${r.name.padEnd(24)} ${formatBytes(r.size).padStart(10)} ${String(r.chunks).padStart(8)} chunks  ${r.created}${r.complete ? "" : "  (recipe only: chunks elsewhere)"}`,
              )
              .join("\n"),
      );
    });

  program
    .command("info <image>")
    .description("show an image's recipe summary")
    .addHelpText("after", "\nExample:\n  nitro info lamp\n")
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const info = await withStore(ctx, (s) => {
        const r = requireRecipe(s, name);
        let zeroBytes = 0;
        let dataChunks = 0;
        for (let i = 0, n = entryCount(r); i < n; i++) {
          if (isZeroEntry(r, i)) zeroBytes += entryLength(r, i);
          else dataChunks++;
        }
        return {
          name: r.name,
          size: r.size,
          digest: r.digest,
          created: r.created,
          chunker: r.chunker,
          chunks: dataChunks,
          zeroBytes,
        };
      });
      ctx.emit(info, () =>
        [
          `image    ${info.name}`,
          `size     ${formatBytes(info.size)} (${info.size} bytes), ${formatBytes(info.zeroBytes)} zeros`,
          `chunks   ${info.chunks} (${info.chunker.kind} ${info.chunker.min}/${info.chunker.avg}/${info.chunker.max})`,
          `digest   ${info.digest}`,
          `created  ${info.created}`,
        ].join("\n"),
      );
    });

  program
    .command("stats")
    .description("logical, unique and stored bytes of the repository")
    .addHelpText("after", "\nExample:\n  nitro stats --json\n")
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const s = await withStore(ctx, (st) => st.stats());
      const dedup = s.uniqueBytes > 0 ? s.logicalBytes / s.uniqueBytes : 0;
      const compression = s.storedBytes > 0 ? s.uniqueBytes / s.storedBytes : 0;
      ctx.emit({ ...s, dedupRatio: dedup, compressionRatio: compression }, () =>
        [
          `images        ${s.images}`,
          `logical       ${formatBytes(s.logicalBytes)}`,
          `unique        ${formatBytes(s.uniqueBytes)} in ${s.chunks} chunks (dedup ${dedup.toFixed(1)}:1)`,
          `stored        ${formatBytes(s.storedBytes)} (compression ${compression.toFixed(2)}:1, total ${(s.storedBytes ? s.logicalBytes / s.storedBytes : 0).toFixed(1)}:1)`,
          `pack files    ${formatBytes(s.packBytes)}`,
        ].join("\n"),
      );
    });

  program
    .command("export <image>")
    .description("rebuild an image file from the local store (sparse, verified, atomic)")
    .requiredOption("-o, --output <file>", "file to write")
    .option("--force", "overwrite an existing file")
    .addHelpText("after", "\nExample:\n  nitro export lamp -o /var/lib/libvirt/images/lamp.qcow2\n")
    .action(async (name: string, o: { output: string; force?: boolean }, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const { exportImage } = await import("../../image/export.js");
      await withStore(ctx, async (s) => {
        const r = requireRecipe(s, name);
        const bar = byteBar(ctx, "export", r.size);
        const t0 = performance.now();
        try {
          await exportImage(s, r, o.output, { force: o.force, onProgress: (d) => bar.update(d) });
        } finally {
          bar.stop();
        }
        const seconds = (performance.now() - t0) / 1000;
        ctx.emit(
          { name, output: o.output, size: r.size, digest: r.digest, seconds },
          () => `exported ${name} to ${o.output} (${formatBytes(r.size)}, digest verified)`,
        );
      });
    });

  program
    .command("check")
    .description("check the repository: index entries point at valid frames, recipes are complete")
    .option("--read-data", "also read and hash every chunk")
    .addHelpText("after", "\nExample:\n  nitro check --read-data\n")
    .action(async (o: { readData?: boolean }, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const { checkStore, checkReportJson } = await import("../../store/check.js");
      const report = await withStore(ctx, (s) => checkStore(s, o.readData ?? false));
      ctx.emit(checkReportJson(report), () =>
        [
          `checked ${report.chunks} chunks in ${report.frames} frames, ${report.recipes} images: ${report.findings.length} problems`,
          ...report.errors.map((e) => `  ${e}`),
          ...(report.incomplete.length > 0
            ? [
                `  ${report.incomplete.length} images known here by recipe only (announced; their chunks are at other sites): ${report.incomplete.join(", ")}`,
              ]
            : []),
        ].join("\n"),
      );
      if (report.findings.length > 0) process.exitCode = Exit.CORRUPT;
    });
}
