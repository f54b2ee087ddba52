import { spawn, execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CreateBucketCommand, ListBucketsCommand, S3Client } from "@aws-sdk/client-s3";

const run = promisify(execFile);
const PYTHON = "/usr/bin/python3";
const SERVERS = ["account", "container", "object", "proxy"] as const;
type Server = (typeof SERVERS)[number];
/** Pids still running, killed when the test process exits so no server outlives it. */
const running = new Set<number>();
process.once("exit", () => running.forEach((pid) => signal(pid, "SIGKILL")));

/**
 * A single-node OpenStack Swift with its s3api middleware on 127.0.0.1 (Debian's packages, see
 * .ci/setup): four servers and a memcached, each its own process in a temp dir, stopped by pid.
 */
export interface SwiftInstance {
  /** The S3 endpoint, `http://127.0.0.1:PORT` (path-style addressing). */
  endpoint: string;
  region: "us-east-1";
  /** tempauth's `test:tester`, secret `testing`. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  dir: string;
  pids: number[];
  /** An S3 client for this server, as the S3 site configures one. */
  client(): S3Client;
  /** Creates a bucket with a fresh unique name and returns the name. */
  newBucket(prefix?: string): Promise<string>;
  /** Environment under which the SDK's default chain finds this server's credentials. */
  env(): Record<string, string>;
  /** Kills every process (SIGTERM, then SIGKILL) and removes the temp dir. */
  stop(): Promise<void>;
}

export const SWIFT_PROXY = "/usr/bin/swift-proxy-server";

/** Starts a Swift; a start that fails (a port taken meanwhile) is tried again with other ports. */
export async function startSwift(): Promise<SwiftInstance> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startSwiftOnce();
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

async function startSwiftOnce(): Promise<SwiftInstance> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  if (!existsSync(SWIFT_PROXY))
    throw new Error(`${SWIFT_PROXY} missing: run .ci/setup (Swift's Debian packages)`);
  const dir = await mkdtemp(join(tmpdir(), "nitro-swift-"));
  const ports = { account: 0, container: 0, object: 0, proxy: 0, memcached: 0 };
  for (const k of Object.keys(ports) as Array<keyof typeof ports>) ports[k] = await freePort();
  await mkdir(join(dir, "srv", "d1"), { recursive: true });
  await mkdir(join(dir, "cache"), { recursive: true });
  await buildRings(dir, ports);
  for (const s of SERVERS) await writeFile(join(dir, `${s}.conf`), serverConfig(s, dir, ports));

  const pids: number[] = [];
  const stop = async () => {
    await Promise.all(pids.map((pid) => stopPid(pid)));
    await rm(dir, { recursive: true, force: true });
  };
  const credentials = { accessKeyId: "test:tester", secretAccessKey: "testing" };
  const endpoint = `http://127.0.0.1:${ports.proxy}`;
  const client = () =>
    new S3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  try {
    pids.push(
      launch(
        "/usr/bin/memcached",
        ["-l", "127.0.0.1", "-p", String(ports.memcached), "-U", "0", "-u", "root"],
        dir,
        "memcached",
      ),
    );
    for (const s of SERVERS)
      pids.push(launch(PYTHON, [`/usr/bin/swift-${s}-server`, join(dir, `${s}.conf`)], dir, s));
    await waitReady(endpoint, client, pids);
  } catch (err) {
    await stop();
    throw err;
  }
  let buckets = 0;
  return {
    endpoint,
    region: "us-east-1",
    credentials,
    dir,
    pids,
    client,
    async newBucket(prefix = "nitro") {
      const name = `${prefix}-${process.pid}-${++buckets}-${Date.now().toString(36)}`;
      const c = client();
      try {
        await c.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        c.destroy();
      }
      return name;
    },
    env: () => ({
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_REGION: "us-east-1",
    }),
    stop,
  };
}

async function buildRings(dir: string, ports: Record<Server, number>): Promise<void> {
  // One process through the RingBuilder API: nine swift-ring-builder runs take 3x as long.
  const script = `
import sys
from swift.common.ring import RingBuilder
d = sys.argv[1]
for name, port in zip(("account", "container", "object"), sys.argv[2:5]):
    b = RingBuilder(10, 1, 1)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port), "device": "d1", "weight": 1})
    b.rebalance()
    b.save(f"{d}/{name}.builder")
    b.get_ring().save(f"{d}/{name}.ring.gz")
`;
  await run(PYTHON, [
    "-c",
    script,
    dir,
    String(ports.account),
    String(ports.container),
    String(ports.object),
  ]);
}

function serverConfig(server: Server, dir: string, ports: Record<Server | "memcached", number>): string {
  const common = [
    "[DEFAULT]",
    "bind_ip = 127.0.0.1",
    `bind_port = ${ports[server]}`,
    // A port taken since freePort() found it free (another test's server): give up in seconds,
    // not Swift's default 30, so that startSwift can try again with other ports.
    "bind_timeout = 3",
    "workers = 0",
    `user = ${userInfo().username}`,
    `swift_dir = ${dir}`,
    `devices = ${join(dir, "srv")}`,
    "mount_check = false",
    `recon_cache_path = ${join(dir, "cache")}`,
    "log_level = WARNING",
    "",
  ];
  if (server !== "proxy")
    return [
      ...common,
      "[pipeline:main]",
      `pipeline = ${server}-server`,
      `[app:${server}-server]`,
      `use = egg:swift#${server}`,
      "",
    ].join("\n");
  return [
    ...common,
    "[pipeline:main]",
    // slo after s3api: multipart uploads are completed as static large objects.
    "pipeline = catch_errors healthcheck proxy-logging cache s3api tempauth slo proxy-logging proxy-server",
    "[app:proxy-server]",
    "use = egg:swift#proxy",
    "account_autocreate = true",
    "[filter:catch_errors]",
    "use = egg:swift#catch_errors",
    "[filter:healthcheck]",
    "use = egg:swift#healthcheck",
    "[filter:proxy-logging]",
    "use = egg:swift#proxy_logging",
    "[filter:cache]",
    "use = egg:swift#memcache",
    `memcache_servers = 127.0.0.1:${ports.memcached}`,
    "[filter:s3api]",
    "use = egg:swift#s3api",
    "[filter:tempauth]",
    "use = egg:swift#tempauth",
    "user_test_tester = testing .admin",
    "[filter:slo]",
    "use = egg:swift#slo",
    "",
  ].join("\n");
}

function launch(cmd: string, args: string[], dir: string, name: string): number {
  const child = spawn(cmd, args, { cwd: dir, stdio: "ignore", detached: true });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  child.unref();
  running.add(child.pid);
  child.once("exit", () => running.delete(child.pid!));
  return child.pid;
}

/** Ready when the proxy's healthcheck answers and an S3 ListBuckets goes through (tempauth up). */
async function waitReady(endpoint: string, client: () => S3Client, pids: number[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last: unknown;
  while (Date.now() < deadline) {
    const dead = pids.find((pid) => !alive(pid));
    if (dead !== undefined) throw new Error(`a Swift process (pid ${dead}) exited during start-up`);
    try {
      const r = await fetch(`${endpoint}/healthcheck`);
      if (r.ok) {
        const c = client();
        try {
          await c.send(new ListBucketsCommand({}));
          return;
        } finally {
          c.destroy();
        }
      }
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Swift did not become ready within 60 s: ${String(last)}`);
}

async function stopPid(pid: number): Promise<void> {
  signal(pid, "SIGTERM");
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) signal(pid, "SIGKILL");
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  running.delete(pid);
}

/** Our child exits are seen (and reaped) by Node, so an exited one is gone from `running`. */
function alive(pid: number): boolean {
  if (!running.has(pid)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}
