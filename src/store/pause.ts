/**
 * Test hook for crash tests: when NITRO_TEST_PAUSE names this point (e.g. `gc:switched`), the
 * process says so on stderr and waits there forever, to be killed. Costs one comparison otherwise.
 */
export async function pausePoint(name: string): Promise<void> {
  if (process.env.NITRO_TEST_PAUSE !== name) return;
  process.stderr.write(`nitro: paused at ${name}\n`);
  setInterval(() => undefined, 1 << 30);
  await new Promise<never>(() => undefined);
}
