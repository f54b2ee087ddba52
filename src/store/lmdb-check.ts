import { accessSync, closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { Exit, NitroError, corrupt } from "../util/errors.js";

/**
 * LMDB maps its data file and trusts it: a truncated or garbled file kills the process with
 * SIGBUS or SIGSEGV and no message. So the meta pages are checked before the file is mapped.
 * Offsets are those of liblmdb's MDB_meta on 64-bit builds, after the 24-byte page header.
 */
const MAGIC = 0xbeefc0de;
const DATA_VERSION = 2;
const META = { magic: 24, version: 28, pageSize: 48, freeRoot: 88, mainRoot: 136, lastPage: 144, txn: 152 };
const META_BYTES = 160;
const CORE_DB_DEPTH = [54, 102];
/** MDB_page_header: pgno u64, txnid u64, pad u16, flags u16, lower u16, upper u16. */
const PAGE_HEADER_BYTES = 24;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_META = 0x08;

interface MetaPage {
  pageSize: number;
  lastPage: bigint;
  txn: bigint;
  roots: bigint[];
}

/** What opening the index needs to know: whether this process may write to it. */
export interface IndexAccess {
  readOnly: boolean;
}

/**
 * Checks `index/data.mdb` (if it exists yet) and whether the index directory is writable.
 * A damaged file is refused with exit 5 (CORRUPT), an unreadable one with exit 1.
 */
export function checkIndexFiles(indexDir: string): IndexAccess {
  const file = join(indexDir, "data.mdb");
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { readOnly: !writable(indexDir) };
    if (code === "EACCES" || code === "EPERM")
      throw new NitroError(Exit.FAILURE, `${file}: permission denied (is the repository another user's?)`);
    throw err;
  }
  try {
    checkDataFile(fd, file);
  } finally {
    closeSync(fd);
  }
  return { readOnly: !writable(indexDir) };
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function checkDataFile(fd: number, file: string): void {
  const size = fstatSync(fd).size;
  const damaged = (what: string) =>
    corrupt(
      `${file} is damaged (${what}); restore the repository from a copy, or move it away and pull its images again`,
    );
  const first = readMeta(fd, 0, file);
  if (!first) throw damaged("no LMDB meta page at its start");
  if (size < 2 * first.pageSize) throw damaged(`${size} bytes, shorter than its two meta pages`);
  const second = readMeta(fd, first.pageSize, file);
  if (!second) throw damaged("its second meta page is garbled");
  const live = second.txn > first.txn ? second : first;
  const pages = BigInt(Math.floor(size / live.pageSize));
  if (live.lastPage >= pages)
    throw damaged(`truncated: it ends at page ${pages} but uses pages up to ${live.lastPage}`);
  if (live.roots.some((root) => root >= pages)) throw damaged("a tree root lies past its end");
  for (const root of live.roots)
    if (!treePageLooksSound(fd, root, live)) throw damaged(`its tree root, page ${root}, is garbled`);
}

/**
 * A branch or leaf page's header: its own number, a known kind, free-space bounds (counted from
 * the end of the header) inside the page.
 */
function treePageLooksSound(fd: number, pgno: bigint, meta: MetaPage): boolean {
  const h = Buffer.alloc(PAGE_HEADER_BYTES);
  if (readSync(fd, h, 0, PAGE_HEADER_BYTES, Number(pgno) * meta.pageSize) < PAGE_HEADER_BYTES) return false;
  const flags = h.readUInt16LE(18);
  const lower = h.readUInt16LE(20);
  const upper = h.readUInt16LE(22);
  return (
    h.readBigUInt64LE(0) === pgno &&
    (flags & (P_BRANCH | P_LEAF)) !== 0 &&
    (flags & P_META) === 0 &&
    lower <= upper &&
    upper <= meta.pageSize - PAGE_HEADER_BYTES
  );
}

function readMeta(fd: number, position: number, file: string): MetaPage | undefined {
  const b = Buffer.alloc(META_BYTES);
  let got: number;
  try {
    got = readSync(fd, b, 0, META_BYTES, position);
  } catch (err) {
    throw new NitroError(Exit.FAILURE, `${file}: ${(err as Error).message}`);
  }
  if (got < META_BYTES) return undefined;
  if (b.readUInt32LE(META.magic) !== MAGIC || b.readUInt32LE(META.version) !== DATA_VERSION) return undefined;
  const pageSize = b.readUInt32LE(META.pageSize);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return undefined;
  const roots = [META.freeRoot, META.mainRoot].filter((_, i) => b.readUInt16LE(CORE_DB_DEPTH[i]!) > 0);
  return {
    pageSize,
    lastPage: b.readBigUInt64LE(META.lastPage),
    txn: b.readBigUInt64LE(META.txn),
    roots: roots.map((at) => b.readBigUInt64LE(at)),
  };
}
