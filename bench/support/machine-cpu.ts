// CPU time of the whole machine and of PostgreSQL's processes, from /proc (Linux; clock ticks of
// 10 ms). On a shared machine req/s swings with the neighbours; CPU time per request much less.
import { readdirSync, readFileSync } from 'node:fs';

const MICROS_PER_TICK = 10_000;

/** Busy and total CPU time of the machine so far (ticks): busy is all but idle and iowait. */
function machineTicks(): { busy: number; total: number } {
  // user nice system idle iowait irq softirq steal
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((sum, v) => sum + v, 0);
  return { busy: total - fields[3] - fields[4], total };
}

/** Busy CPU time of the whole machine so far (all cores), in µs. */
export function machineBusyMicros(): number {
  return machineTicks().busy * MICROS_PER_TICK;
}

/**
 * Waits (at most `maxMs`) until the machine has been nearly idle for half a second: the work a
 * scenario leaves behind (PostgreSQL vacuuming and checkpointing the events just written) must
 * not be billed to the next one. The bound keeps a machine that other work keeps busy from
 * stretching a run: there, quiet never comes and the wait is only a pause.
 */
export async function machineQuiet(maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  let calm = 0;
  let last = machineTicks();
  while (Date.now() < deadline && calm < 2) {
    await new Promise((r) => setTimeout(r, 250));
    const now = machineTicks();
    const share = (now.busy - last.busy) / Math.max(1, now.total - last.total);
    calm = share < 0.15 ? calm + 1 : 0;
    last = now;
  }
}

/** CPU time so far (µs) of each PostgreSQL server process on this machine, by pid (none when none runs here). */
export function postgresMicros(): Map<string, number> {
  const byPid = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.split(') ')[1].split(' ');
      byPid.set(entry, (Number(fields[11]) + Number(fields[12])) * MICROS_PER_TICK);
    } catch {
      // The process ended between the listing and the read: nothing to count.
    }
  }
  return byPid;
}

/** What the PostgreSQL processes alive at both times spent between them (a backend that ended is left out). */
export function postgresSpent(before: Map<string, number>, after: Map<string, number>): number {
  let spent = 0;
  for (const [pid, micros] of after) spent += micros - (before.get(pid) ?? micros);
  return spent;
}

/**
 * CPU time (µs) of this process's children that have ended and been reaped: read around one
 * wrk run (the only child that ends meanwhile), it is what the load generator itself spent.
 */
export function reapedChildrenMicros(): number {
  // After "(comm) ": state ppid ... utime(11) stime(12) cutime(13) cstime(14).
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) * MICROS_PER_TICK;
}
