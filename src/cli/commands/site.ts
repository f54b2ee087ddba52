import type { Command } from "commander";
import { SITE_KINDS, validateSiteConfig, type OpenSiteOptions } from "../../site/kinds.js";
import { SiteRegistry, validateSiteName, type SiteConfig } from "../../site/registry.js";
import { checkS3Options } from "../../site/s3/options.js";
import { Exit, exists, notFound, usage } from "../../util/errors.js";
import { formatBytes, formatRate, parseBandwidth } from "../../util/units.js";
import { CliContext, withStore } from "../context.js";
import { siteList, siteOpener, sshOpenOptions, withSshOptions, type SshCliOptions } from "../site-options.js";

interface SiteAddOptions {
  init?: boolean;
  acceptNew?: boolean;
  knownHosts?: string;
  sshConfig?: string;
  egressCost?: string;
  simulateRate?: string;
  remoteCommand?: string;
  identity?: string;
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  force?: boolean;
}

interface SiteLsOptions {
  status?: boolean;
  acceptNew?: boolean;
  identity?: string[];
  knownHosts?: string;
  sshConfig?: string;
}

export function register(program: Command): void {
  const site = program.command("site").description("manage the sites this node knows");

  site
    .command("add <name> <url>")
    .description(`add a site: ${SITE_KINDS.map((k) => `${k.urlForm} (${k.name})`).join(", ")}`)
    .option("--egress-cost <usd-per-gb>", "egress price of data leaving the site, USD per GB")
    .option("--simulate-rate <rate>", "local sites: simulate a link of this rate (e.g. 100Mbit), for demos")
    .option("--remote-command <cmd>", "SSH sites: how to run nitro there (default: nitro)")
    .option("--identity <file>", "SSH sites: identity file")
    .option("--endpoint <url>", "S3 sites: the S3 API's URL when not AWS (Swift, Ceph RGW, MinIO...)")
    .option(
      "--region <region>",
      "S3 sites: the region (default: the AWS SDK's, from the environment or ~/.aws/config)",
    )
    .option(
      "--path-style",
      "S3 sites: path-style addressing (http://host/BUCKET/key), as most non-AWS servers need",
    )
    .option("--force", "replace a site of the same name")
    .option("--init", "create the repository at the site (over SSH for an ssh:// site)")
    .option("--accept-new", "SSH: record an unknown host key (changed keys are still refused)")
    .option("--known-hosts <file>", "SSH: known_hosts file (default ~/.ssh/known_hosts)")
    .option("--ssh-config <file>", "SSH: ssh_config file (default ~/.ssh/config)")
    .addHelpText(
      "after",
      "\nThe URL must hold a nitro repository, unless --init creates one there. An SSH site that\n" +
        "cannot be reached is added with a warning.\n\nExamples:\n  nitro site add lyon ssh://nitro@lyon.example.org/srv/nitro --egress-cost 0.02 --init\n  nitro site add lab /srv/nitro-lab --simulate-rate 200Mbit\n  nitro site add vault s3://nitro-images/oslo --endpoint https://swift.example.org --path-style --init\n\nS3 credentials come from the AWS SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,\n~/.aws/credentials, AWS_PROFILE) and are never stored in sites.json.\n",
    )
    .action(async (name: string, url: string, o: SiteAddOptions, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      await withStore(ctx, () => undefined); // the node's repository must exist
      const cfg: SiteConfig = { name, url };
      if (o.egressCost !== undefined) {
        const c = Number(o.egressCost);
        if (!Number.isFinite(c) || c < 0)
          throw usage(`--egress-cost takes USD per GB, got '${o.egressCost}'`);
        cfg.egressCost = c;
      }
      if (o.simulateRate) cfg.simulateRate = parseBandwidth(o.simulateRate);
      if (o.remoteCommand) cfg.remoteCommand = o.remoteCommand;
      if (o.identity) cfg.identity = o.identity;
      if (o.endpoint !== undefined) cfg.endpoint = o.endpoint;
      if (o.region !== undefined) cfg.region = o.region;
      if (o.pathStyle) cfg.pathStyle = true;
      checkS3Options(cfg);
      const registry = new SiteRegistry(ctx.repoDir);
      validateSiteName(name);
      const kind = validateSiteConfig(cfg); // the URL and options for its kind
      if (registry.has(name) && !o.force)
        throw exists(`site '${name}' already exists (use --force to replace it)`);
      const reach: OpenSiteOptions = {
        acceptNew: o.acceptNew,
        knownHostsPath: o.knownHosts,
        sshConfigPath: o.sshConfig,
        lockWait: ctx.lockWait,
      };
      if (o.init) await kind.initRepository(cfg, reach);
      else {
        const check = await kind.findRepository(cfg, reach);
        if (check.found === false)
          throw notFound(`site ${name}: ${check.why}; 'nitro site add ${name} ${url} --init' creates it`);
        if (check.found === "unknown")
          ctx.info(`warning: could not check ${url} (${check.why}); added anyway`);
      }
      registry.add(cfg, o.force);
      ctx.emit(cfg, () => `added site ${name} (${url})${o.init ? ", repository created there" : ""}`);
    });

  site
    .command("ls")
    .description("list sites")
    .option("--status", "also ask each site (all at once) for its images count and free space")
    .option("--accept-new", "SSH: record an unknown host key (changed keys are still refused)")
    .option("-i, --identity <file>", "SSH identity file (repeatable)", (v: string, prev: string[] = []) => [
      ...prev,
      v,
    ])
    .option("--known-hosts <file>", "SSH: known_hosts file (default ~/.ssh/known_hosts)")
    .option("--ssh-config <file>", "SSH: ssh_config file (default ~/.ssh/config)")
    .addHelpText("after", "\nExample:\n  nitro site ls --status --json\n")
    .action(async (o: SiteLsOptions, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const sites = new SiteRegistry(ctx.repoDir).list();
      const describe = (s: SiteConfig) =>
        `${s.name.padEnd(16)} ${s.url}${s.egressCost !== undefined ? `  $${s.egressCost}/GB` : ""}${s.simulateRate ? `  simulated ${formatRate(s.simulateRate)}` : ""}${s.endpoint ? `  endpoint ${s.endpoint}` : ""}`;
      if (!o.status) {
        ctx.emit(sites, () =>
          sites.length === 0
            ? "no sites (add one with 'nitro site add NAME URL')"
            : sites.map(describe).join("\n"),
        );
        return;
      }
      const { siteSpaces } = await import("../../site/space.js");
      const spaces = await siteSpaces(sites, siteOpener(ctx, o));
      const rows = sites.map((s, i) => ({ ...s, status: spaces[i]! }));
      ctx.emit(rows, () =>
        rows.length === 0
          ? "no sites (add one with 'nitro site add NAME URL')"
          : rows
              .map(
                (r) =>
                  `${describe(r)}  ${"error" in r.status ? `unreachable: ${r.status.error}` : `${r.status.images} images, ${r.status.freeBytes === null ? "free space unbounded" : `${formatBytes(r.status.freeBytes)} free`}`}`,
              )
              .join("\n"),
      );
    });

  site
    .command("rm <name>")
    .description("forget a site (its data is not touched)")
    .addHelpText("after", "\nExample:\n  nitro site rm lyon\n")
    .action((name: string, _o: unknown, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      new SiteRegistry(ctx.repoDir).remove(name);
      ctx.emit({ removed: name }, () => `removed site ${name}`);
    });

  registerSync(site);
}

/** `site sync`: every site gets this node's site list and matrix; `sync-receive` is its far end. */
function registerSync(site: Command): void {
  withSshOptions(
    site
      .command("sync")
      .description(
        "give sites this node's site list and matrix (never its keys), so they can reach each other",
      )
      .option("--to <sites>", "only these sites, comma-separated (default: every configured site)"),
  )
    .addHelpText("after", "\nExample:\n  nitro site sync\n  nitro site sync --to lyon,paris --json\n")
    .action(async (o: SshCliOptions & { to?: string }, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const [{ Matrix }, { syncPayload, syncSites }] = await Promise.all([
        import("../../matrix/matrix.js"),
        import("../../transfer/replicate-sync.js"),
      ]);
      const here = await withStore(ctx, (s) => s.config.site);
      const registry = new SiteRegistry(ctx.repoDir);
      const all = registry.list();
      const targets = o.to ? siteList(o.to).map((n) => registry.get(n)) : all.filter((c) => c.name !== here);
      const outcomes = await syncSites(
        targets,
        syncPayload(all, Matrix.load(ctx.repoDir)),
        sshOpenOptions(ctx, o),
      );
      const failed = outcomes.filter((r) => "error" in r);
      for (const r of outcomes) {
        if (ctx.json) process.stdout.write(JSON.stringify(r) + "\n");
        else if ("error" in r) process.stderr.write(`nitro: site sync to ${r.site} failed: ${r.error}\n`);
      }
      if (failed.length > 0) process.exitCode = failed.length < outcomes.length ? Exit.PARTIAL : Exit.REMOTE;
      if (!ctx.json) ctx.info(`synced ${outcomes.length - failed.length} of ${outcomes.length} sites`);
    });

  site
    .command("sync-receive", { hidden: true })
    .description("merge a site list and matrix read on stdin (the far end of 'site sync')")
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const { applySync } = await import("../../transfer/replicate-sync.js");
      const here = await withStore(ctx, (s) => s.config.site);
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      const r = applySync(ctx.repoDir, here, Buffer.concat(chunks).toString("utf8"));
      ctx.emit(r, () => `merged ${r.sites} sites and ${r.links} links`);
    });
}
