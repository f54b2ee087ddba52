import { openSshChannel, type SshChannelOptions } from "./connect.js";

export interface RemoteRun {
  /** Exit status of the remote command; null if it ended without one (killed, cut). */
  code: number | null;
  stdout: string;
  stderr: string;
}

const KEEP = 64 * 1024;

/** Runs one command at the far host over SSH (stdin closed at once) and collects its output. */
export async function runOverSsh(opts: SshChannelOptions): Promise<RemoteRun> {
  const channel = await openSshChannel(opts);
  let stdout = "";
  let stderr = "";
  channel.stderr.on("data", (d: Buffer) => {
    if (stderr.length < KEEP) stderr += d.toString();
  });
  channel.stream.on("data", (d: Buffer) => {
    if (stdout.length < KEEP) stdout += d.toString();
  });
  channel.stream.on("error", () => undefined);
  channel.stream.end();
  try {
    const { code } = await channel.exit;
    return { code, stdout, stderr };
  } finally {
    await channel.close();
  }
}
