declare module "fs-ext" {
  export function seekSync(fd: number, offset: number, whence: number): number;
  export function flockSync(fd: number, flags: "sh" | "ex" | "shnb" | "exnb" | "un"): void;
}
