import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { Matrix } from "../../matrix/matrix.js";
import { fromSystemError, usage } from "../../util/errors.js";
import { formatRate, parseBandwidth, parseCost, parseDuration } from "../../util/units.js";
import { CliContext, withStore } from "../context.js";
import { openNamedSite, withSshOptions, type SshCliOptions } from "../site-options.js";
import { SiteRegistry } from "../../site/registry.js";
import { parseSize } from "../../util/units.js";

function table(m: Matrix): string {
  if (m.links.length === 0)
    return "the matrix is empty: measure with 'nitro probe' or set links with 'nitro matrix set'";
  const head = `${"from".padEnd(12)} ${"to".padEnd(12)} ${"bandwidth".padStart(12)} ${"rtt".padStart(9)} ${"$/GB".padStart(7)}  origin, updated`;
  const rows = m.links.map(
    (l) =>
      `${l.from.padEnd(12)} ${l.to.padEnd(12)} ${formatRate(l.bandwidth).padStart(12)} ${(l.rtt !== undefined ? `${(l.rtt * 1000).toFixed(1)} ms` : "-").padStart(9)} ${(l.cost !== undefined ? l.cost.toFixed(3) : "-").padStart(7)}  ${l.origin}, ${l.updated}`,
  );
  return [head, ...rows].join("\n");
}

export function register(program: Command): void {
  const matrix = program
    .command("matrix")
    .description("the bandwidth/cost matrix between sites (directed: from source to destination)")
    .addHelpText("after", "\nExample:\n  nitro matrix --json\n")
    .action((_o: unknown, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const m = Matrix.load(ctx.repoDir);
      ctx.emit(m.links, () => table(m));
    });

  matrix
    .command("set <from> <to>")
    .description("set a link by hand")
    .requiredOption("--bandwidth <rate>", "e.g. 100Mbit, 1Gbit, 12.5MB/s")
    .option("--rtt <duration>", "round-trip time, e.g. 80ms")
    .option("--cost <usd-per-gb>", "egress price for this pair, USD per GB")
    .addHelpText(
      "after",
      "\nExample:\n  nitro matrix set lyon paris --bandwidth 100Mbit --rtt 12ms --cost 0.02\n",
    )
    .action(
      (from: string, to: string, o: { bandwidth: string; rtt?: string; cost?: string }, cmd: Command) => {
        const ctx = CliContext.of(cmd);
        const cost = o.cost === undefined ? undefined : parseCost(o.cost, "--cost");
        const m = Matrix.load(ctx.repoDir);
        m.set({
          from,
          to,
          bandwidth: parseBandwidth(o.bandwidth),
          rtt: o.rtt === undefined ? undefined : parseDuration(o.rtt),
          cost,
          updated: new Date().toISOString(),
          origin: "manual",
        });
        m.save(ctx.repoDir);
        ctx.emit(m.get(from, to), () => `set ${from} -> ${to}`);
      },
    );

  matrix
    .command("import <file>")
    .description("merge links from a JSON or CSV file (as written by 'matrix export')")
    .addHelpText("after", "\nExample:\n  nitro matrix import links.csv\n")
    .action((file: string, _o: unknown, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (err) {
        throw fromSystemError(err, file);
      }
      const incoming = text.trimStart().startsWith("{") ? Matrix.fromJson(text) : Matrix.fromCsv(text);
      const m = Matrix.load(ctx.repoDir);
      m.merge(incoming);
      m.save(ctx.repoDir);
      ctx.emit({ imported: incoming.links.length }, () => `imported ${incoming.links.length} links`);
    });

  matrix
    .command("export")
    .description("write the matrix as JSON or CSV")
    .option("--format <fmt>", "json or csv", "json")
    .option("-o, --output <file>", "file to write (default: stdout)")
    .addHelpText("after", "\nExample:\n  nitro matrix export --format csv -o links.csv\n")
    .action((o: { format: string; output?: string }, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      if (o.format !== "json" && o.format !== "csv")
        throw usage(`--format is json or csv, got '${o.format}'`);
      const m = Matrix.load(ctx.repoDir);
      const text = o.format === "csv" ? m.toCsv() : m.toJson();
      if (o.output) writeFileSync(o.output, text);
      else process.stdout.write(text);
    });

  withSshOptions(
    program
      .command("probe [sites...]")
      .description("measure download bandwidth and round-trip time from sites to this node")
      .option("--bytes <size>", "incompressible bytes to fetch from each site", "64M"),
  )
    .addHelpText("after", "\nExample:\n  nitro probe lyon paris --bytes 128M\n")
    .action(async (names: string[], o: SshCliOptions & { bytes: string }, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const bytes = parseSize(o.bytes);
      const here = await withStore(ctx, (s) => s.config.site);
      const registry = new SiteRegistry(ctx.repoDir);
      const targets = names.length > 0 ? names : registry.list().map((s) => s.name);
      targets.forEach((t) => registry.get(t));
      const m = Matrix.load(ctx.repoDir);
      const results = [];
      // One site at a time: concurrent probes would share (and understate) this node's downlink.
      for (const name of targets) {
        const site = await openNamedSite(ctx, name, o);
        try {
          const r = await site.probe(bytes);
          const bandwidth = r.bytes / Math.max(r.seconds, 1e-9);
          m.set({
            from: name,
            to: here,
            bandwidth,
            rtt: r.rtt,
            updated: new Date().toISOString(),
            origin: "probe",
          });
          results.push({ site: name, to: here, bandwidth, rtt: r.rtt, bytes: r.bytes, seconds: r.seconds });
          ctx.info(`${name} -> ${here}: ${formatRate(bandwidth)}, rtt ${(r.rtt * 1000).toFixed(1)} ms`);
        } finally {
          await site.close();
        }
      }
      m.save(ctx.repoDir);
      ctx.emit(results, () =>
        table(new Matrix(m.links.filter((l) => l.to === here && targets.includes(l.from)))),
      );
    });
}
