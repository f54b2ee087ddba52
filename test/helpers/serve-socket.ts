import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { SERVE_SOCKET, socketAnswers } from "../../src/wire/listen.js";
import { NITRO_BIN } from "./sshd.js";

/** A `nitro serve --socket` running for a test; killed when the test process exits at the latest. */
export interface SocketServer {
  socketPath: string;
  process: ChildProcess;
  /** Resolves with the exit code (null: killed by a signal) and what it wrote on stderr. */
  exited: Promise<{ code: number | null; stderr: string }>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; stderr: string }>;
}

const running = new Set<ChildProcess>();
process.once("exit", () => running.forEach((p) => p.kill("SIGKILL")));

/** Starts `nitro --repo REPO serve --socket ARGS` and waits until its socket takes connections. */
export async function startSocketServer(repo: string, args: string[] = []): Promise<SocketServer> {
  const socketPath = join(repo, SERVE_SOCKET);
  const child = spawn(process.execPath, [NITRO_BIN, "--repo", repo, "serve", "--socket", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  running.add(child);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once("exit", (code) => {
      running.delete(child);
      resolve({ code, stderr });
    }),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; !existsSync(socketPath) || !(await socketAnswers(socketPath)); i++) {
    if (gone || i > 200) throw new Error(`nitro serve --socket did not start: ${(await exited).stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    socketPath,
    process: child,
    exited,
    kill: (signal = "SIGTERM") => {
      child.kill(signal);
      return exited;
    },
  };
}
