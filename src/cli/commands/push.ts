import type { Command } from "commander";
import { SiteRegistry } from "../../site/registry.js";
import type { PushResult } from "../../transfer/push.js";
import { formatBytes, formatRate, formatSeconds } from "../../util/units.js";
import { CliContext, withStore } from "../context.js";
import { multiBar } from "../progress.js";
import {
  siteList,
  siteOpener,
  withSshOptions,
  writeSiteOpener,
  type SshCliOptions,
} from "../site-options.js";

interface PushOptions extends SshCliOptions {
  to: string;
  name?: string;
  force?: boolean;
  announce: boolean;
}

/** A connection opens in 0.1-0.3 s; a slow or unreachable site must not hold the others back. */
const CONNECT_HEAD_START_MS = 1000;

function settledWithin(promises: Promise<unknown>[], ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([Promise.allSettled(promises), timeout]).finally(() => clearTimeout(timer));
}

export function register(program: Command): void {
  withSshOptions(
    program
      .command("push <file-or-image>")
      .description("send an image to sites: only the chunks each lacks, then its recipe")
      .requiredOption("--to <sites>", "target sites, comma-separated")
      .option("--name <name>", "image name when a file is given (default: file name without extension)")
      .option("--force", "replace an image of that name here and at the targets")
      .option("--no-announce", "do not send the recipe to the other known sites"),
  )
    .addHelpText("after", "\nExample:\n  nitro push debian-12-lamp.qcow2 --to lyon,paris\n")
    .action(async (arg: string, o: PushOptions, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const targets = siteList(o.to);
      const registry = new SiteRegistry(ctx.repoDir);
      const configs = targets.map((t) => registry.get(t));
      // Connecting goes first. For a stored image, the channels are open before this side loads
      // its store, so that the far sides start (~0.3 s each) meanwhile; a file to add takes longer
      // than connecting, so both run at once. A read-only site is refused here, before any transfer.
      const opening = configs.map(writeSiteOpener(ctx, o));
      opening.forEach((p) => p.catch(() => undefined)); // each is awaited below
      const closeAll = () => Promise.allSettled(opening.map(async (p) => (await p).close()));
      const { imageToPush, isImageFile } = await import("../../transfer/push-input.js");
      const file = isImageFile(arg);
      if (!file) await settledWithin(opening, CONNECT_HEAD_START_MS);
      const [{ pushToTargets }, { announceRecipe }] = await Promise.all([
        import("../../transfer/push-targets.js"),
        import("../../transfer/announce.js"),
      ]);
      let pushing = false;
      try {
        await withStore(ctx, async (store) => {
          const recipe = await imageToPush(store, arg, file, {
            name: o.name,
            force: o.force,
            lockWait: ctx.lockWait,
            onAdded: (r) =>
              ctx.info(
                `added ${r.recipe.name}: ${formatBytes(r.newBytes)} new of ${formatBytes(r.logicalBytes)}`,
              ),
          });
          pushing = true; // from here on, each push closes its site
          const bars = multiBar(ctx);
          const barOf = new Map<string, ReturnType<typeof bars.bar>>();
          const { results, failures, error } = await pushToTargets(
            store,
            recipe,
            targets.map((name, i) => ({ name, opening: opening[i]! })),
            {
              force: o.force,
              onPlan: (s, bytes) => barOf.set(s, bars.bar(s.padEnd(10), bytes)),
              onProgress: (s, p) => barOf.get(s)?.update(p.rawBytes),
            },
          ).finally(() => bars.stop());
          const others = registry.list().filter((s) => !targets.includes(s.name));
          const announced = o.announce
            ? await announceRecipe(recipe, others, siteOpener(ctx, o), (m) => ctx.info(`note: ${m}`))
            : [];
          // One JSON document on stdout, even when some targets failed: it carries the error too.
          ctx.emit(
            {
              image: recipe.name,
              results,
              failures: failures.map((f) => ({ site: f.site, error: f.error.message })),
              announced,
              ...(error ? { error: error.message, exitCode: error.exitCode } : {}),
            },
            () =>
              [
                ...results.map(describe),
                ...failures.map((f) => `${f.site}: FAILED: ${f.error.message}`),
              ].join("\n"),
          );
          if (error) {
            process.stderr.write(`nitro: ${error.message}\n`);
            process.exitCode = error.exitCode;
          }
        });
      } catch (err) {
        if (!pushing) await closeAll();
        throw err;
      }
    });
}

function describe(r: PushResult): string {
  return `${r.site}: sent ${r.sentChunks} chunks, ${formatBytes(r.sentBytes)} (${formatBytes(r.wireBytes)} on the wire), ${r.present} already there; ${formatSeconds(r.seconds)}, ${formatRate(r.sentBytes / Math.max(r.seconds, 1e-9))}`;
}
