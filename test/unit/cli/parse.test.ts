// The command line against the flag table: invocations, values by kind, usage errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FLAGS, flagSpec, type FlagSpec } from '../../../src/cli/flags';
import { closest, parseCommandLine } from '../../../src/cli/parse';
import { flagValue, UsageError } from '../../../src/cli/values';

test('help and version: every spelling, every command', () => {
  const cases: [string[], unknown][] = [
    [[], { kind: 'help' }],
    [['help'], { kind: 'help' }],
    [['--help'], { kind: 'help' }],
    [['-h'], { kind: 'help' }],
    [['help', 'agent'], { kind: 'help', command: 'agent' }],
    [['--help', 'stat'], { kind: 'help', command: 'stat' }],
    [['--version'], { kind: 'version' }],
    [['-v'], { kind: 'version' }],
    [['version'], { kind: 'version' }],
    // -h anywhere wins over everything else, even a bad value
    [['agent', '--access-log', 'maybe', '-h'], { kind: 'help', command: 'agent' }],
    [['check', '--help'], { kind: 'help', command: 'check' }],
  ];
  for (const cmd of ['agent', 'ca', 'check', 'uninstall', 'stat']) cases.push([[cmd, '--help'], { kind: 'help', command: cmd }], [[cmd, '-h'], { kind: 'help', command: cmd }]);
  for (const [argv, want] of cases) assert.deepEqual(parseCommandLine(argv), want, argv.join(' '));
});

test('values by kind: accepted', () => {
  const run = (argv: string[]) => {
    const inv = parseCommandLine(argv);
    assert.equal(inv.kind, 'run');
    return inv.kind === 'run' ? inv : assert.fail();
  };
  const a = run(['agent', '--config=x.yaml', '--no-capture', '--connect-timeout', '250ms', '--idle-timeout', '1m30s', '--max-services', '100', '--access-log', 'off', '--metrics-port', '9000', '--request-timeout', '0']);
  const f = a.flags;
  assert.equal(f.text('config'), 'x.yaml');
  assert.equal(f.bool('no-capture'), true);
  assert.equal(f.num('connect-timeout'), 250);
  assert.equal(f.num('idle-timeout'), 90_000);
  assert.equal(f.num('max-services'), 100);
  assert.equal(f.text('access-log'), 'off');
  assert.equal(f.num('metrics-port'), 9000);
  assert.equal(f.num('request-timeout'), 0);
  // defaults come from the table but do not count as given
  assert.equal(f.num('header-timeout'), 10_000);
  assert.equal(f.given('header-timeout'), false);
  assert.equal(f.num('max-connections'), 262144);
  assert.equal(f.text('bpffs'), '/sys/fs/bpf/nodemesh');
  // the raw view `nodemesh ca` reads is kept
  assert.deepEqual(a.args.positional, []);
  assert.equal(a.args.flags.get('config'), 'x.yaml');
  assert.equal(a.args.flags.get('no-capture'), true);
  // --bool=false is leaving it out; repeated flags: the last wins; -- ends the flags
  assert.equal(run(['agent', '--config', 'c', '--no-capture=false']).flags.bool('no-capture'), false);
  assert.equal(run(['agent', '--config', 'c', '--node', 'a', '--node', 'b']).flags.text('node'), 'b');
  assert.deepEqual(run(['check', '--', '--odd-name.yaml']).args.positional, ['--odd-name.yaml']);
  assert.equal(run(['check', 'p', '--max-backends', '7']).flags.num('max-backends'), 7);
  assert.equal(run(['ca', '--listen', '127.0.0.1:0']).flags.text('listen'), '127.0.0.1:0');
  assert.equal(run(['agent', '--delivery-address', 'none']).flags.text('delivery-address'), 'none');
  assert.equal(run(['agent', '--delivery-address', '10.0.0.1']).flags.text('delivery-address'), '10.0.0.1');
});

test('usage errors: one line naming the flag and what it takes (exit 2)', () => {
  const cases: [string[], RegExp][] = [
    [['agent', '--access-log', 'maybe'], /--access-log must be on or off, got "maybe"/],
    [['agent', '--connect-timeout', '0'], /--connect-timeout must be greater than 0/],
    [['agent', '--header-timeout', '0s'], /--header-timeout must be greater than 0/],
    [['agent', '--idle-timeout', '0'], /--idle-timeout must be greater than 0/],
    [['agent', '--connect-timeout', '500'], /a unit is required/],
    [['agent', '--connect-timeout', 'soon'], /--connect-timeout must be a duration like/],
    [['agent', '--drain-timeout', '-1s'], /--drain-timeout must be a duration/],
    [['agent', '--cert-ttl', '10ms'], /--cert-ttl must be at least 1s/],
    [['agent', '--metrics-port', '70000'], /--metrics-port must be a port number \(0-65535\)/],
    [['agent', '--outbound-port', '0'], /--outbound-port must be a port number \(1-65535\)/],
    [['agent', '--tunnel-port', '-1'], /--tunnel-port must be a port number \(0-65535\)/],
    [['agent', '--outbound-port', '15001x'], /--outbound-port must be a port number/],
    [['agent', '--max-services', '0'], /--max-services must be a whole number from 1 to 16777216/],
    [['agent', '--max-backends', '1.5'], /--max-backends must be a whole number/],
    [['agent', '--max-connections', '99999999'], /--max-connections must be a whole number from 1 to/],
    [['agent', '--max-meshed-pods', '-3'], /--max-meshed-pods must be a whole number/],
    [['agent', '--node-ip', 'localhost'], /--node-ip must be an IPv4 address/],
    [['agent', '--delivery-address', 'yes'], /--delivery-address must be auto, none or an IPv4 address/],
    [['agent', '--ca', 'ca.svc'], /--ca must be ADDR:PORT/],
    [['agent', '--no-capture=maybe'], /--no-capture must be true or false/],
    [['agent', '--config'], /--config needs a value \(PATH\)/],
    [['agent', '--config', '--no-capture'], /--config needs a value/],
    [['agent', '--config='], /--config must be a non-empty PATH/],
    [['agent', '--confg', 'x'], /unknown flag --confg for "nodemesh agent" \(did you mean --config\?\)/],
    [['agent', '--max-ttl', '1h'], /unknown flag --max-ttl for "nodemesh agent"/],
    [['stat', '--cgroup', 'x'], /unknown flag --cgroup for "nodemesh stat"/],
    [['stat', '-b'], /unknown shorthand flag "-b"/],
    [['agent', 'extra'], /unexpected argument "extra" for "nodemesh agent"/],
    [['check'], /nodemesh check needs PATH/],
    [['check', 'a', 'b'], /unexpected argument "b"/],
    [['agnet'], /unknown command "agnet" for "nodemesh" \(did you mean "agent"\?\)/],
    [['help', 'nope'], /unknown command "nope"/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(() => parseCommandLine(argv), (e: unknown) => e instanceof UsageError && re.test(e.message), argv.join(' '));
  }
  // the error knows its command, for the "See 'nodemesh agent --help'" hint
  assert.throws(() => parseCommandLine(['agent', '--access-log', 'x']), (e: unknown) => e instanceof UsageError && e.command === 'agent');
});

test('every default in the table is a valid value of its own kind', () => {
  for (const f of FLAGS) if (f.default !== undefined) assert.doesNotThrow(() => flagValue(f, f.default as string), `--${f.name}`);
});

test('one row per (flag, command); bools take no metavar, others do', () => {
  const seen = new Set<string>();
  for (const f of FLAGS) {
    for (const c of f.commands) {
      assert.ok(!seen.has(`${c} ${f.name}`), `--${f.name} twice for ${c}`);
      seen.add(`${c} ${f.name}`);
    }
    assert.equal(f.kind === 'bool', f.metavar === undefined, `--${f.name}`);
    if (f.kind === 'choice') assert.ok(f.choices?.length, `--${f.name} has no choices`);
  }
  assert.equal((flagSpec('agent', 'access-log') as FlagSpec).default, 'on');
});

test('closest: suggestions only when clearly near', () => {
  assert.equal(closest('confg', ['config', 'cgroup']), 'config');
  assert.equal(closest('max-svc', ['max-services', 'max-backends']), undefined);
  assert.equal(closest('max-serv', ['max-services', 'max-backends']), 'max-services');
  assert.equal(closest('zzz', ['agent', 'ca']), undefined);
});
