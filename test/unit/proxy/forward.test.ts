import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tried } from '../../../src/proxy/forward';

test('Tried: the pick input excludes every endpoint tried, with the hash key and the original destination', () => {
  const rows: { tried: string[]; hashKey?: string; want: object }[] = [
    { tried: [], want: { originalDst: '10.96.0.1' } },
    { tried: [], hashKey: 'u1', want: { hashKey: 'u1', originalDst: '10.96.0.1' } },
    { tried: ['a:80'], want: { originalDst: '10.96.0.1', exclude: new Set(['a:80']) } },
    { tried: ['a:80', 'b:80'], hashKey: 'u1', want: { hashKey: 'u1', originalDst: '10.96.0.1', exclude: new Set(['a:80', 'b:80']) } },
  ];
  for (const r of rows) {
    const t = new Tried();
    for (const k of r.tried) t.add(k);
    assert.deepEqual(t.input(r.hashKey, '10.96.0.1'), r.want, JSON.stringify(r));
  }
});
