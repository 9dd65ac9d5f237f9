// What the main thread loads with its entry (src/main.js and the Agent it imports, before any lazy
// import): it owns config, discovery, maps, certificates, admin and metrics, and proxies nothing, so the
// proxy path, the eBPF datapath (loaded with capture), prom-client's index and the TLS, HTTPS and zlib
// built-ins stay out of it. A fresh node process, so the test runner's own modules do not count.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';

function loaded(): { files: string[]; builtins: string[] } {
  const main = path.resolve(__dirname, '../../src/main.js');
  const script = `require(${JSON.stringify(main)});
    process.stdout.write(JSON.stringify({ files: Object.keys(require.cache), builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)) }));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NODE_ENV: 'test' } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { files: string[]; builtins: string[] };
}

describe("the main thread's modules", () => {
  const { files, builtins } = loaded();
  const own = files.map((f) => f.replace(/\\/g, '/')).filter((f) => !f.includes('/node_modules/'));

  const absent: [string, RegExp][] = [
    ['the downstream listeners', /\/src\/downstream\//],
    ['the proxy engine', /\/src\/proxy\//],
    ['upstream pools and dialing', /\/src\/upstream\/(?!credentials\.js)/],
    ['the codecs', /\/src\/codec\//],
    ['connections', /\/src\/conn\//],
    ['load balancing', /\/src\/balance\//],
    ['the tunnel', /\/src\/tunnel\//],
    ['the data plane', /\/src\/(dataplane|meshplane|worker)\.js$/],
    ['the access log and tracing', /\/src\/telemetry\/(accesslog|tracing|spans|otlp|exporter)\.js$/],
    ['the eBPF datapath', /\/src\/capture\/(bpf|listeners|meshed|names|mapsync|plan)\.js$/],
    ['the config check command', /\/src\/config\/check\.js$/],
  ];
  for (const [what, re] of absent) {
    it(`leaves out ${what}`, () => {
      assert.deepEqual(own.filter((f) => re.test(f)), []);
    });
  }

  it("leaves out prom-client's index and @opentelemetry/api", () => {
    assert.deepEqual(files.filter((f) => /prom-client[\\/]index\.js$/.test(f) || f.includes('@opentelemetry')), []);
  });

  it('leaves out the tls, https, http2 and zlib built-ins', () => {
    assert.deepEqual(builtins.filter((b) => ['tls', 'https', 'http2', 'zlib'].includes(b)), []);
  });
});
