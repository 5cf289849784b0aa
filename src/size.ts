const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/**
 * Parses a size such as `64kb`, `16mb`, `1.5mb` or `1048576` into bytes
 * (binary units: 1kb = 1024 bytes). Throws a RangeError with a readable
 * message for anything else.
 */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') {
    if (Number.isSafeInteger(text) && text >= 0) return text;
    throw new RangeError(`invalid size ${text}: expected a whole number of bytes`);
  }
  const s = text.trim().toLowerCase();
  let i = 0;
  while (i < s.length && ((s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) || s[i] === '.')) i++;
  const number = s.slice(0, i);
  const unit = s.slice(i).trim();
  const factor = UNITS[unit];
  const value = Number(number);
  if (number === '' || !Number.isFinite(value) || factor === undefined) {
    throw new RangeError(`invalid size "${text}": expected bytes or a number with kb, mb or gb (e.g. 64kb, 16mb)`);
  }
  const bytes = Math.floor(value * factor);
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`invalid size "${text}": too large`);
  return bytes;
}
