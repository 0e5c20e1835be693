/**
 * Polls `probe` every `everyMs` until it holds (a probe that throws counts as not yet), for at
 * most `ms`; answers how long it took, or throws naming `what`.
 */
export async function until(
  probe: () => Promise<boolean>,
  ms: number,
  what: string,
  everyMs = 100,
): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await probe().catch(() => false)) return Date.now() - started;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`${what} did not happen within ${ms} ms`);
}
