import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { CA_FLAGS, CA_USAGE, caCommand } from '../../../src/ca/main';
import { parseArgs } from '../../../src/cli';

const BOOL = new Set(['no-kubernetes']);
/** The API is "available" when a kubeconfig is named or `inPod` (as in a pod, or with $KUBECONFIG). */
const cmd = (argv: string[], inPod = false) => caCommand(parseArgs(['ca', ...argv], BOOL), (kc) => kc !== undefined || inPod);

test('ca command line with the Kubernetes API: table', () => {
  const kube = cmd(['--kubeconfig', 'kc.yaml', '--root-secret', 'nodemesh-system/nodemesh-ca-root', '--root-configmap', 'nodemesh-ca-root']);
  assert.deepEqual(kube, {
    listen: '0.0.0.0:15012',
    rootSecret: { namespace: 'nodemesh-system', name: 'nodemesh-ca-root' },
    rootConfigMap: 'nodemesh-ca-root',
    trustDomain: 'cluster.local',
    kubernetes: { kubeconfig: 'kc.yaml', tokenAudience: 'nodemesh-ca', agentServiceAccount: { namespace: 'nodemesh-system', name: 'nodemesh-agent' } },
    maxTtlSeconds: 86400,
    serverNames: [],
  });
  const inPod = cmd(['--dir', 'd', '--token-audience', 'mesh-ca', '--agent-service-account', 'mesh/agent'], true);
  assert.deepEqual(inPod.kubernetes, { kubeconfig: undefined, tokenAudience: 'mesh-ca', agentServiceAccount: { namespace: 'mesh', name: 'agent' } });
  assert.equal(inPod.dir, 'd');
  const both = cmd(['--kubeconfig', 'kc', '--dir', 'd', '--node-tokens', 't', '--config', 'c']);
  assert.equal(both.nodeTokens, 't');
  assert.equal(both.config, 'c');
  assert.ok(both.kubernetes);
  const off = cmd(['--no-kubernetes', '--dir', 'd', '--node-tokens', 't', '--config', 'c'], true);
  assert.equal(off.kubernetes, undefined, '--no-kubernetes even in a pod');

  const bad: [string[], boolean, RegExp][] = [
    [['--kubeconfig', 'kc', '--no-kubernetes', '--dir', 'd'], false, /exclude each other/],
    [['--dir', 'd', '--node-tokens', 't', '--config', 'c', '--token-audience', 'x'], false, /--token-audience needs the Kubernetes API/],
    [['--dir', 'd', '--node-tokens', 't', '--config', 'c', '--root-secret', 'a/b'], false, /--root-secret needs the Kubernetes API/],
    [['--no-kubernetes', '--dir', 'd', '--config', 'c'], true, /--node-tokens is required/],
    [['--dir', 'd', '--node-tokens', 't'], false, /--config is required/],
    [['--kubeconfig', 'kc'], false, /--dir is required, or --root-secret/],
    [['--kubeconfig', 'kc', '--dir', 'd', '--root-secret', 'a/b'], false, /--dir and --root-secret exclude each other/],
    [['--kubeconfig', 'kc', '--root-secret', 'nope'], false, /--root-secret must be NAMESPACE\/NAME/],
    [['--kubeconfig', 'kc', '--dir', 'd', '--root-configmap', 'x'], false, /--root-configmap needs --root-secret/],
    [['--kubeconfig', 'kc', '--root-secret', 'a/b', '--root-configmap', 'Bad_Name'], false, /--root-configmap must be a ConfigMap name/],
    [['--kubeconfig', 'kc', '--dir', 'd', '--agent-service-account', 'nodemesh'], false, /--agent-service-account must be NAMESPACE\/NAME/],
    [['--kubeconfig', '', '--dir', 'd'], false, /--kubeconfig must not be empty/],
  ];
  for (const [argv, inPodEnv, re] of bad) assert.throws(() => cmd(argv, inPodEnv), re, argv.join(' '));
});

test('the usage text names every flag', () => {
  for (const f of CA_FLAGS) assert.ok(CA_USAGE.includes(`--${f}`), `--${f} missing from CA_USAGE`);
});

test('loading the CA command does not load the Kubernetes client library', () => {
  // The library takes seconds to load; `nodemesh ca` without the API must not pay for it.
  const dist = join(__dirname, '../../../src');
  const script = `
    require(${JSON.stringify(join(dist, 'ca/main.js'))});
    require(${JSON.stringify(join(dist, 'ca/server.js'))});
    const loaded = Object.keys(require.cache).filter((k) => /@kubernetes|discovery[\\\\/](kubeconfig|informer|trim)\\.js|ca[\\\\/]kube(-root)?\\.js/.test(k));
    process.stdout.write(JSON.stringify(loaded));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NODEMESH_LOG_LEVEL: 'silent' } });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), []);
});
