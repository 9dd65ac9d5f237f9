// Writes deploy/dashboards/*.json from the definitions in this directory:
//   node dist/scripts/dashboards/build.js        (after tsc; a unit test fails while the files differ)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agent } from './agent';
import { mesh } from './mesh';
import { service } from './service';
import { workload } from './workload';

/** File name → dashboard JSON, as deploy/dashboards/ holds them. */
export const DASHBOARDS: Readonly<Record<string, object>> = {
  'nodemesh-mesh.json': mesh,
  'nodemesh-service.json': service,
  'nodemesh-workload.json': workload,
  'nodemesh-agent.json': agent,
};

/** The text of a dashboard file: two-space JSON and a final newline. */
export const render = (d: object): string => `${JSON.stringify(d, null, 2)}\n`;

function repoRoot(): string {
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'deploy/base/kustomization.yaml'))) return d;
  }
  throw new Error('no checkout above this script (deploy/base/kustomization.yaml not found)');
}

if (require.main === module) {
  const dir = path.join(repoRoot(), 'deploy/dashboards');
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, d] of Object.entries(DASHBOARDS)) {
    fs.writeFileSync(path.join(dir, file), render(d));
    console.log(`deploy/dashboards/${file}`);
  }
}
