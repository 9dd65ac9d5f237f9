// A config that could not be read is counted on its own: the reload gauge says nothing about it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { NodeMetrics } from '../../../src/telemetry/node';

test('nodemesh_config_read_errors_total counts by errno and leaves the reload gauge alone', async () => {
  const registry = new Registry();
  const m = new NodeMetrics(registry, { datapath: () => undefined, serviceById: () => undefined });
  m.reloaded(true);
  m.configReadFailed('EMFILE');
  m.configReadFailed('EMFILE');
  m.configReadFailed(undefined);
  const text = await registry.metrics();
  assert.match(text, /^nodemesh_config_read_errors_total\{error="EMFILE"\} 2$/m);
  assert.match(text, /^nodemesh_config_read_errors_total\{error="unknown"\} 1$/m);
  assert.match(text, /^nodemesh_config_last_reload_successful 1$/m);
  assert.match(text, /^nodemesh_config_reloads_total\{result="applied"\} 1$/m);
});
