// Shared by the config tests: load YAML text without touching the disk, and find the fixtures.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { buildConfig, type LoadResult } from '../../../src/config/load';
import type { MeshConfig } from '../../../src/config/model';

/** Loads FILES (name → text) as if they were the entries of a config directory. */
export function loadTexts(files: Record<string, string>): LoadResult {
  const sources = Object.entries(files).map(([name, content]) => ({ path: name, name, content }));
  return buildConfig({ files: sources, issues: [], warnings: [] });
}

export function loadText(text: string, name = 'mesh.yaml'): LoadResult {
  return loadTexts({ [name]: text });
}

export function mustLoad(text: string): MeshConfig {
  const r = loadText(text);
  if (!r.ok) throw new Error(`expected a valid config, got:\n${r.issues.map((i) => `${i.field}: ${i.message}`).join('\n')}`);
  return r.config;
}

/** YAML documents from objects, joined with `---`. */
export function docs(...objects: unknown[]): string {
  return objects.map((o) => stringify(o)).join('---\n');
}

export function serviceEntry(name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name, ...meta }, spec };
}

export function workloadEntry(name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name, ...meta }, spec };
}

/** A valid ServiceEntry spec to start from. */
export function echoSpec(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    hosts: ['echo.default.svc.cluster.local'],
    addresses: ['127.0.10.1'],
    ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 18080 }],
    resolution: 'STATIC',
    endpoints: [{ address: '127.0.0.2' }],
    ...over,
  };
}

/**
 * test/fixtures/NAME: found from the compiled test's directory upwards (the fixtures are not compiled),
 * else from the working directory.
 */
export function fixture(name: string): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'test', 'fixtures', name);
    if (existsSync(candidate)) return candidate;
  }
  return resolve('test', 'fixtures', name);
}
