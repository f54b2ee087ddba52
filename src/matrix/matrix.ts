import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../store/config.js";
import { corrupt, fromSystemError, usage } from "../util/errors.js";

/** A directed link: data flowing from `from` to `to`. */
export interface Link {
  from: string;
  to: string;
  /** Bytes per second. */
  bandwidth: number;
  /** Round-trip time, seconds. */
  rtt?: number;
  /** Egress price for this pair, USD per GB; else the source site's egress cost applies. */
  cost?: number;
  /** When it was measured (probe) or set. */
  updated: string;
  origin: "probe" | "manual" | "import";
}

const CSV_HEADER = "from,to,bandwidth_bytes_per_s,rtt_s,cost_usd_per_gb,updated,origin";

/** The node's bandwidth/cost matrix (matrix.json in the repository). */
export class Matrix {
  constructor(readonly links: Link[] = []) {}

  static load(repoDir: string): Matrix {
    const path = join(repoDir, "matrix.json");
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return new Matrix();
      throw fromSystemError(err, path);
    }
    try {
      return Matrix.fromJson(text);
    } catch (err) {
      throw corrupt(
        `${path} is damaged (${(err as Error).message}); fix or remove it, then set or probe the links again`,
      );
    }
  }

  save(repoDir: string): void {
    writeFileAtomic(join(repoDir, "matrix.json"), this.toJson());
  }

  get(from: string, to: string): Link | undefined {
    return this.links.find((l) => l.from === from && l.to === to);
  }

  /** Sets a link; fields left undefined keep their previous value. */
  set(link: Link): void {
    const old = this.get(link.from, link.to);
    const merged: Link = {
      ...old,
      ...Object.fromEntries(Object.entries(link).filter(([, v]) => v !== undefined)),
    } as Link;
    const i = old ? this.links.indexOf(old) : -1;
    if (i >= 0) this.links[i] = merged;
    else this.links.push(merged);
    this.links.sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
  }

  merge(other: Matrix): void {
    other.links.forEach((l) => this.set(l));
  }

  toJson(): string {
    return JSON.stringify({ links: this.links }, null, 2) + "\n";
  }

  static fromJson(text: string): Matrix {
    let data: { links?: unknown };
    try {
      data = JSON.parse(text) as { links?: unknown };
    } catch {
      throw usage("matrix: not valid JSON");
    }
    if (!Array.isArray(data.links)) throw usage('matrix JSON must be {"links": [...]}');
    return new Matrix(data.links.map((l, i) => checkLink(l as Partial<Link>, `link ${i + 1}`)));
  }

  toCsv(): string {
    const rows = this.links.map((l) =>
      [l.from, l.to, l.bandwidth, l.rtt ?? "", l.cost ?? "", l.updated, l.origin].join(","),
    );
    return [CSV_HEADER, ...rows].join("\n") + "\n";
  }

  static fromCsv(text: string): Matrix {
    const lines = text.split(/\r?\n/).filter((l) => l.trim() && !l.startsWith("#"));
    if (lines[0]?.replace(/\s/g, "") !== CSV_HEADER)
      throw usage(`matrix CSV must start with the header: ${CSV_HEADER}`);
    return new Matrix(
      lines.slice(1).map((line, i) => {
        const [from, to, bw, rtt, cost, updated, origin] = line.split(",").map((c) => c.trim());
        return checkLink(
          {
            from,
            to,
            bandwidth: Number(bw),
            rtt: rtt ? Number(rtt) : undefined,
            cost: cost ? Number(cost) : undefined,
            updated: updated || new Date().toISOString(),
            origin: (origin as Link["origin"]) || "import",
          },
          `line ${i + 2}`,
        );
      }),
    );
  }
}

const ORIGINS: ReadonlyArray<Link["origin"]> = ["probe", "manual", "import"];

/** JSON turns 1e999 into Infinity, and stores Infinity as null: neither is a number here. */
const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

function checkLink(l: Partial<Link>, where: string): Link {
  const bad = (what: string) => usage(`matrix ${where}: ${what}`);
  if (!l.from || !l.to || typeof l.from !== "string" || typeof l.to !== "string")
    throw bad("needs from and to site names");
  if (!finite(l.bandwidth) || !(l.bandwidth > 0))
    throw bad("bandwidth must be a finite positive number of bytes per second");
  if (l.rtt !== undefined && !(finite(l.rtt) && l.rtt >= 0))
    throw bad("rtt must be a finite number of seconds, 0 or more");
  if (l.cost !== undefined && !(finite(l.cost) && l.cost >= 0))
    throw bad("cost must be a finite price in USD per GB, 0 or more");
  if (l.origin !== undefined && !ORIGINS.includes(l.origin))
    throw bad(`origin must be one of ${ORIGINS.join(", ")}`);
  return {
    from: l.from,
    to: l.to,
    bandwidth: l.bandwidth,
    ...(l.rtt !== undefined ? { rtt: l.rtt } : {}),
    ...(l.cost !== undefined ? { cost: l.cost } : {}),
    updated: l.updated ?? new Date().toISOString(),
    origin: l.origin ?? "import",
  };
}
