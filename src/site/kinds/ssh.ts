import type { SiteKind } from "../kinds.js";
import type { SshSiteOptions } from "../registry.js";
import { siteTimeout } from "../../wire/liveness.js";
import { parseSshUrl } from "../ssh/url.js";

/** `nitro serve --stdio` on a far host, over SSH. A server that said read-only opens as a ReadSite. */
export const sshKind: SiteKind<SshSiteOptions> = {
  name: "ssh",
  schemes: ["ssh"],
  urlForm: "ssh://[user@]host[:port]/path",
  checkUrl(url) {
    parseSshUrl(url);
  },
  options: { remoteCommand: "--remote-command", identity: "--identity" },
  async open(cfg, opts) {
    // Loaded on demand: ssh2 takes ~90 ms to import, which every local command would pay.
    const [{ openSshChannel, checkSshCryptoBinding }, { RemoteSite }, { ForwardingReadSite }] =
      await Promise.all([import("../ssh/connect.js"), import("../remote.js"), import("../wrapper.js")]);
    checkSshCryptoBinding();
    const timeout = siteTimeout();
    const url = parseSshUrl(cfg.url);
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
    const site = new RemoteSite(cfg.name, channel.stream, {
      describeClose: () => stderr.trim() || undefined,
      closeTransport: () => channel.close(),
      timeout,
    });
    try {
      await site.ready();
    } catch (err) {
      await site.close().catch(() => undefined);
      throw err;
    }
    return site.readOnly ? new ForwardingReadSite(site) : site;
  },
};

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
