import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import type { AnyAuthMethod } from "ssh2";
import { notFound } from "../../util/errors.js";
import type { SshEndpoint } from "./config.js";

export const DEFAULT_IDENTITY_FILES = ["id_ed25519", "id_ecdsa", "id_rsa"];

export interface AuthPlan {
  methods: AnyAuthMethod[];
  /** Why some identities were not offered (passphrase-protected, unreadable...), for the error line. */
  skipped: string[];
  /** Human list of what is offered, for the error line. */
  offered: string[];
}

export interface AuthOptions {
  /** Identity files given explicitly (`-i`): a missing one is an error, not a silent skip. */
  explicitIdentityFiles?: string[];
  /** ssh-agent socket; default IdentityAgent or SSH_AUTH_SOCK; false disables the agent. */
  agent?: string | false;
}

/**
 * Identity files first (explicit, then configured; OpenSSH's defaults only when none are
 * configured), then the agent. Passphrase-protected keys can only be used through the agent.
 */
export async function planAuth(ep: SshEndpoint, opts: AuthOptions = {}): Promise<AuthPlan> {
  const explicit = new Set(opts.explicitIdentityFiles ?? []);
  const files = ep.identityFiles.length
    ? ep.identityFiles
    : DEFAULT_IDENTITY_FILES.map((f) => join(homedir(), ".ssh", f));
  const methods: AnyAuthMethod[] = [];
  const skipped: string[] = [];
  const offered: string[] = [];
  let allParsed = true;
  for (const file of [...new Set(files)]) {
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (err) {
      if (explicit.has(file)) throw notFound(`identity file ${file}: ${(err as Error).message}`);
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") skipped.push(`${file} (unreadable)`);
      continue;
    }
    const key = ssh2.utils.parseKey(data);
    if (key instanceof Error) {
      allParsed = false;
      skipped.push(
        /encrypted/i.test(key.message)
          ? `${file} (passphrase-protected: load it with ssh-add)`
          : `${file} (${key.message})`,
      );
      continue;
    }
    methods.push({ type: "publickey", username: ep.user, key: data });
    offered.push(file);
  }
  const agent = agentSocket(ep, opts);
  if (agent && !(ep.identitiesOnly && allParsed)) {
    methods.push({ type: "agent", username: ep.user, agent });
    offered.push("ssh-agent");
  }
  return { methods, skipped, offered };
}

function agentSocket(ep: SshEndpoint, opts: AuthOptions): string | undefined {
  if (opts.agent === false) return undefined;
  if (opts.agent) return opts.agent;
  if (ep.identityAgent === "none") return undefined;
  if (ep.identityAgent && ep.identityAgent !== "SSH_AUTH_SOCK") return ep.identityAgent;
  return process.env.SSH_AUTH_SOCK || undefined;
}
