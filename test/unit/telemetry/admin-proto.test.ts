// The admin API's schema: the descriptor the agent loads is the .proto file users read (grpcurl).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { adminDefinition, CONFIG_SERVICE, DESCRIPTOR, STATS_SERVICE } from '../../../src/telemetry/admin-proto';

const ROOT = path.resolve(__dirname, '../../../..');

test('src/telemetry/admin-proto.ts describes proto/nodemesh/admin/v1/admin.proto exactly', () => {
  const fromFile = new protobuf.Root().loadSync(path.join(ROOT, 'proto/nodemesh/admin/v1/admin.proto'), { keepCase: true }).toJSON();
  const fromCode = protobuf.Root.fromJSON(DESCRIPTOR as protobuf.INamespace).toJSON();
  // The file's options (syntax) are not part of the descriptor.
  const strip = (j: unknown): unknown => JSON.parse(JSON.stringify(j, (k, v: unknown) => (k === 'options' || k === 'comment' ? undefined : v)));
  assert.deepEqual(strip(fromCode), strip(fromFile));
});

test('both services load, with their methods', () => {
  const def = adminDefinition();
  assert.deepEqual(Object.keys(def[STATS_SERVICE] as object), ['Snapshot']);
  assert.deepEqual(Object.keys(def[CONFIG_SERVICE] as object).sort(), ['Certificates', 'Policies', 'Services', 'Workloads']);
});
