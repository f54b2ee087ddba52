/**
 * The nitro wire protocol: Site over a byte stream (`nitro serve --stdio` behind SSH).
 *
 * Each side first sends a HELLO of HELLO_BYTES: magic "NITROWP\0" | version u16 | flags u16.
 * Then messages, all integers little-endian:
 *   bodyLength u32 | type u8 | request u32 | body (bodyLength bytes)
 * `request` is chosen by the client and echoed by every reply, so requests may be pipelined and
 * replies interleave. Request 0 is the session itself (fatal ERROR, BYE).
 */
export const MAGIC = Buffer.from("NITROWP\0", "latin1");
/**
 * 2: recipes carry the chunk-list digest of repository version 2. 3: HAS_SIZES gives frames.
 * 4: HAS_SIZES gives frames' bytes, the asker works out each chunk's.
 */
export const PROTOCOL_VERSION = 4;
export const HELLO_BYTES = MAGIC.length + 4;
export const HEADER_BYTES = 9;

/** HELLO flags sent by the server. */
export const FLAG_READ_ONLY = 1;

export const Msg = {
  /** Pseudo-type the reader gives the peer's HELLO; never framed. */
  HELLO: 0x00,
  // client -> server
  HAS: 0x01,
  PUT_FRAME: 0x02,
  PUT_END: 0x03,
  GET_FRAMES: 0x04,
  CREDIT: 0x05,
  CANCEL: 0x06,
  PUT_RECIPE: 0x07,
  RECIPE_PART: 0x08,
  GET_RECIPE: 0x09,
  LIST_RECIPES: 0x0a,
  PING: 0x0b,
  PROBE: 0x0c,
  /** HAS whose reply carries each chunk's stored size (pull plans in wire bytes). */
  HAS_SIZES: 0x18,
  VERIFY: 0x1a,
  // lifecycle requests (src/wire/maintain.ts)
  REMOVE_RECIPES: 0x20,
  GC: 0x21,
  STATUS: 0x22,
  SPACE: 0x23,
  // server -> client
  HAS_REPLY: 0x41,
  PUT_ACK: 0x42,
  PUT_DONE: 0x43,
  FRAME: 0x44,
  END: 0x45,
  OK: 0x46,
  RECIPE: 0x47,
  RECIPE_LIST: 0x49,
  PONG: 0x4a,
  PROBE_DATA: 0x4b,
  HAS_SIZES_REPLY: 0x58,
  VERIFY_PROGRESS: 0x5a,
  VERIFY_FINDING: 0x5b,
  VERIFY_REPORT: 0x5c,
  // lifecycle replies
  REMOVED: 0x60,
  GC_REPORT: 0x61,
  STATUS_LIST: 0x62,
  SPACE_INFO: 0x63,
  ERROR: 0x7e,
  // both ways
  BYE: 0x7f,
} as const;

export type MsgType = (typeof Msg)[keyof typeof Msg];

export const msgName = (type: number): string =>
  Object.entries(Msg).find(([, v]) => v === type)?.[0] ?? `0x${type.toString(16).padStart(2, "0")}`;

const MiB = 1024 * 1024;

/** Hard limits: a message over any of them ends the session with an ERROR. */
export const Limits = {
  /** Compressed bytes of one frame. */
  FRAME_PAYLOAD: 16 * MiB,
  FRAME_CHUNKS: 4096,
  /** Uncompressed bytes of one frame (bounds decompression) and of one chunk. */
  FRAME_RAW: 64 * MiB,
  CHUNK_BYTES: 16 * MiB,
  /** Ids in one HAS or GET_FRAMES message (the client splits bigger batches). */
  IDS: 64 * 1024,
  /** Recipe entries in one RECIPE_PART message, and in one recipe. */
  PART_ENTRIES: 256 * 1024,
  RECIPE_ENTRIES: 16 * MiB,
  /**
   * Entry bytes of one recipe upload (2.7 M entries). A session uploads one recipe at a time, so a
   * client can make the server hold at most about twice this (the entries, then the store's copy).
   */
  RECIPE_UPLOAD_BYTES: 96 * MiB,
  /** JSON of a recipe header; one RECIPE_LIST message. */
  JSON_BYTES: 64 * 1024,
  LIST_BYTES: 4 * MiB,
  NAME_BYTES: 1024,
  ERROR_BYTES: 4096,
  PING_BYTES: 64,
  PROBE_BYTES: 4 * 1024 * MiB,
  PROBE_DATA: 1 * MiB,
} as const;

/** Largest body of each type; a type missing here is unknown. */
export const MAX_BODY: Readonly<Record<number, number>> = {
  [Msg.HAS]: Limits.IDS * 32,
  [Msg.PUT_FRAME]: 3 + Limits.FRAME_CHUNKS * 36 + Limits.FRAME_PAYLOAD,
  [Msg.PUT_END]: 0,
  [Msg.GET_FRAMES]: 4 + Limits.IDS * 32,
  [Msg.CREDIT]: 4,
  [Msg.CANCEL]: 0,
  [Msg.PUT_RECIPE]: Limits.JSON_BYTES,
  [Msg.RECIPE_PART]: Limits.PART_ENTRIES * 36,
  [Msg.GET_RECIPE]: Limits.NAME_BYTES,
  [Msg.LIST_RECIPES]: 0,
  [Msg.PING]: Limits.PING_BYTES,
  [Msg.PROBE]: 8,
  [Msg.HAS_SIZES]: Limits.IDS * 32,
  [Msg.VERIFY]: Limits.JSON_BYTES,
  [Msg.REMOVE_RECIPES]: Limits.LIST_BYTES,
  [Msg.GC]: Limits.JSON_BYTES,
  [Msg.STATUS]: Limits.LIST_BYTES,
  [Msg.SPACE]: 0,
  [Msg.HAS_REPLY]: Limits.IDS / 8,
  [Msg.PUT_ACK]: 16,
  [Msg.PUT_DONE]: 24,
  [Msg.FRAME]: 3 + Limits.FRAME_CHUNKS * 36 + Limits.FRAME_PAYLOAD,
  [Msg.END]: 0,
  [Msg.OK]: 0,
  [Msg.RECIPE]: Limits.JSON_BYTES,
  [Msg.RECIPE_LIST]: Limits.LIST_BYTES,
  [Msg.PONG]: Limits.PING_BYTES,
  [Msg.PROBE_DATA]: Limits.PROBE_DATA,
  [Msg.HAS_SIZES_REPLY]: 4 + Limits.IDS * (8 + 5),
  [Msg.VERIFY_PROGRESS]: 16,
  [Msg.VERIFY_FINDING]: Limits.JSON_BYTES,
  [Msg.VERIFY_REPORT]: Limits.JSON_BYTES,
  [Msg.REMOVED]: Limits.LIST_BYTES,
  [Msg.GC_REPORT]: Limits.JSON_BYTES,
  [Msg.STATUS_LIST]: Limits.LIST_BYTES,
  [Msg.SPACE_INFO]: Limits.JSON_BYTES,
  [Msg.ERROR]: 1 + Limits.ERROR_BYTES,
  [Msg.BYE]: 0,
};

const CLIENT_TYPES: readonly number[] = [
  Msg.HAS,
  Msg.PUT_FRAME,
  Msg.PUT_END,
  Msg.GET_FRAMES,
  Msg.CREDIT,
  Msg.CANCEL,
  Msg.PUT_RECIPE,
  Msg.RECIPE_PART,
  Msg.GET_RECIPE,
  Msg.LIST_RECIPES,
  Msg.PING,
  Msg.PROBE,
  Msg.HAS_SIZES,
  Msg.VERIFY,
  Msg.REMOVE_RECIPES,
  Msg.GC,
  Msg.STATUS,
  Msg.SPACE,
  Msg.BYE,
];
const SERVER_TYPES: readonly number[] = [
  Msg.HAS_REPLY,
  Msg.PUT_ACK,
  Msg.PUT_DONE,
  Msg.FRAME,
  Msg.END,
  Msg.OK,
  Msg.RECIPE,
  Msg.RECIPE_PART,
  Msg.RECIPE_LIST,
  Msg.PONG,
  Msg.PROBE_DATA,
  Msg.HAS_SIZES_REPLY,
  Msg.VERIFY_PROGRESS,
  Msg.VERIFY_FINDING,
  Msg.VERIFY_REPORT,
  Msg.REMOVED,
  Msg.GC_REPORT,
  Msg.STATUS_LIST,
  Msg.SPACE_INFO,
  Msg.ERROR,
  Msg.BYE,
];

/** Which message types each side may receive. */
export const ACCEPTS = {
  server: new Set(CLIENT_TYPES),
  client: new Set(SERVER_TYPES),
} as const;
