import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

/**
 * `mkdir -p` that fails with the real reason. Node's recursive mkdir (20) reports ENOENT when a
 * directory cannot be made on a read-only file system (EACCES it reports as such): on ENOENT the
 * first missing directory is made on its own, which throws the system's own error. `mode` is
 * that of the directories made (less the umask), as for mkdir(2).
 */
export function makeDirs(path: string, mode?: number): void {
  try {
    mkdirSync(path, { recursive: true, mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    let missing = path;
    while (!existsSync(dirname(missing)) && dirname(missing) !== missing) missing = dirname(missing);
    try {
      mkdirSync(missing, { mode });
    } catch (inner) {
      if ((inner as NodeJS.ErrnoException).code !== "EEXIST") throw inner;
    }
    // It could be made after all (another process was making or removing it): the rest follows.
    mkdirSync(path, { recursive: true, mode });
  }
}
