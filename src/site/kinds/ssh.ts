import { posix } from "node:path";
import { Exit, NitroError, remote } from "../../util/errors.js";
import { trace } from "../../util/trace.js";
import { siteTimeout } from "../../wire/liveness.js";
import type { OpenSiteOptions, SiteKind } from "../kinds.js";
import type { SiteEntry, SshSiteOptions } from "../registry.js";
import type { SshChannelOptions } from "../ssh/connect.js";
import { dial } from "../ssh/dial.js";
import { parseSshUrl } from "../ssh/url.js";
import { SERVE_SOCKET } from "../../wire/listen.js";
import { quoteRemoteText } from "../../wire/remote-error.js";

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
    const to = sshChannelTo(
      cfg,
      opts,
      (nitro, repo) => `${nitro} serve --stdio --repo ${repo}`,
      SERVE_SOCKET,
    );
    const timeout = siteTimeout();
    // Dialed first: the TCP connect and sshd's start overlap ssh2's import (~90 ms), which is
    // loaded on demand, as every local command would pay it. openSshChannel owns the socket.
    const dialed = await dial(to);
    const [{ openSshChannel }, { RemoteSite }, { ForwardingReadSite }] = await Promise.all([
      import("../ssh/connect.js"),
      import("../remote.js"),
      import("../wrapper.js"),
    ]).catch((err: unknown) => {
      dialed.abandon();
      throw err;
    });
    const channel = await openSshChannel({ ...to, dialed });
    let stderr = "";
    channel.stderr.on("data", (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    const site = new RemoteSite(cfg.name, channel.stream, {
      describeClose: () => stderr.trim() || undefined,
      closeTransport: (linger) => channel.close(linger),
      ...(channel.roundTrip ? { roundTrip: channel.roundTrip } : {}),
      timeout,
    });
    opts.onConnected?.(site);
    try {
      await site.ready();
      trace(`${cfg.name}: ready`);
    } catch (err) {
      await site.close().catch(() => undefined);
      throw err;
    }
    return site.readOnly ? new ForwardingReadSite(site) : site;
  },
  async findRepository(cfg, opts) {
    let run;
    try {
      run = await runNitro(cfg, opts, "--quiet stats");
    } catch (err) {
      if (err instanceof NitroError) return { found: "unknown", why: err.message };
      throw err;
    }
    if (run.code === 0) return { found: true };
    const why = lastLine(run.stderr) || `the remote command exited ${run.code}`;
    return run.code === Exit.NOT_FOUND ? { found: false, why } : { found: "unknown", why };
  },
  async initRepository(cfg, opts) {
    const run = await runNitro(cfg, opts, `--quiet init --site ${shellQuote(cfg.name)}`);
    if (run.code === 0) return;
    const why = lastLine(run.stderr) || `exited ${run.code ?? "without a status"}`;
    const code = run.code === Exit.EXISTS ? Exit.EXISTS : Exit.REMOTE;
    throw code === Exit.EXISTS
      ? new NitroError(code, `${cfg.name}: ${why}`)
      : remote(`${cfg.name}: 'nitro init' at ${cfg.url} failed: ${why}`);
  },
};

/** Runs `nitro --repo PATH ARGS` at the site's host over SSH (the site's key, command, port). */
async function runNitro(cfg: SiteEntry & SshSiteOptions, opts: OpenSiteOptions, args: string) {
  const { runOverSsh } = await import("../ssh/run.js");
  return runOverSsh(sshChannelTo(cfg, opts, (nitro, repo) => `${nitro} --repo ${repo} ${args}`));
}

/**
 * How to reach an SSH site's host: its URL's host, user and port, its key then the command's, and
 * the command `build` makes from the site's nitro command and its quoted repository path; with
 * `socket`, that file in the repository is tried before the command.
 */
export function sshChannelTo(
  cfg: SiteEntry & SshSiteOptions,
  opts: OpenSiteOptions,
  build: (nitro: string, repo: string) => string,
  socket?: string,
): SshChannelOptions {
  const url = parseSshUrl(cfg.url);
  return {
    ...(socket !== undefined ? { socketPath: posix.join(url.path, socket) } : {}),
    host: url.host,
    user: url.user,
    port: url.port,
    command: build(cfg.remoteCommand ?? "nitro", shellQuote(url.path)),
    identityFiles: [...(cfg.identity ? [cfg.identity] : []), ...(opts.identityFiles ?? [])],
    configPath: opts.sshConfigPath,
    knownHostsPath: opts.knownHostsPath,
    acceptNew: opts.acceptNew,
    onDial: opts.onDialed,
  };
}

/** The far side's last line of stderr, as data: control characters escaped. */
const lastLine = (text: string) => quoteRemoteText(text.trim().split("\n").pop() ?? "");

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
