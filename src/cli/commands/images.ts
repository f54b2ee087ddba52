import type { Command } from "commander";
import { entryCount, entryLength, isZeroEntry } from "../../store/recipe.js";
import { Exit, notFound, usage } from "../../util/errors.js";
import { formatBytes, parseSize } from "../../util/units.js";
import { CliContext, withStore } from "../context.js";
import { byteBar } from "../progress.js";
import type { Store } from "../../store/store.js";

export function requireRecipe(store: Store, name: string) {
  const r = store.getRecipe(name);
  if (!r) throw notFound(`no image '${name}' in ${store.dir} (see 'nitro ls')`);
  return r;
}

interface ExportFlags {
  output: string;
  force?: boolean;
  offset?: number;
  length?: number;
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
    .addHelpText(
      "after",
      "\nLogical bytes count complete images only; images known here by recipe only (their chunks\n" +
        "at other sites) or held in part are listed apart.\n\nExample:\n  nitro stats --json\n",
    )
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const [{ imageStatus }, { holdingOf, holdingText }] = await Promise.all([
        import("../../store/status.js"),
        import("../../site/where.js"),
      ]);
      const { stats: s, statuses } = await withStore(ctx, (st) => ({
        stats: st.stats(),
        statuses: imageStatus(st.index),
      }));
      const complete = statuses.filter((i) => i.complete);
      const incomplete = statuses.filter((i) => !i.complete);
      const logicalBytes = complete.reduce((sum, i) => sum + i.size, 0);
      const dedup = s.uniqueBytes > 0 ? logicalBytes / s.uniqueBytes : 0;
      const compression = s.storedBytes > 0 ? s.uniqueBytes / s.storedBytes : 0;
      const result = {
        ...s,
        images: complete.length,
        logicalBytes,
        incompleteImages: incomplete.map(({ name, size, presentBytes, dataBytes }) => ({
          name,
          size,
          presentBytes,
          dataBytes,
        })),
        dedupRatio: dedup,
        compressionRatio: compression,
      };
      ctx.emit(result, () =>
        [
          `images        ${complete.length}`,
          `logical       ${formatBytes(logicalBytes)}`,
          `unique        ${formatBytes(s.uniqueBytes)} in ${s.chunks} chunks (dedup ${dedup.toFixed(1)}:1)`,
          `stored        ${formatBytes(s.storedBytes)} (compression ${compression.toFixed(2)}:1, total ${(s.storedBytes ? logicalBytes / s.storedBytes : 0).toFixed(1)}:1)`,
          `pack files    ${formatBytes(s.packBytes)}`,
          ...(incomplete.length > 0
            ? [
                `not counted   ${incomplete.length} images known here by recipe only or in part (chunks at other sites):`,
                ...incomplete.map(
                  (i) =>
                    `  ${i.name.padEnd(24)} ${formatBytes(i.size).padStart(10)}  ${holdingText(holdingOf(i))}`,
                ),
              ]
            : []),
        ].join("\n"),
      );
    });

  program
    .command("export <image>")
    .description("rebuild an image file from the local store (sparse, verified, atomic)")
    .requiredOption("-o, --output <file>", "file to write; - writes to standard output")
    .option("--force", "overwrite an existing file")
    .option("--offset <bytes>", "only from this byte of the image (e.g. 4096, 1M)", parseSize)
    .option("--length <bytes>", "only this many bytes (default: to the end)", parseSize)
    .addHelpText(
      "after",
      [
        "",
        "With -o -, the image goes to standard output in order as it is checked (zero runs as",
        "zeros); a failure part-way is reported on stderr with a non-zero exit status.",
        "",
        "Examples:",
        "  nitro export lamp -o /var/lib/libvirt/images/lamp.qcow2",
        "  nitro export lamp -o - --offset 1M --length 64K | xxd | head",
        "",
      ].join("\n"),
    )
    .action(async (name: string, o: ExportFlags, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const toStdout = o.output === "-";
      if (toStdout && ctx.json)
        throw usage("--json cannot be used with -o - (standard output carries the image)");
      if (toStdout && o.force) throw usage("--force applies to a file, not to -o -");
      const { exportImage, exportToStream, imageRange } = await import("../../image/export.js");
      await withStore(ctx, async (s) => {
        const r = requireRecipe(s, name);
        const range = imageRange(r, o.offset, o.length);
        const bar = byteBar(ctx, "export", range.length);
        const t0 = performance.now();
        const onProgress = (d: number) => bar.update(d);
        try {
          if (toStdout) await exportToStream(s, r, process.stdout, { range, onProgress });
          else await exportImage(s, r, o.output, { force: o.force, range, onProgress });
        } finally {
          bar.stop();
        }
        const seconds = (performance.now() - t0) / 1000;
        const part = range.length === r.size ? "" : ` bytes ${range.offset}-${range.offset + range.length}`;
        const line = `exported ${name}${part} to ${toStdout ? "standard output" : o.output} (${formatBytes(range.length)}, verified)`;
        if (toStdout) return ctx.info(line);
        ctx.emit({ name, output: o.output, size: r.size, ...range, digest: r.digest, seconds }, () =>
          line.replace(", verified)", ", digest verified)"),
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
