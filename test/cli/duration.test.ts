import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/duration.js';

describe('parseDuration', () => {
  it('reads ms, s, m and h, with decimals, case-insensitively', () => {
    expect(parseDuration('5000')).toBe(5000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1.5S')).toBe(1500);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration(' 1h ')).toBe(3_600_000);
  });

  it.each(['', '0', '0s', '-5s', 'abc', '5 minutes', '1d', '0.4', '1e3', 's'])('refuses %j with a readable RangeError', (text) => {
    expect(() => parseDuration(text)).toThrow(/invalid duration/);
  });
});
