import { readFileSync } from "node:fs";
import { fromSystemError, usage } from "../util/errors.js";
import type { ReplicateJob } from "./replicate.js";

/**
 * A replication policy file (JSON):
 *   {"rules": [{"images": "debian-*", "sites": ["lyon", "paris"]},
 *              {"images": "*", "sites": "all", "minCopies": 2}]}
 * `images` is a name pattern (`*` any run of characters, `?` one); `sites` a list of site names or
 * "all" (every configured site); `minCopies` (optional) asks for that many complete copies among
 * those sites rather than all of them. An image matched by several rules gets each rule's sites.
 */
export interface PolicyRule {
  images: string;
  sites: string[] | "all";
  minCopies?: number;
}

export function loadPolicy(path: string): PolicyRule[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw fromSystemError(err, path);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw usage(`${path}: not valid JSON`);
  }
  const rules = (data as { rules?: unknown })?.rules;
  if (!Array.isArray(rules) || rules.length === 0)
    throw usage(`${path}: expected {"rules": [...]} with at least one rule`);
  return rules.map((r: unknown, i) => checkRule(r, `${path}: rule ${i + 1}`));
}

function checkRule(r: unknown, where: string): PolicyRule {
  const rule = r as Partial<PolicyRule> | null;
  if (typeof rule?.images !== "string" || rule.images === "")
    throw usage(`${where}: "images" must be a name pattern`);
  const sites = rule.sites;
  if (
    sites !== "all" &&
    !(Array.isArray(sites) && sites.length > 0 && sites.every((s) => typeof s === "string"))
  )
    throw usage(`${where}: "sites" must be "all" or a list of site names`);
  if (rule.minCopies !== undefined && !(Number.isInteger(rule.minCopies) && rule.minCopies >= 1))
    throw usage(`${where}: "minCopies" must be a whole number >= 1`);
  return {
    images: rule.images,
    sites,
    ...(rule.minCopies !== undefined ? { minCopies: rule.minCopies } : {}),
  };
}

export function matchesPattern(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`).test(name);
}

/** The jobs a policy asks for, over the images known anywhere and the configured sites. */
export function policyJobs(
  rules: readonly PolicyRule[],
  images: readonly string[],
  siteNames: readonly string[],
): ReplicateJob[] {
  const jobs: ReplicateJob[] = [];
  for (const rule of rules)
    for (const image of images.filter((n) => matchesPattern(rule.images, n))) {
      const sites = rule.sites === "all" ? [...siteNames] : rule.sites;
      jobs.push({ image, sites, ...(rule.minCopies !== undefined ? { minCopies: rule.minCopies } : {}) });
    }
  return jobs;
}
