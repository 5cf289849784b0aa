// After tsc: the published declarations are exactly those that dist/index.d.ts
// reaches. The others describe internals (the CLI, the cluster's IPC, the
// outbound queue…) that no import of the package can name, so they are removed
// rather than shipped.
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const RELATIVE_SPECIFIER = /(?:from\s+|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g;

/** The .d.ts files that `entry` reaches through relative imports and re-exports, itself included. */
export function reachableDeclarations(entry) {
  const seen = new Set();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(RELATIVE_SPECIFIER)) {
      queue.push(join(dirname(file), specifier.replace(/\.js$/, '.d.ts')));
    }
  }
  return seen;
}

function declarationsIn(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

const reachable = reachableDeclarations(join(DIST, 'index.d.ts'));
const removed = declarationsIn(DIST).filter((file) => !reachable.has(file));
for (const file of removed) rmSync(file);
process.stdout.write(`published types: ${reachable.size} declaration files (${removed.length} internal ones removed)\n`);
