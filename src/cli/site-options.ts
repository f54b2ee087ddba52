import type { Command } from "commander";
import type { OpenSiteOptions } from "../site/kinds.js";
import { SiteRegistry, type SiteConfig } from "../site/registry.js";
import type { ReadSite, WriteSite } from "../site/site.js";
import type { SiteOpener } from "../transfer/site-set.js";
import type { CliContext } from "./context.js";

export interface SshCliOptions {
  acceptNew?: boolean;
  identity?: string[];
  knownHosts?: string;
  sshConfig?: string;
}

/** The OpenSSH-like options of every command that talks to sites. */
export function withSshOptions(cmd: Command): Command {
  return cmd
    .option(
      "--accept-new",
      "record unknown host keys (like StrictHostKeyChecking=accept-new); changed keys are still refused",
    )
    .option("-i, --identity <file>", "SSH identity file (repeatable)", (v: string, prev: string[] = []) => [
      ...prev,
      v,
    ])
    .option("--known-hosts <file>", "known_hosts file (default ~/.ssh/known_hosts)")
    .option("--ssh-config <file>", "ssh_config file (default ~/.ssh/config)");
}

/** The options every site is opened with, from this command's SSH options. */
export function sshOpenOptions(ctx: CliContext, o: SshCliOptions): OpenSiteOptions {
  return {
    acceptNew: o.acceptNew,
    lockWait: ctx.lockWait,
    identityFiles: o.identity,
    knownHostsPath: o.knownHosts,
    sshConfigPath: o.sshConfig,
  };
}

/** Opens configured sites with this command's SSH options. */
/** Opens configured sites (`onConnected`: see OpenSiteOptions). */
export function siteOpener(
  ctx: CliContext,
  o: SshCliOptions,
  onConnected?: OpenSiteOptions["onConnected"],
): SiteOpener {
  return async (cfg, hooks) => {
    const { openSite } = await import("../site/open.js");
    return openSite(cfg, { ...sshOpenOptions(ctx, o), onConnected, onDialed: hooks?.onDialed });
  };
}

/** Opens configured sites to write to: one that refuses writes is refused (exit 1) before any transfer. */
export function writeSiteOpener(ctx: CliContext, o: SshCliOptions): (cfg: SiteConfig) => Promise<WriteSite> {
  return async (cfg) => {
    const { openWriteSite } = await import("../site/open.js");
    return openWriteSite(cfg, sshOpenOptions(ctx, o));
  };
}

export async function openNamedSite(ctx: CliContext, name: string, o: SshCliOptions): Promise<ReadSite> {
  return siteOpener(ctx, o)(new SiteRegistry(ctx.repoDir).get(name));
}

/** "lyon,paris" or repeated flags → names, in order, without duplicates. */
export function siteList(text: string): string[] {
  return [
    ...new Set(
      text
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
}
