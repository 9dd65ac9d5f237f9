// The linear-time matcher: RE2 full-match semantics over the syntax route matches use, every rejection
// with a clear message, and pathological patterns that would make a backtracking engine hang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegexError, compileRegex } from '../../../src/route/regex';

/** [pattern, input, full match expected]. */
const MATCHES: readonly [string, string, boolean][] = [
  // literals and escapes
  ['abc', 'abc', true],
  ['abc', 'abcd', false],
  ['abc', 'xabc', false],
  ['', '', true],
  ['', 'a', false],
  ['a\\.b', 'a.b', true],
  ['a\\.b', 'axb', false],
  ['\\/api\\/v1', '/api/v1', true],
  ['a\\\\b', 'a\\b', true],
  ['\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$', '*+?()[]{}|^$', true],
  ['a\\-b', 'a-b', true],
  ['\\x41\\x{42}', 'AB', true],
  ['\\101', 'A', true],
  ['\\0', '\0', true],
  ['a\\tb\\nc', 'a\tb\nc', true],
  ['\\Q.*+\\E', '.*+', true],
  ['\\Q.*+\\E', 'ab', false],
  ['x\\Qa.b', 'xa.b', true],
  // perl classes
  ['\\d+', '0123456789', true],
  ['\\d+', '12a', false],
  ['\\D+', 'abc', true],
  ['\\D', '5', false],
  ['\\w+', 'Ab_9', true],
  ['\\w', '-', false],
  ['\\W', '-', true],
  ['\\s', ' ', true],
  ['\\s', '\t', true],
  ['\\S+', 'a-b', true],
  ['\\S', ' ', false],
  // dot
  ['.', 'x', true],
  ['.', '\n', false],
  ['(?s).', '\n', true],
  ['...', 'ab', false],
  ['.', '😀', true], // one code point, not two UTF-16 units
  ['..', '😀', false],
  // classes
  ['[a-z0-9_-]+', 'foo-bar_9', true],
  ['[a-z0-9_-]+', 'Foo', false],
  ['[^/]+', 'segment', true],
  ['[^/]+', 'a/b', false],
  ['[^a]', '\n', true],
  ['[]a]+', ']a]', true],
  ['[^]a]', 'b', true],
  ['[^]a]', ']', false],
  ['[a-]', '-', true],
  ['[-a]', '-', true],
  ['[a-c-e]', '-', true],
  ['[a-c-e]', 'd', false],
  ['[\\d-z]', '-', true],
  ['[\\d-z]', 'z', true],
  ['[\\]]', ']', true],
  ['[.]', 'x', false],
  ['[[:alpha:]]+', 'abcXYZ', true],
  ['[[:digit:][:upper:]]+', '9Z', true],
  ['[[:^digit:]]', '5', false],
  ['[[:xdigit:]]+', 'deadBEEF09', true],
  ['[\\x{1F600}-\\x{1F64F}]', '😃', true],
  // anchors (redundant under full match, but legal)
  ['^/api/.*$', '/api/x', true],
  ['^abc$', 'abc', true],
  ['a$b', 'ab', false],
  ['a^b', 'ab', false],
  ['\\Aab\\z', 'ab', true],
  ['(?m)a$\\n^b', 'a\nb', true],
  ['a$\\nb', 'a\nb', false],
  ['\\bfoo\\b', 'foo', true],
  ['a\\Bb', 'ab', true],
  ['a\\bb', 'ab', false],
  ['foo\\b.*', 'foo bar', true],
  ['foo\\b.*', 'foobar', false],
  // groups and alternation
  ['(ab)+', 'ababab', true],
  ['(ab)+', 'aba', false],
  ['(?:ab|cd)*', 'abcdab', true],
  ['(?:ab|cd)*', '', true],
  ['/(users|orders)/\\d+', '/orders/42', true],
  ['/(users|orders)/\\d+', '/items/42', false],
  ['a|b|c', 'c', true],
  ['a|', '', true],
  ['|a', 'a', true],
  ['()', '', true],
  ['(?P<id>\\d+)-(?<rest>x)', '12-x', true],
  // quantifiers
  ['a*', '', true],
  ['a*', 'aaaa', true],
  ['a+', '', false],
  ['a?b', 'b', true],
  ['a?b', 'aab', false],
  ['a{3}', 'aaa', true],
  ['a{3}', 'aa', false],
  ['a{2,}', 'aaaaa', true],
  ['a{2,}', 'a', false],
  ['a{2,3}', 'aaa', true],
  ['a{2,3}', 'aaaa', false],
  ['a{0}b', 'b', true],
  ['(ab){1,2}c', 'ababc', true],
  ['x{1000}', 'x'.repeat(1000), true],
  ['a*?b', 'aaab', true],
  ['a+?', 'aa', true],
  ['a??', '', true],
  ['a{2,3}?', 'aa', true],
  ['a{', 'a{', true], // not a repeat: literal, as in RE2
  ['a{x}', 'a{x}', true],
  ['a{,2}', 'a{,2}', true],
  ['{', '{', true],
  ['(a*)*', 'aaa', true],
  ['(a*)+b', 'b', true],
  ['(|a)*', 'aa', true],
  ['^*a', 'a', true],
  // flags
  ['(?i)hello', 'HeLLo', true],
  ['(?i)[a-c]+', 'AbC', true],
  ['(?i)[^a]', 'A', false],
  ['(?i)\\w', 'Z', true],
  ['hello', 'HELLO', false],
  ['a(?i)b', 'aB', true],
  ['a(?i)b', 'AB', false],
  ['(?i:a)b', 'Ab', true],
  ['(?i:a)b', 'AB', false],
  ['((?i)a)b', 'AB', false],
  ['(?i)a(?-i)b', 'Ab', true],
  ['(?i)a(?-i)b', 'AB', false],
  ['(?i)é', 'É', true],
  ['(?s:.)', '\n', true],
  ['(?U)a+', 'aa', true],
  // realistic route patterns
  ['/api/v[0-9]+/users/[^/]+', '/api/v2/users/alice', true],
  ['/api/v[0-9]+/users/[^/]+', '/api/v2/users/alice/posts', false],
  ['.*\\.(css|js|png)', '/static/app.js', true],
  ['.*\\.(css|js|png)', '/static/app.json', false],
  ['(?i)^bearer [a-z0-9._-]+$', 'Bearer abc.DEF-1', true],
  ['/api/.*', '/api/', true],
  ['/api/.*', '/api', false],
  ['/api/.*', '/api/a\nb', false],
  ['(?s)/api/.*', '/api/a\nb', true],
  ['.*', 'anything at all', true],
];

test('full-match table: matches and non-matches', () => {
  for (const [pattern, input, want] of MATCHES) {
    assert.equal(compileRegex(pattern).test(input), want, `${JSON.stringify(pattern)} on ${JSON.stringify(input)}`);
  }
});

test('testRange matches a slice as a whole, without copying it', () => {
  const re = compileRegex('/v[0-9]+/.*');
  assert.equal(re.testRange('/v2/items?x=1', 0, 9), true);
  assert.equal(re.testRange('xx/v2/items', 2, 11), true);
  assert.equal(re.testRange('/v2/items', 1, 9), false);
  const lit = compileRegex('abc');
  assert.equal(lit.testRange('xxabcxx', 2, 5), true);
  assert.equal(lit.testRange('xxabcxx', 2, 6), false);
  const anchored = compileRegex('^a\\b');
  assert.equal(anchored.testRange('ba b', 1, 2), true, 'begin and end of text are the slice ends');
  assert.equal(anchored.source, '^a\\b');
});

test('a compiled regex is reusable and keeps no state between tests', () => {
  const re = compileRegex('(a|b)*c');
  for (let i = 0; i < 3; i++) {
    assert.equal(re.test('ababc'), true);
    assert.equal(re.test('abab'), false);
    assert.equal(re.test(''), false);
  }
});

/** [pattern, a fragment of the message]. */
const REJECTS: readonly [string, string][] = [
  ['(a)\\1', 'backreferences'],
  ['\\9', 'backreferences'],
  ['(?P<x>a)(?P=x)', 'backreferences'],
  ['\\k<x>', 'backreferences'],
  ['a(?=b)', 'lookahead'],
  ['a(?!b)', 'lookahead'],
  ['(?<=a)b', 'lookbehind'],
  ['(?<!a)b', 'lookbehind'],
  ['(?>a)', 'atomic'],
  ['a*+', 'possessive'],
  ['a++', 'possessive'],
  ['a?+', 'possessive'],
  ['a{2}+', 'possessive'],
  ['a**', 'nested repetition'],
  ['a*?*', 'nested repetition'],
  ['a{2}{3}', 'nested repetition'],
  ['*a', 'missing argument'],
  ['a|*', 'missing argument'],
  ['(+)', 'missing argument'],
  ['{2}', 'missing argument'],
  ['(?i)*', 'missing argument'],
  ['(ab', 'missing closing )'],
  ['((a)', 'missing closing )'],
  ['ab)', 'unexpected )'],
  ['a)(', 'unexpected )'],
  ['[a-z', 'missing closing ]'],
  ['[', 'missing closing ]'],
  ['[z-a]', 'invalid character class range'],
  ['[a-\\d]', 'invalid character class range'],
  ['[[:foo:]]', 'invalid character class'],
  ['a{3,2}', 'max below min'],
  ['a{1001}', 'above 1000'],
  ['a{1,1001}', 'above 1000'],
  ['(a{1000}){1000}', 'too large'],
  ['\\', 'trailing backslash'],
  ['\\q', 'invalid escape'],
  ['\\Z', 'invalid escape'],
  ['\\pL', 'Unicode character classes'],
  ['\\p{Greek}', 'Unicode character classes'],
  ['\\C', 'not supported'],
  ['\\xZZ', '\\x escape'],
  ['\\x{110000}', '\\x{...}'],
  ['[\\b]', 'invalid escape'],
  ['(?x)a', 'unsupported group syntax'],
  ['(?i-)a', 'unsupported group syntax'],
  ['(?', 'unsupported group syntax'],
];

test('rejections: RegexError with a message that names the problem', () => {
  for (const [pattern, fragment] of REJECTS) {
    assert.throws(
      () => compileRegex(pattern),
      (e: unknown) => e instanceof RegexError && e.message.includes(fragment) && e.message.includes(JSON.stringify(pattern)) && e.pattern === pattern,
      `${JSON.stringify(pattern)} should be rejected mentioning "${fragment}"`,
    );
  }
});

test('RegexError is an Error named RegexError', () => {
  try {
    compileRegex('(');
    assert.fail('expected a throw');
  } catch (e) {
    assert.ok(e instanceof Error);
    assert.equal((e as Error).name, 'RegexError');
  }
});

test('pathological patterns on 50k-character inputs complete (no backtracking)', () => {
  const as = 'a'.repeat(50_000);
  assert.equal(compileRegex('(a+)+$').test(as + '!'), false);
  assert.equal(compileRegex('(a+)+$').test(as), true);
  assert.equal(compileRegex('(a|aa)*b').test(as), false);
  assert.equal(compileRegex('(a*)*b').test(as), false);
  assert.equal(compileRegex('(x+x+)+y').test('x'.repeat(50_000)), false);
  assert.equal(compileRegex('(.*a){20}').test(as), true);
  assert.equal(compileRegex('(?i)(\\w+\\s?)*$').test('word '.repeat(10_000) + '!'), false);
  assert.equal(compileRegex('\\b(a|b)+\\b').test('ab'.repeat(25_000)), true);
});
