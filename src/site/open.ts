import { siteTimeout } from "../wire/liveness.js";
import { LocalSite } from "./local.js";
import { parseSiteUrl, type SiteConfig } from "./registry.js";
import { RemoteSite } from "./remote.js";
import type { Site } from "./site.js";
import { parseSshUrl } from "./ssh/url.js";
import { ThrottledSite } from "./throttled.js";

export interface OpenSiteOptions {
  acceptNew?: boolean;
  lockWait?: number;
  knownHostsPath?: string;
  sshConfigPath?: string;
  identityFiles?: string[];
}

/** Opens a configured site: the store in-process for a path, `nitro serve` over SSH otherwise. */
export async function openSite(cfg: SiteConfig, opts: OpenSiteOptions = {}): Promise<Site> {
  const loc = parseSiteUrl(cfg.url);
  if (loc.kind === "local") {
    const { Store } = await import("../store/store.js");
    const site = new LocalSite(cfg.name, Store.open(loc.path), opts.lockWait);
    return cfg.simulateRate ? new ThrottledSite(site, cfg.simulateRate) : site;
  }
  // Loaded on demand: ssh2 takes ~90 ms to import, which every local command would pay.
  const { openSshChannel, checkSshCryptoBinding } = await import("./ssh/connect.js");
  checkSshCryptoBinding();
  const timeout = siteTimeout();
  const url = parseSshUrl(loc.url);
  const command = `${cfg.remoteCommand ?? "nitro"} serve --stdio --repo ${shellQuote(url.path)}`;
  const channel = await openSshChannel({
    host: url.host,
    user: url.user,
    port: url.port,
    command,
    identityFiles: [...(cfg.identity ? [cfg.identity] : []), ...(opts.identityFiles ?? [])],
    configPath: opts.sshConfigPath,
    knownHostsPath: opts.knownHostsPath,
    acceptNew: opts.acceptNew,
  });
  let stderr = "";
  channel.stderr.on("data", (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  return new RemoteSite(cfg.name, channel.stream, {
    describeClose: () => stderr.trim() || undefined,
    closeTransport: () => channel.close(),
    timeout,
  });
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
