import type { Command } from "commander";
import { isMaintainSite, type MaintainSite } from "../../site/site.js";
import type { ChunkFinding, Finding } from "../../store/check.js";
import type { Store } from "../../store/store.js";
import type { VerifyOptions, VerifyReport } from "../../store/verify.js";
import type { RefetchReport } from "../../transfer/repair.js";
import type { SiteSet } from "../../transfer/site-set.js";
import { Exit, NitroError, notFound } from "../../util/errors.js";
import { formatBytes } from "../../util/units.js";
import { CliContext, withStore } from "../context.js";
import { byteBar } from "../progress.js";
import { siteOpener, withSshOptions, type SshCliOptions } from "../site-options.js";

interface VerifyCliOptions extends SshCliOptions {
  site?: string;
  readData?: boolean;
  repair?: boolean;
}

interface Pass {
  report: VerifyReport;
  findings: Finding[];
}

const isChunkFinding = (f: Finding): f is ChunkFinding => "chunk" in f;

/** One verify pass at the site, its progress on a bar (on a terminal), its findings collected. */
async function runPass(
  ctx: CliContext,
  site: MaintainSite,
  label: string,
  opts: VerifyOptions,
): Promise<Pass> {
  const findings: Finding[] = [];
  let bar: ReturnType<typeof byteBar> | undefined;
  try {
    const report = await site.verify(opts, (e) => {
      if (e.type === "finding") findings.push(e.finding);
      else (bar ??= byteBar(ctx, label, e.total)).update(e.done, e.total);
    });
    return { report, findings };
  } finally {
    bar?.stop();
  }
}

/** The site to verify: this node's store, or a configured site that takes maintenance. */
async function targetSite(ctx: CliContext, store: Store, opened: SiteSet | undefined, name: string) {
  if (name === store.config.site) {
    // Not closed as a site: it is this command's own store, which withStore closes.
    const { LocalSite } = await import("../../site/local.js");
    return new LocalSite(name, store, ctx.lockWait);
  }
  const site = opened?.get(name)?.site;
  if (!site) throw notFound(`no reachable site '${name}'`);
  if (!isMaintainSite(site))
    throw new NitroError(
      Exit.FAILURE,
      `site ${name} cannot be verified from here (a read-only server, or a rate-limited local site)`,
    );
  return site;
}

function findingJson(f: Finding): object {
  return isChunkFinding(f) ? { ...f, chunk: f.chunk.toString("hex") } : f;
}

function passJson(p: Pass): object {
  return { ...p.report, findings: p.findings.map(findingJson) };
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

/** A pass in lines; `incomplete` only when it says what the site holds now (not mid-repair). */
function describePass(site: string, p: Pass, readData: boolean, prefix: string, incomplete = true): string[] {
  const r = p.report;
  const what = readData ? "data read and hashed" : "index and frame headers";
  const result = p.findings.length === 0 ? "clean" : plural(p.findings.length, "problem");
  return [
    `${prefix}${site}: ${plural(r.chunks, "chunk")} in ${plural(r.frames, "frame")} of ${plural(r.images, "image")} (${what}): ${result}`,
    ...p.findings.map((f) => `  ${describe(f)}`),
    ...(incomplete && r.incomplete.length > 0
      ? [`  images whose chunks are not all here (announced, or lost): ${r.incomplete.join(", ")}`]
      : []),
  ];
}

function describe(f: Finding): string {
  const used = f.images.length > 0 ? `breaks ${f.images.join(", ")}` : "used by no image";
  if (!isChunkFinding(f)) return `image '${f.images[0]}': ${f.kind}, ${f.detail}`;
  return `chunk ${f.chunk.toString("hex")} (pack ${f.pack} at ${f.offset}): ${f.kind}, ${f.detail} (${used})`;
}

function describeRepair(r: RefetchReport, dropped: number): string[] {
  const from = r.sources.map((s) => `${s.site} ${s.chunks} (${formatBytes(s.bytes)})`).join(", ");
  return [
    `repair: dropped ${plural(dropped, "damaged entry").replace(/entrys$/, "entries")}; restored ${plural(r.restoredChunks, "chunk")} (${formatBytes(r.restoredBytes)})${from ? ` from ${from}` : ""}`,
    ...(r.lost.length > 0
      ? [
          `LOST: ${plural(r.lost.length, "chunk")} with no good copy at any reachable site; images lost: ${r.lostImages.join(", ")}`,
          ...r.lost.map((w) => `  chunk ${w.id.toString("hex")} (breaks ${w.images.join(", ")})`),
        ]
      : []),
  ];
}

export function register(program: Command): void {
  withSshOptions(
    program
      .command("verify [images...]")
      .description(
        "verify the chunks of images (default: all) at this node or a site; --repair restores them from the other sites",
      )
      .option("--site <name>", "the site to verify (default: this node); the work runs there")
      .option("--read-data", "read and hash every chunk (default: index and frame headers only)")
      .option(
        "--repair",
        "drop the damaged chunks and fetch good copies from the other sites, then verify again (exit 10 if some chunk has none)",
      ),
  )
    .addHelpText("after", "\nExample:\n  nitro verify --site lyon --read-data --repair\n")
    .action(async (images: string[], o: VerifyCliOptions, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      await withStore(ctx, async (store) => {
        const here = store.config.site;
        const name = o.site ?? here;
        const readData = o.readData ?? false;
        let opened: SiteSet | undefined;
        try {
          // A repair reads from every other site; a plain verify talks to its one site only.
          if (name !== here || o.repair)
            opened = await openOtherSites(ctx, store, o, name, o.repair ?? false);
          const site = await targetSite(ctx, store, opened, name);
          const first = await runPass(ctx, site, `verify ${name}`, {
            images,
            readData,
            drop: o.repair ?? false,
          });
          if (!o.repair) {
            ctx.emit({ site: name, readData, ...passJson(first) }, () =>
              describePass(name, first, readData, "").join("\n"),
            );
            if (first.findings.length > 0) process.exitCode = Exit.CORRUPT;
            return;
          }
          const repair = await restore(ctx, store, opened!, site, name, first, images);
          const after = await runPass(ctx, site, `verify ${name} again`, { images, readData, drop: false });
          ctx.emit(
            {
              site: name,
              readData,
              before: passJson(first),
              repair: {
                dropped: first.report.dropped,
                restoredChunks: repair.restoredChunks,
                restoredBytes: repair.restoredBytes,
                sources: repair.sources,
                lostChunks: repair.lost.map((w) => w.id.toString("hex")),
                lostImages: repair.lostImages,
              },
              after: passJson(after),
            },
            () =>
              [
                ...describePass(name, first, readData, "", false),
                ...describeRepair(repair, first.report.dropped),
                ...describePass(name, after, readData, "verified again: "),
              ].join("\n"),
          );
          if (repair.lost.length > 0) process.exitCode = Exit.INCOMPLETE;
          else if (after.findings.length > 0) process.exitCode = Exit.CORRUPT;
        } finally {
          await opened?.close();
        }
      });
    });
}

/**
 * The target site (configured, unless it is this node) or, with `all`, every configured site but
 * this node's.
 */
async function openOtherSites(
  ctx: CliContext,
  store: Store,
  o: SshCliOptions,
  target: string,
  all: boolean,
): Promise<SiteSet> {
  const [{ SiteSet }, { SiteRegistry }] = await Promise.all([
    import("../../transfer/site-set.js"),
    import("../../site/registry.js"),
  ]);
  const registry = new SiteRegistry(ctx.repoDir);
  const note = (m: string) => ctx.info(`note: ${m}`);
  if (target !== store.config.site) {
    const config = registry.get(target);
    if (!all) return SiteSet.open([config], siteOpener(ctx, o), note);
  }
  const configs = registry.list().filter((c) => c.name !== store.config.site);
  return SiteSet.open(configs, siteOpener(ctx, o), note);
}

/**
 * Fetches good copies of what the first pass dropped (the chunks some image uses) and of every
 * other chunk the images named on the command line lack, from the other sites.
 */
async function restore(
  ctx: CliContext,
  store: Store,
  opened: SiteSet,
  site: MaintainSite,
  name: string,
  first: Pass,
  images: string[],
): Promise<RefetchReport> {
  const [{ wantedChunks, refetchChunks }, { planSites }, { describeSources }, { Matrix }] = await Promise.all(
    [
      import("../../transfer/repair.js"),
      import("../../transfer/plan-sites.js"),
      import("../../transfer/sources.js"),
      import("../../matrix/matrix.js"),
    ],
  );
  const wanted = await wantedChunks(site, first.findings.filter(isChunkFinding), images);
  const { candidates } = planSites(store, opened, name);
  const sources = describeSources(candidates, name, Matrix.load(ctx.repoDir), () => undefined);
  const total = wanted.reduce((s, w) => s + w.length, 0);
  const bar = wanted.length > 0 ? byteBar(ctx, `repair ${name}`, total) : undefined;
  try {
    return await refetchChunks(site, wanted, sources, {
      onEvent: (m) => ctx.info(`note: ${m}`),
      onProgress: (bytes) => bar?.update(bytes),
    });
  } finally {
    bar?.stop();
  }
}
