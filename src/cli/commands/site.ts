import type { Command } from "commander";
import { SITE_KINDS } from "../../site/kinds.js";
import { SiteRegistry, type SiteConfig } from "../../site/registry.js";
import { checkS3Options } from "../../site/s3/options.js";
import { usage } from "../../util/errors.js";
import { formatRate, parseBandwidth } from "../../util/units.js";
import { CliContext, withStore } from "../context.js";

interface SiteAddOptions {
  egressCost?: string;
  simulateRate?: string;
  remoteCommand?: string;
  identity?: string;
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  force?: boolean;
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
    .addHelpText(
      "after",
      "\nExamples:\n  nitro site add lyon ssh://nitro@lyon.example.org/srv/nitro --egress-cost 0.02\n  nitro site add lab /srv/nitro-lab --simulate-rate 200Mbit\n  nitro site add vault s3://nitro-images/oslo --endpoint https://swift.example.org --path-style\n\nS3 credentials come from the AWS SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,\n~/.aws/credentials, AWS_PROFILE) and are never stored in sites.json.\n",
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
      new SiteRegistry(ctx.repoDir).add(cfg, o.force); // checks the URL and options for its kind
      ctx.emit(cfg, () => `added site ${name} (${url})`);
    });

  site
    .command("ls")
    .description("list sites")
    .addHelpText("after", "\nExample:\n  nitro site ls --json\n")
    .action((_o: unknown, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const sites = new SiteRegistry(ctx.repoDir).list();
      ctx.emit(sites, () =>
        sites.length === 0
          ? "no sites (add one with 'nitro site add NAME URL')"
          : sites
              .map(
                (s) =>
                  `${s.name.padEnd(16)} ${s.url}${s.egressCost !== undefined ? `  $${s.egressCost}/GB` : ""}${s.simulateRate ? `  simulated ${formatRate(s.simulateRate)}` : ""}${s.endpoint ? `  endpoint ${s.endpoint}` : ""}`,
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
}
