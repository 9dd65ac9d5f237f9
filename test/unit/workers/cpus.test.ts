// The CPUs the agent's cgroup allows: cpu.max, cpuset lists, /proc/self/cgroup, mountinfo and the
// least of the bounds, from fixture strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowedCpus, cgroupDirs, parseCgroup2Mount, parseCpuList, parseCpuMax, parseMemoryMax, parseSelfCgroup, readAllowedCpus, workerCount } from '../../../src/workers/cpus';

test('cpu.max as whole CPUs', () => {
  const cases: [string, number][] = [
    ['max 100000\n', Infinity],
    ['max', Infinity],
    ['200000 100000\n', 2],
    ['150000 100000', 1], // 1.5 CPUs: rounded down
    ['50000 100000', 1], // under one CPU: still one worker
    ['400000 50000', 8],
    ['300000', 3], // period defaults to 100ms
    ['', Infinity],
    ['garbage 1', Infinity],
    ['-1 100000', Infinity],
  ];
  for (const [text, want] of cases) assert.equal(parseCpuMax(text), want, JSON.stringify(text));
});

test('memory.max as the workers half of it holds (64 MiB each)', () => {
  const Mi = 1024 * 1024;
  const cases: [string, number][] = [
    ['max\n', Infinity],
    ['', Infinity],
    [String(1024 * Mi), 8], // the DaemonSet's 1Gi limit
    [String(256 * Mi), 2],
    [String(100 * Mi), 1], // too little for one: still one
    ['junk', Infinity],
  ];
  for (const [text, want] of cases) assert.equal(parseMemoryMax(text), want, JSON.stringify(text));
  // 64 cores, no CPU quota, 1Gi: eight workers, decided by memory.
  assert.deepEqual(allowedCpus({ cpuMax: ['max 100000'], memoryMax: [String(1024 * Mi), 'max'], available: 64 }), { cpus: 8, by: 'memory' });
});

test('cpuset lists', () => {
  const cases: [string, number | undefined][] = [
    ['0-3\n', 4],
    ['0', 1],
    ['0-1,4,6-7', 5],
    ['', undefined],
    ['\n', undefined],
    ['3-1', undefined],
    ['a-b', undefined],
  ];
  for (const [text, want] of cases) assert.equal(parseCpuList(text), want, JSON.stringify(text));
});

test('own cgroup from /proc/self/cgroup', () => {
  const cases: [string, string | undefined][] = [
    ['0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope\n', '/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope'],
    ['0::/\n', '/'],
    ['12:cpu,cpuacct:/docker/x\n1:name=systemd:/docker/x\n0::/docker/x\n', '/docker/x'],
    ['12:cpu,cpuacct:/docker/x\n', undefined], // v1 only
  ];
  for (const [text, want] of cases) assert.equal(parseSelfCgroup(text), want);
});

const MOUNTINFO = [
  '22 1 0:21 / /proc rw,nosuid - proc proc rw',
  '30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate',
].join('\n');

test('cgroup2 mount from mountinfo', () => {
  assert.deepEqual(parseCgroup2Mount(MOUNTINFO), { root: '/', mountPoint: '/sys/fs/cgroup' });
  assert.deepEqual(parseCgroup2Mount('40 1 0:30 /kubepods.slice /host\\040cg rw - cgroup2 none rw'), { root: '/kubepods.slice', mountPoint: '/host cg' });
  assert.equal(parseCgroup2Mount('22 1 0:21 / /proc rw - proc proc rw'), undefined);
});

test('cgroup directories, own first, up to the mount point', () => {
  const m = { root: '/', mountPoint: '/sys/fs/cgroup' };
  assert.deepEqual(cgroupDirs('/a/b', m), ['/sys/fs/cgroup/a/b', '/sys/fs/cgroup/a', '/sys/fs/cgroup']);
  assert.deepEqual(cgroupDirs('/', m), ['/sys/fs/cgroup']);
  const nested = { root: '/kubepods', mountPoint: '/cg' };
  assert.deepEqual(cgroupDirs('/kubepods/pod1/c1', nested), ['/cg/pod1/c1', '/cg/pod1', '/cg']);
  assert.equal(cgroupDirs('/system.slice/x', nested), undefined);
  assert.equal(cgroupDirs('/kubepodsX/y', nested), undefined);
});

test('the least bound decides, at least 1', () => {
  const cases: [string, Parameters<typeof allowedCpus>[0], number, string][] = [
    ['no limits', { cpuMax: ['max 100000'], available: 8 }, 8, 'affinity'],
    ['quota of the container', { cpuMax: ['200000 100000', 'max 100000'], available: 8 }, 2, 'quota'],
    ['quota of an ancestor (the pod) is lower', { cpuMax: ['400000 100000', '100000 100000'], available: 8 }, 1, 'quota'],
    ['cpuset below the quota', { cpuMax: ['400000 100000'], cpusetEffective: '0-2', available: 8 }, 3, 'cpuset'],
    ['affinity below both', { cpuMax: ['800000 100000'], cpusetEffective: '0-7', available: 2 }, 2, 'affinity'],
    ['fractional quota under one CPU', { cpuMax: ['20000 100000'], available: 4 }, 1, 'quota'],
    ['empty cpuset ignored', { cpuMax: [], cpusetEffective: '', available: 4 }, 4, 'affinity'],
    ['nonsense availability', { cpuMax: [], available: 0 }, 1, 'affinity'],
  ];
  for (const [name, inp, cpus, by] of cases) assert.deepEqual(allowedCpus(inp), { cpus, by }, name);
});

test('the flag overrides; otherwise the allowed CPUs', () => {
  const allowed = { cpus: 3, by: 'quota' as const };
  assert.equal(workerCount(undefined, allowed), 3);
  assert.equal(workerCount(1, allowed), 1);
  assert.equal(workerCount(6, allowed), 6);
  assert.equal(workerCount(0, allowed), 3);
});

test('reader walks own cgroup and ancestors through the cgroup2 mount', () => {
  const files: Record<string, string> = {
    '/proc/self/cgroup': '0::/kubepods.slice/pod1.slice/c1.scope\n',
    '/proc/self/mountinfo': MOUNTINFO,
    '/sys/fs/cgroup/kubepods.slice/pod1.slice/c1.scope/cpu.max': 'max 100000\n',
    '/sys/fs/cgroup/kubepods.slice/pod1.slice/c1.scope/cpuset.cpus.effective': '0-5\n',
    '/sys/fs/cgroup/kubepods.slice/pod1.slice/cpu.max': '250000 100000\n',
    '/sys/fs/cgroup/kubepods.slice/cpu.max': 'max 100000\n',
  };
  const read = (f: string): string | undefined => files[f];
  assert.deepEqual(readAllowedCpus(read, 16), { cpus: 2, by: 'quota' });
  assert.deepEqual(readAllowedCpus(() => undefined, 4), { cpus: 4, by: 'affinity' });
  // the real host: whatever it is, at least one and no more than Node sees
  const real = readAllowedCpus();
  assert.ok(real.cpus >= 1);
});
