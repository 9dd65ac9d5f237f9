// A pod-side DNS client for e2e tests: resolves NAME with Node's resolver (c-ares) at RESOLVER:53, as a
// pod's libc would, then, with --get, makes an HTTP request to the first address; with --tcp it asks
// over TCP (one framed query). Prints JSON.
import { Resolver } from 'node:dns/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import { Framer, frame } from '../../../src/dns/tcp';
import { TYPE_A, buildQuery, parseAnswerA } from '../../../src/dns/wire';

async function overTcp(resolver: string, name: string): Promise<void> {
  const answer = await new Promise<Buffer | undefined>((resolve) => {
    const s = net.connect({ host: resolver, port: 53 }, () => s.write(frame(buildQuery(77, name, TYPE_A))));
    const f = new Framer();
    s.setTimeout(3000, () => (s.destroy(), resolve(undefined)));
    s.on('data', (d: Buffer) => {
      const m = f.push(d)[0];
      if (m !== undefined) (s.destroy(), resolve(m));
    });
    s.on('error', () => resolve(undefined));
  });
  const a = answer && parseAnswerA(answer);
  process.stdout.write(`${JSON.stringify(a ? { addresses: a.addresses, rcode: a.rcode } : { error: 'no answer over TCP' })}\n`);
}

async function main(): Promise<void> {
  const [resolver = '', name = '', get] = process.argv.slice(2);
  if (get === '--tcp') return overTcp(resolver, name);
  const r = new Resolver({ timeout: 1500, tries: 1 });
  r.setServers([resolver]);
  let addresses: string[];
  try {
    addresses = await r.resolve4(name);
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ error: (e as { code?: string }).code ?? String(e) })}\n`);
    return;
  }
  if (get !== '--get' || addresses[0] === undefined) {
    process.stdout.write(`${JSON.stringify({ addresses })}\n`);
    return;
  }
  const body = await new Promise<string>((resolve, reject) => {
    const req = http.get({ host: addresses[0], port: 80, path: '/', headers: { host: name }, timeout: 5000 }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => (b += d.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${b}`));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
  process.stdout.write(`${JSON.stringify({ addresses, body })}\n`);
}

void main();
