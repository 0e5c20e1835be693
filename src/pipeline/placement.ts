import type { WorkerCapacity } from './records.js';

/** A worker asking for a task in a claim batch: what it has free now and its labels. */
export interface Claimant {
  workerId: string;
  free: WorkerCapacity;
  labels: Record<string, string>;
}

/** A live worker outside the batch that a gang may take as a member, by what it last reported free. */
export type Peer = Claimant;

/** A queued task as placement sees it. */
export interface Candidate {
  id: string;
  priority: number;
  enqueuedAt: number;
  cpu: number;
  memoryMb: number;
  gpu: number;
  storageMb: number;
  team: string;
  nodeSelector: Record<string, string>;
  gangSize: number;
}

/** A team's quota (null: no limit on that resource) and what its running tasks hold now. */
export interface TeamBudget {
  limit: { cpu: number | null; memoryMb: number | null; gpu: number | null; tasks: number | null };
  used: { cpu: number; memoryMb: number; gpu: number; tasks: number };
}

/** One placed task: its members, the claimant first (a gang's rank order), then the rest. */
export interface Placement {
  taskId: string;
  /** Worker ids by rank; members[0] claimed it. */
  members: string[];
  /** Which of `members` are claimants of this batch (they get the task now); peers pick it up later. */
  claimants: string[];
}

/** Whether a worker with `free` and `labels` can hold one member of `task`. */
export function fits(task: Candidate, free: WorkerCapacity, labels: Record<string, string>): boolean {
  return (
    task.cpu <= free.cpu &&
    task.memoryMb <= free.memoryMb &&
    task.gpu <= free.gpu &&
    task.storageMb <= free.storageMb &&
    selects(task.nodeSelector, labels)
  );
}

/** A node selector matches when the worker carries every label it names, with the same value. */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector)) if (labels[key] !== value) return false;
  return true;
}

/** The share of `free` the task would fill; best fit prefers the largest (so big tasks are not crowded out). */
export function fillOf(task: Candidate, free: WorkerCapacity): number {
  return (
    task.cpu / Math.max(free.cpu, 0.001) +
    task.memoryMb / Math.max(free.memoryMb, 1) +
    task.gpu / Math.max(free.gpu, 1) +
    task.storageMb / Math.max(free.storageMb, 1)
  );
}

/** Priority after aging: one point per `agingMs` waited, floored so tasks of one band tie. */
export function agedPriority(task: Candidate, now: number, agingMs: number): number {
  return Math.floor(task.priority + (now - task.enqueuedAt) / agingMs);
}

/** Whether the team's quota has room for `task` (every member counted). */
export function withinQuota(task: Candidate, budget: TeamBudget | undefined): boolean {
  if (!budget) return true;
  const { limit, used } = budget;
  const n = task.gangSize;
  return (
    (limit.cpu === null || used.cpu + task.cpu * n <= limit.cpu) &&
    (limit.memoryMb === null || used.memoryMb + task.memoryMb * n <= limit.memoryMb) &&
    (limit.gpu === null || used.gpu + task.gpu * n <= limit.gpu) &&
    (limit.tasks === null || used.tasks + 1 <= limit.tasks)
  );
}

/**
 * Places candidates on a batch of claimants, each getting at most one task: for each claimant
 * in turn, the fitting task of the highest aged priority, then best fit, then first come, whose
 * team is within its quota. A gang task of size N is placed only when N distinct workers can
 * hold a member each — other claimants of the batch first, then live peers by what they last
 * reported free — all at once, or not at all (its claimant then takes its next candidate).
 */
export function place(
  claimants: Claimant[],
  candidates: Candidate[],
  budgets: Map<string, TeamBudget>,
  peers: Peer[],
  now: number,
  agingMs: number,
): Placement[] {
  const aged = new Map(candidates.map((c) => [c.id, agedPriority(c, now, agingMs)]));
  const taken = new Set<string>();
  const busy = new Set<string>();
  const placements: Placement[] = [];
  for (const claimant of claimants) {
    if (busy.has(claimant.workerId)) continue;
    const ranked = candidates
      .filter(
        (c) =>
          !taken.has(c.id) && fits(c, claimant.free, claimant.labels) && withinQuota(c, budgets.get(c.team)),
      )
      .sort(
        (a, b) =>
          aged.get(b.id)! - aged.get(a.id)! ||
          fillOf(b, claimant.free) - fillOf(a, claimant.free) ||
          a.enqueuedAt - b.enqueuedAt ||
          (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      );
    for (const task of ranked) {
      const members = [claimant.workerId];
      const inBatch = [claimant.workerId];
      if (task.gangSize > 1) {
        for (const other of claimants) {
          if (members.length === task.gangSize) break;
          if (busy.has(other.workerId) || members.includes(other.workerId)) continue;
          if (fits(task, other.free, other.labels)) {
            members.push(other.workerId);
            inBatch.push(other.workerId);
          }
        }
        for (const peer of peers) {
          if (members.length === task.gangSize) break;
          if (busy.has(peer.workerId) || members.includes(peer.workerId)) continue;
          if (fits(task, peer.free, peer.labels)) members.push(peer.workerId);
        }
        if (members.length < task.gangSize) continue;
      }
      taken.add(task.id);
      for (const m of members) busy.add(m);
      const budget = budgets.get(task.team);
      if (budget) {
        budget.used.cpu += task.cpu * task.gangSize;
        budget.used.memoryMb += task.memoryMb * task.gangSize;
        budget.used.gpu += task.gpu * task.gangSize;
        budget.used.tasks += 1;
      }
      placements.push({ taskId: task.id, members, claimants: inBatch });
      break;
    }
  }
  return placements;
}
