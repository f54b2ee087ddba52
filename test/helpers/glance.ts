import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NITRO_BIN } from "./cli.js";

/**
 * A real Glance API (Debian's glance-api, SQLite, no Keystone) with the nitro driver installed
 * from integrations/glance into a virtualenv, as an operator would (`pip install`).
 */

const DRIVER_SRC = fileURLToPath(new URL("../../integrations/glance", import.meta.url));
const SYSTEM_PYTHON = "/usr/bin/python3";
const GLANCE_API = "/usr/bin/glance-api";
const GLANCE_MANAGE = "/usr/bin/glance-manage";
const PASTE_INI = "/etc/glance/glance-api-paste.ini";

function check(cmd: string, args: string[], env?: NodeJS.ProcessEnv): void {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: env ?? process.env });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}${r.stdout}`);
  }
}

/** A virtualenv over the system Python (which has glance) with the driver pip-installed; returns its python. */
export function installDriver(dir: string): string {
  for (const path of [GLANCE_API, GLANCE_MANAGE, PASTE_INI]) {
    if (!existsSync(path)) throw new Error(`${path} missing: run .ci/setup (Debian's glance-api)`);
  }
  // pip builds in the source tree: a copy keeps build/ and *.egg-info out of the repository.
  const src = join(dir, "driver-src");
  cpSync(DRIVER_SRC, src, { recursive: true });
  const venv = join(dir, "venv");
  check(SYSTEM_PYTHON, ["-m", "venv", "--system-site-packages", venv]);
  const pip = ["-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-build-isolation", src];
  check(join(venv, "bin/python"), pip);
  return join(venv, "bin/python");
}

export interface GlanceOptions {
  python: string;
  dir: string;
  /** Shared by the sites' Glance APIs, like one Glance database over several edge sites. */
  database: string;
  repo: string;
  pushTo?: string[];
  /** More nitro backends (name → repository), chosen per upload with the X-Image-Meta-Store header. */
  moreBackends?: Record<string, string>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function config(o: GlanceOptions, port: number): string {
  const more = Object.entries(o.moreBackends ?? {});
  const moreSections = more
    .map(
      ([name, repo]) =>
        `[${name}]\nnitro_command = ${process.execPath} ${NITRO_BIN}\nnitro_repo = ${repo}\n\n`,
    )
    .join("");
  return `[DEFAULT]
bind_host = 127.0.0.1
bind_port = ${port}
workers = 0
enabled_backends = ${["nitro:nitro", ...more.map(([name]) => `${name}:nitro`)].join(", ")}
log_file = ${join(o.dir, "glance-api.log")}

[database]
connection = sqlite:///${o.database}

[glance_store]
default_backend = nitro

[nitro]
nitro_command = ${process.execPath} ${NITRO_BIN}
nitro_repo = ${o.repo}
nitro_push_to = ${(o.pushTo ?? []).join(",")}

${moreSections}[os_glance_staging_store]
filesystem_store_datadir = ${join(o.dir, "staging")}

[os_glance_tasks_store]
filesystem_store_datadir = ${join(o.dir, "tasks")}

[paste_deploy]
flavor =
config_file = ${PASTE_INI}
`;
}

/** HOME and the entry-point cache of stevedore inside the test directory. */
function glanceEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, HOME: join(dir, "home"), XDG_CACHE_HOME: join(dir, "home/.cache") };
}

/** Creates the schema of a Glance SQLite database. */
export function createDatabase(dir: string, database: string): void {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, "glance-manage.conf");
  writeFileSync(conf, `[database]\nconnection = sqlite:///${database}\n`);
  check(GLANCE_MANAGE, ["--config-file", conf, "db_sync"], glanceEnv(dir));
}

export interface GlanceImage {
  id: string;
  status: string;
  size: number | null;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  stores?: string;
}

export interface Download {
  status: number;
  body: Buffer;
}

export class GlanceApi {
  private constructor(
    readonly url: string,
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(o: GlanceOptions): Promise<GlanceApi> {
    for (const sub of ["staging", "tasks", "home"]) mkdirSync(join(o.dir, sub), { recursive: true });
    const port = await freePort();
    const conf = join(o.dir, "glance-api.conf");
    writeFileSync(conf, config(o, port));
    const out = openSync(join(o.dir, "glance-api.out"), "w");
    const child = spawn(o.python, [GLANCE_API, "--config-file", conf], {
      env: glanceEnv(o.dir),
      stdio: ["ignore", out, out],
    });
    const api = new GlanceApi(`http://127.0.0.1:${port}`, o.dir, child);
    await api.waitReady(90_000);
    return api;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`glance-api exited:\n${this.log()}`);
      try {
        if ((await fetch(`${this.url}/versions`)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`glance-api did not answer within ${timeoutMs} ms:\n${this.log()}`);
  }

  /** The server's log and output, for failure messages. */
  log(): string {
    const read = (name: string) => {
      const path = join(this.dir, name);
      return existsSync(path) ? readFileSync(path, "utf8") : "";
    };
    return (read("glance-api.out") + read("glance-api.log")).split("\n").slice(-40).join("\n");
  }

  async createImage(name: string): Promise<GlanceImage> {
    const res = await fetch(`${this.url}/v2/images`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name, disk_format: "qcow2", container_format: "bare" }),
    });
    if (res.status !== 201) throw new Error(`create image: ${res.status} ${await res.text()}`);
    return (await res.json()) as GlanceImage;
  }

  /** PUT /v2/images/ID/file (to the default store, or `store`); returns the HTTP status (204 on success). */
  async upload(id: string, data: Buffer, store?: string): Promise<number> {
    const res = await fetch(`${this.url}/v2/images/${id}/file`, {
      method: "PUT",
      headers: {
        "Content-Type": "application/octet-stream",
        ...(store ? { "X-Image-Meta-Store": store } : {}),
      },
      body: new Uint8Array(data),
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** Starts a PUT of `data`, sends its first `sent` bytes and returns a function that cuts the connection. */
  async uploadPart(id: string, data: Buffer, sent: number): Promise<() => void> {
    const req = request(`${this.url}/v2/images/${id}/file`, {
      method: "PUT",
      headers: { "Content-Type": "application/octet-stream", "Content-Length": data.length },
    });
    req.on("error", () => {}); // the connection is cut on purpose
    await new Promise<void>((resolve) => req.write(data.subarray(0, sent), () => resolve()));
    return () => req.destroy();
  }

  async image(id: string): Promise<GlanceImage> {
    const res = await fetch(`${this.url}/v2/images/${id}`);
    if (res.status !== 200) throw new Error(`show image: ${res.status} ${await res.text()}`);
    return (await res.json()) as GlanceImage;
  }

  async download(id: string, range?: string): Promise<Download> {
    const res = await fetch(`${this.url}/v2/images/${id}/file`, {
      headers: range ? { Range: range } : {},
    });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  }

  /** DELETE /v2/images/ID; returns the HTTP status. */
  async delete(id: string): Promise<number> {
    const res = await fetch(`${this.url}/v2/images/${id}`, { method: "DELETE" });
    await res.arrayBuffer();
    return res.status;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
