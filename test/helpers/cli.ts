import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const NITRO_BIN = fileURLToPath(new URL("../../bin/nitro.js", import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (built into dist/ by `npm test`) in a child process. */
export function nitro(args: string[], env: Record<string, string> = {}): CliRun {
  const r = spawnSync(process.execPath, [NITRO_BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function nitroAsync(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [NITRO_BIN, ...args], { env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export function nitroJson<T>(args: string[]): T {
  const r = nitro(["--json", ...args]);
  if (r.code !== 0) throw new Error(`nitro ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Initialises a repository per site under `dir` and registers the others as local sites of `home`. */
export function initLocalSites(dir: string, home: string, others: string[]): Record<string, string> {
  const repos = Object.fromEntries([home, ...others].map((s) => [s, join(dir, s)]));
  for (const [site, repo] of Object.entries(repos)) {
    const r = nitro(["--repo", repo, "init", "--site", site]);
    if (r.code !== 0) throw new Error(`init ${site} failed (${r.code}): ${r.stderr}`);
  }
  for (const site of others) {
    const r = nitro(["--repo", repos[home]!, "site", "add", site, repos[site]!]);
    if (r.code !== 0) throw new Error(`site add ${site} failed (${r.code}): ${r.stderr}`);
  }
  return repos;
}
