import { fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { EpochMetrics } from '../ports/trainer.js';
import type { StageInput, StageResult } from './stages/stage-io.js';
import type { RunMessage, TaskProcessMessage } from './task-protocol.js';

/** How a running stage reports. */
export interface StageReporter {
  log(line: string): void;
  progress(metrics: EpochMetrics): void;
}

/**
 * The local executor: each data stage runs in a child process of its own, so a trainer that
 * crashes, leaks or is killed takes only itself down; the worker records the failure and the
 * scheduler retries the task. The pool's size is the worker's concurrency (the caller bounds it).
 */
export class ProcessPool {
  private readonly children = new Set<ReturnType<typeof fork>>();

  constructor(
    private readonly entry: string,
    private readonly artifactsDir: string,
  ) {}

  /** Runs `input` in a fresh task process; rejects when the stage fails, the process dies, or `signal` aborts. */
  run(input: StageInput, reporter: StageReporter, signal: AbortSignal): Promise<StageResult> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const child = fork(this.entry, [], {
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        serialization: 'advanced',
      });
      this.children.add(child);
      let settled = false;
      const settle = (error: Error | null, result?: StageResult) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        if (error) reject(error);
        else resolve(result!);
      };
      const onAbort = () =>
        settle(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
      signal.addEventListener('abort', onAbort, { once: true });
      for (const stream of [child.stdout, child.stderr])
        if (stream) createInterface({ input: stream }).on('line', (line) => reporter.log(line));
      child.on('message', (message: TaskProcessMessage) => {
        if (message.kind === 'log') reporter.log(message.line);
        else if (message.kind === 'progress') reporter.progress(message.metrics);
        else if (message.kind === 'done') settle(null, message.result);
        else if (message.kind === 'error') settle(new Error(message.message));
      });
      child.on('error', (error) => settle(error));
      child.on('exit', (code, sig) => {
        this.children.delete(child);
        settle(new Error(`task process exited (${sig ? `signal ${sig}` : `code ${code}`}) before finishing`));
      });
      const message: RunMessage = { kind: 'run', input, artifactsDir: this.artifactsDir };
      child.send(message);
    });
  }

  /** Kills every task process still running. */
  killAll(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }
}
