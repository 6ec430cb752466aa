import { cpus, totalmem, release, platform } from 'node:os';
import { readFileSync } from 'node:fs';

/** The machine a run was measured on, as quoted beside every figure. */
export interface Machine {
  date: string;
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  os: string;
  /** Load average (1 min) when the run started: other work on the machine skews figures. */
  loadAtStart: number;
}

function cgroupCpus(): number | undefined {
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota && period && quota !== 'max') return Number(quota) / Number(period);
  } catch {
    // not in a cgroup v2 with a CPU limit
  }
  return undefined;
}

export function describeMachine(): Machine {
  const list = cpus();
  const limit = cgroupCpus();
  return {
    date: new Date().toISOString(),
    cores: limit !== undefined ? Math.min(limit, list.length) : list.length,
    cpu: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${platform()} ${release()}`,
    loadAtStart: Math.round((readLoad() ?? 0) * 100) / 100,
  };
}

function readLoad(): number | undefined {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}
