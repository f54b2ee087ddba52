import type { Command } from "commander";
import { SiteRegistry } from "../site/registry.js";
import type { Site } from "../site/site.js";
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

export async function openNamedSite(ctx: CliContext, name: string, o: SshCliOptions): Promise<Site> {
  const cfg = new SiteRegistry(ctx.repoDir).get(name);
  const { openSite } = await import("../site/open.js");
  return openSite(cfg, {
    acceptNew: o.acceptNew,
    lockWait: ctx.lockWait,
    identityFiles: o.identity,
    knownHostsPath: o.knownHosts,
    sshConfigPath: o.sshConfig,
  });
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
