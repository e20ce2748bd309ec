/** The machine a run happened on. */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, totalmem, type as osType, release } from 'node:os';
import { readFileSync } from 'node:fs';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGb: number;
  os: string;
  node: string;
  java: string;
  date: string;
  loadAverageAtStart: number[];
}

function cpuModel(): string {
  const model = cpus()[0]?.model?.trim();
  if (model) return model;
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // not Linux
  }
  return 'unknown';
}

export function machine(): Machine {
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  return {
    cpuModel: cpuModel(),
    cores: cpus().length,
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${osType()} ${release()}`,
    node: process.version,
    java: (java.stderr ?? '').split('\n')[0]?.trim() || 'unknown',
    date: new Date().toISOString(),
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
