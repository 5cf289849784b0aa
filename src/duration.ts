const UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as `30s`, `10m`, `1h`, `1.5s`, `250ms` or `5000`
 * (milliseconds) into ms. Throws a RangeError with a readable message for
 * anything else, zero and negative values included.
 */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(text.trim());
  const ms = match === null ? NaN : Number(match[1]) * UNITS[(match[2] ?? '').toLowerCase()]!;
  if (!(ms >= 1) || !Number.isSafeInteger(Math.round(ms))) {
    throw new RangeError(`invalid duration "${text}": expected a positive number of ms, or one with s, m or h (e.g. 30s, 10m, 1h)`);
  }
  return Math.round(ms);
}
