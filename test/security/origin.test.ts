/**
 * `allowOrigin` matching: Mercury's forms, whole parts only, never substrings.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OriginPolicy } from '@rt/server';

const ORIGIN = 'http://www.example.com:3000';

/** [rule, origin, admitted] */
const CASES: [string | string[], string | undefined, boolean][] = [
  // Mercury's four forms, each admitting the same origin.
  ['example.com', ORIGIN, true],
  ['*.example.com', ORIGIN, true],
  ['*://www.example.com', ORIGIN, true],
  ['http://www.example.com:*', ORIGIN, true],
  // A bare host: itself and its subdomains, any scheme and port.
  ['example.com', 'https://example.com', true],
  ['example.com', 'http://a.b.example.com:8080', true],
  ['example.com', 'http://EXAMPLE.com', true],
  // ...never a substring, a suffix without a dot, or the host as a prefix.
  ['example.com', 'http://notexample.com', false],
  ['example.com', 'http://example.com.evil.net', false],
  ['example.com', 'http://www.example.com.evil.net:3000', false],
  ['example.com', 'http://example.co', false],
  ['example.com', 'http://evil.net', false],
  ['example.com', 'http://example.com@evil.net', false],
  ['example.com', 'http://evil.net/example.com', false],
  ['example.com', 'http://evil.net?example.com', false],
  ['example.com', 'http://example.com.', false],
  ['example.com', 'null', false],
  ['example.com', '', false],
  ['example.com', undefined, false],
  // `*.host`: subdomains only.
  ['*.example.com', 'http://example.com', false],
  ['*.example.com', 'https://deep.www.example.com', true],
  ['*.example.com', 'http://wwwexample.com', false],
  ['*.example.com', 'http://www.example.com.evil.net', false],
  // A scheme or a port pins the host exactly.
  ['*://www.example.com', 'http://example.com', false],
  ['*://www.example.com', 'http://a.www.example.com', false],
  ['*://www.example.com', 'ws://www.example.com', true],
  ['http://www.example.com:*', 'https://www.example.com:3000', false],
  ['http://www.example.com:*', 'http://www.example.com', true],
  ['https://app.example.com', 'https://app.example.com:8443', true],
  ['https://app.example.com', 'http://app.example.com', false],
  // An explicit port; default ports count.
  ['https://app.example.com:8443', 'https://app.example.com:8443', true],
  ['https://app.example.com:8443', 'https://app.example.com', false],
  ['https://app.example.com:443', 'https://app.example.com', true],
  ['http://localhost:3000', 'http://localhost:3000', true],
  ['http://localhost:3000', 'http://localhost:30001', false],
  ['http://localhost:3000', 'http://localhost:300', false],
  // IP addresses have no subdomains.
  ['127.0.0.1', 'http://127.0.0.1:5173', true],
  ['127.0.0.1', 'http://1.127.0.0.1', false],
  ['http://[::1]:*', 'http://[::1]:4000', true],
  // `*` admits anything, even no Origin; a list admits what any entry admits.
  ['*', 'http://anything.test:1', true],
  ['*', undefined, true],
  [['a.com', 'b.com'], 'https://x.b.com', true],
  [['a.com', 'b.com'], 'https://c.com', false],
  ['a.com, http://localhost:*', 'http://localhost:5173', true],
];

describe('allowOrigin matching', () => {
  for (const [rule, origin, admitted] of CASES) {
    it(`${JSON.stringify(rule)} ${admitted ? 'admits' : 'refuses'} ${JSON.stringify(origin)}`, () => {
      assert.equal(new OriginPolicy(rule).allows(origin), admitted);
    });
  }

  it('refuses malformed rules with an error naming them', () => {
    for (const bad of ['http://', 'exa$mple.com', 'http://a.com:99999', 'http://a.com/path', '*.', '', 'a..com']) {
      assert.throws(() => new OriginPolicy(bad), TypeError, bad);
    }
  });
});
