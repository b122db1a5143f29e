// Measuring helpers: child processes with their peak RSS, the process tree's RSS, a table.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setPriority } from 'node:os';

export interface ChildRun {
  readonly ms: number;
  readonly peakRssMb: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command under /usr/bin/time -v so that the kernel's own peak RSS figure is reported. */
export function runMeasured(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-v', command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      resolve({ ms, peakRssMb: m ? Number(m[1]) / 1024 : Number.NaN, code, stdout, stderr });
    });
  });
}

/** Resident memory of the descendant (or the process itself) whose command line contains `needle`, in MB. */
export function processRssMb(rootPid: number, needle: string): number {
  for (const pid of descendants(rootPid)) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      // the node process itself, not the `sh -c` npm runs it under
      if (!cmdline.includes(needle) || readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'node') continue;
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) return Number(m[1]) / 1024;
    } catch {
      // gone
    }
  }
  return Number.NaN;
}

function descendants(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process ended meanwhile
    }
  }
  const out: number[] = [];
  const stack = [rootPid];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Resident memory of a process and all its descendants, in MB (Linux /proc). */
export function treeRssMb(rootPid: number): number {
  let kb = 0;
  for (const pid of descendants(rootPid)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

export interface TableRow {
  readonly what: string;
  readonly size: string;
  readonly figure: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly goal: string;
  readonly met: string;
}

export function printTable(rows: readonly TableRow[]): string {
  const head: TableRow = { what: 'benchmark', size: 'size', figure: 'figure', baseline: 'baseline (same run)', ratio: 'ratio', goal: 'goal', met: 'met' };
  const all = [head, ...rows];
  const keys = Object.keys(head) as (keyof TableRow)[];
  const lines = all.map((r) => `| ${keys.map((k) => r[k]).join(' | ')} |`);
  lines.splice(1, 0, `|${keys.map(() => '---').join('|')}|`);
  return lines.join('\n');
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/**
 * Runs a bench script (path from the repository root) in its own Node process and parses the one
 * JSON value it prints. `niceness` sets its CPU priority (19 the lowest, −20 the highest): on one
 * machine the clients share the cores with the server, where they stand for customers' own
 * machines — a flood's load generators go last (19), and the client whose latency is measured
 * first (−10), so that what is measured is the server's share of its latency.
 */
export function runJsonScript<T = any>(root: string, script: string, args: readonly string[], options: { niceness?: number } = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(root, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    if (options.niceness !== undefined && p.pid !== undefined) {
      try {
        setPriority(p.pid, options.niceness);
      } catch (e) {
        // A priority above 0 needs root (CAP_SYS_NICE): measured at the default priority then, and said.
        process.stderr.write(`[bench] ${script} runs at its default priority: ${(e as Error).message}\n`);
      }
    }
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', () => {
      try {
        resolve(JSON.parse(out) as T);
      } catch {
        reject(new Error(`${script} printed ${out}`));
      }
    });
  });
}

/** A quiet period's first milliseconds left out: the noisy period's dropped requests and downloads are being let go. */
export const SETTLE_MS = 250;

/**
 * The latencies of a switched load (bench/steady.mjs `timed` beside bench/switched-flood.mjs) by the
 * period each request was sent in: quiet (even periods from `start`) or noisy (odd), leaving out
 * the requests sent before `start`, in the first `warmPeriods` (both kinds warm up: the flood's
 * first answers plan and compile their paths) and in a quiet period's first `settleMs`. A noisy
 * period is kept whole, its flood's first burst with it.
 */
export function latenciesBySwitch(timed: readonly (readonly [number, number])[], start: number, period: number, warmPeriods = 2, settleMs = SETTLE_MS): { quiet: number[]; noisy: number[] } {
  const quiet: number[] = [];
  const noisy: number[] = [];
  for (const [sentAt, latency] of timed) {
    const index = Math.floor((sentAt - start) / period);
    if (sentAt < start || index < warmPeriods) continue;
    if (index % 2 === 1) noisy.push(latency);
    else if (sentAt - (start + index * period) >= settleMs) quiet.push(latency);
  }
  return { quiet, noisy };
}

/** The q-quantile of latencies (sorts them in place). */
export function quantile(latencies: number[], q: number): number {
  latencies.sort((a, b) => a - b);
  return latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
}
