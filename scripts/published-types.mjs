// After tsc: the published declarations are exactly those that the entry
// points' declarations (dist/index.d.ts, dist/client/index.d.ts) reach. The others describe internals (the CLI, the cluster's IPC, the
// outbound queue…) that no import of the package can name, so they are removed
// rather than shipped. Each one kept gets a CommonJS twin (.d.cts, its
// imports pointing at .cjs twins) for the package's `require` condition:
// TypeScript then types `require('@rxws/server')` from CommonJS under node16 and
// nodenext (TS1479 otherwise), while Node ≥ 20.19 loads the same ES module
// (require(esm)), so there is one copy of every class at run time.
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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

function filesIn(dir, suffix) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => join(entry.parentPath, entry.name));
}

// The package's entry points with types (package.json "exports"): the server's and the client's.
const ENTRIES = ['index.d.ts', 'client/index.d.ts'];
const reachable = new Set(ENTRIES.flatMap((entry) => [...reachableDeclarations(join(DIST, entry))]));
const removed = filesIn(DIST, '.d.ts').filter((file) => !reachable.has(file));
for (const file of [...removed, ...filesIn(DIST, '.d.cts')]) rmSync(file);
for (const file of reachable) {
  const text = readFileSync(file, 'utf8').replace(RELATIVE_SPECIFIER, (match, specifier) => match.replace(specifier, specifier.replace(/\.js$/, '.cjs')));
  writeFileSync(file.replace(/\.d\.ts$/, '.d.cts'), text);
}
process.stdout.write(`published types: ${reachable.size} declaration files (${removed.length} internal ones removed)\n`);
