import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { AimeshError } from '../kernel/errors.js';
import { type ExecutionRecord, parseDefinitionText, type WorkerRecord } from '../pipeline/index.js';
import { callApi } from './client.js';
import { uploadCsv } from './datasets-command.js';
import { printTable } from './table-output.js';

const API = '/api/v1/training';
const FINISHED = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

/** Reads a definition file; a `dataset.file` is pushed first and the run pinned to that version. */
async function definitionFromFile(file: string): Promise<Record<string, unknown>> {
  const definition = parseDefinitionText(await readFile(file, 'utf8'));
  if (definition.dataset.file) {
    const csv = resolve(dirname(file), definition.dataset.file);
    const pushed = await uploadCsv(definition.dataset.name, new Uint8Array(await readFile(csv)));
    console.log(
      `dataset ${definition.dataset.name}@${pushed.version.version.slice(0, 12)} (${pushed.version.rowCount} rows${pushed.created ? ', new' : ''})`,
    );
    definition.dataset.version = pushed.version.version;
    delete definition.dataset.file;
  }
  return definition as unknown as Record<string, unknown>;
}

/** One line per stage, for status and for --wait's summary. */
function printStages(execution: ExecutionRecord): void {
  printTable(
    execution.stages.map((s) => ({
      ...s,
      duration: s.durationMs === null ? null : `${(s.durationMs / 1000).toFixed(1)}s`,
      note: s.error ?? s.waitReason ?? summary(s.output),
    })),
    ['name', 'type', 'status', 'attempts', 'duration', 'note'],
  );
}

function summary(output: Record<string, unknown> | null): string | null {
  if (!output) return null;
  if (output.evaluation) {
    const e = output.evaluation as Record<string, number>;
    return `accuracy ${e.accuracy?.toFixed(4)} f1 ${e.f1?.toFixed(4)}`;
  }
  if (output.version !== undefined)
    return `${output.model} v${output.version}${output.promoted ? ` → ${output.alias}` : ` (not promoted: ${output.reason})`}`;
  return null;
}

/**
 * Follows an execution until it finishes: prints each stage's status change and every log line
 * (epochs with loss and accuracy) as plain lines, so the output reads the same in a terminal and a log.
 */
async function follow(id: string, intervalMs: number): Promise<ExecutionRecord> {
  let after = 0;
  const seen = new Map<string, string>();
  for (;;) {
    const execution = await callApi<ExecutionRecord>('GET', `${API}/executions/${encodeURIComponent(id)}`);
    for (const s of execution.stages) {
      const state = s.status === 'QUEUED' && s.waitReason ? `QUEUED (${s.waitReason})` : s.status;
      if (seen.get(s.name) !== state) {
        seen.set(s.name, state);
        console.log(`${new Date().toISOString().slice(11, 19)} ${s.name}: ${state}`);
      }
    }
    for (;;) {
      const logs = await callApi<{ items: { id: number; line: string }[] }>(
        'GET',
        `${API}/executions/${encodeURIComponent(id)}/logs?after=${after}&limit=1000`,
      );
      for (const l of logs.items) console.log(`  ${l.line}`);
      if (logs.items.length === 0) break;
      after = logs.items.at(-1)!.id;
    }
    if (FINISHED.includes(execution.status)) return execution;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `aimesh pipeline run|status|ls|cancel|resume|logs` and `aimesh workers ls`. */
export function registerPipelineCommands(program: Command): void {
  const pipeline = program.command('pipeline').description('training pipelines: run, follow, cancel, resume');
  pipeline
    .command('run')
    .description('run a pipeline definition (YAML or JSON)')
    .argument('<file>', 'e.g. examples/pipelines/iris.yaml')
    .option('--wait', 'follow the execution and exit 0 only when it SUCCEEDED')
    .option('--interval <ms>', 'polling interval while waiting', '1000')
    .action(async (file: string, opts: { wait?: boolean; interval: string }) => {
      const definition = await definitionFromFile(file);
      const execution = await callApi<ExecutionRecord>('POST', `${API}/executions`, { definition });
      console.log(`execution ${execution.id} ${execution.status}`);
      if (!opts.wait) return;
      const done = await follow(execution.id, Math.max(100, Number(opts.interval) || 1000));
      printStages(done);
      console.log(`execution ${done.id} ${done.status}${done.error ? `: ${done.error}` : ''}`);
      if (done.status !== 'SUCCEEDED') process.exitCode = 1;
    });
  pipeline
    .command('status')
    .description("an execution's status and its stages")
    .argument('<id>', 'execution id')
    .action(async (id: string) => {
      const execution = await callApi<ExecutionRecord>('GET', `${API}/executions/${encodeURIComponent(id)}`);
      console.log(
        `${execution.id}  ${execution.pipeline}  ${execution.status}${execution.error ? `  ${execution.error}` : ''}`,
      );
      printStages(execution);
    });
  pipeline
    .command('ls')
    .description('list executions, newest first')
    .option('--status <status>', 'only this status')
    .option('--limit <n>', 'how many', '20')
    .action(async (opts: { status?: string; limit: string }) => {
      const q = new URLSearchParams({ limit: opts.limit, ...(opts.status ? { status: opts.status } : {}) });
      const listed = await callApi<{ items: ExecutionRecord[] }>('GET', `${API}/executions?${q}`);
      printTable(
        listed.items.map((e) => ({ ...e, stages: e.stages.map((s) => `${s.name}:${s.status}`).join(' ') })),
        ['id', 'pipeline', 'status', 'createdAt', 'stages'],
      );
    });
  for (const [name, what] of [
    ['cancel', 'cancel a live execution'],
    ['resume', 'resume a failed or cancelled execution from its unfinished stages'],
  ] as const) {
    pipeline
      .command(name)
      .description(what)
      .argument('<id>', 'execution id')
      .action(async (id: string) => {
        const execution = await callApi<ExecutionRecord>(
          'POST',
          `${API}/executions/${encodeURIComponent(id)}/${name}`,
        );
        console.log(`execution ${execution.id} ${execution.status}`);
      });
  }
  pipeline
    .command('logs')
    .description("an execution's log lines")
    .argument('<id>', 'execution id')
    .option('-f, --follow', 'keep printing until the execution finishes')
    .action(async (id: string, opts: { follow?: boolean }) => {
      if (opts.follow) {
        await follow(id, 1000);
        return;
      }
      const logs = await callApi<{ items: { stage: string; at: string; line: string }[] }>(
        'GET',
        `${API}/executions/${encodeURIComponent(id)}/logs?limit=10000`,
      );
      for (const l of logs.items) console.log(`${l.at} ${l.line}`);
    });

  const workers = program.command('workers').description('training workers');
  workers
    .command('ls')
    .description('registered workers: capacity, running tasks, liveness')
    .action(async () => {
      const listed = await callApi<{ items: WorkerRecord[] }>('GET', `${API}/workers`);
      if (!Array.isArray(listed.items)) throw new AimeshError('unexpected_reply', 502, 'unexpected reply');
      printTable(
        listed.items.map((w) => ({ ...w })),
        ['name', 'live', 'cpu', 'memoryMb', 'gpu', 'storageMb', 'running', 'heartbeatAt'],
      );
    });
}
