import assert from 'node:assert/strict';
import { test } from 'node:test';
import { page } from './greet.js';

test('escapes the name and says the uptime in words', () => {
  assert.equal(page('<b>', 120_000), '<p>Hello, &lt;b&gt;! Up for 2 minutes.</p>\n');
});
