// `nodemesh --version`: the version of the package this file was installed with, read at run time from
// the nearest package.json named nodemesh above it (dist/src/ in a checkout and in the image alike).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The directories from START up to the root, nearest first. Pure. */
export function ancestors(start: string): string[] {
  const out: string[] = [];
  for (let d = path.resolve(start); ; d = path.dirname(d)) {
    out.push(d);
    if (path.dirname(d) === d) return out;
  }
}

/** The version in the first package.json named "nodemesh" at or above START; undefined if none. */
export function packageVersion(start: string = __dirname, read: (file: string) => string | undefined = readOrUndefined): string | undefined {
  for (const dir of ancestors(start)) {
    const text = read(path.join(dir, 'package.json'));
    if (text === undefined) continue;
    try {
      const pkg = JSON.parse(text) as { name?: unknown; version?: unknown };
      if (pkg.name === 'nodemesh' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not ours (or not JSON): keep looking upwards
    }
  }
  return undefined;
}

function readOrUndefined(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
