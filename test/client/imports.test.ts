// The client runs in browsers: its built module graph may import rxjs and its
// own files, nothing of Node (no `node:` module, no bare `events`, `buffer`, …).
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const ENTRY = join(DIST, 'client/index.js');

/** Every specifier that `file` imports or re-exports, statically or dynamically. */
export function importsOf(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/(?:^|[;\s])(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm)) {
    found.push((m[1] ?? m[2] ?? m[3])!);
  }
  return found;
}

/** Walks the relative imports from `entry`: the files reached and the bare specifiers they name. */
function moduleGraph(entry: string): { files: string[]; bare: Set<string> } {
  const files: string[] = [];
  const bare = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.includes(file)) continue;
    files.push(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) pending.push(join(dirname(file), spec));
      else bare.add(spec);
    }
  }
  return { files: files.map((f) => relative(DIST, f)), bare };
}

describe('the built client (dist/client)', () => {
  it('imports only rxjs and files of its own folder', () => {
    const { files, bare } = moduleGraph(ENTRY);
    expect([...bare].filter((spec) => spec !== 'rxjs')).toEqual([]);
    expect(files.filter((f) => !f.startsWith('client/'))).toEqual([]);
    expect(files).toContain('client/client.js');
  });

  it('the import scan sees node: imports, re-exports and dynamic imports', () => {
    expect(importsOf("import { once } from 'node:events';\nexport * from './a.js';\nconst x = await import('node:fs');\nimport 'buffer';")).toEqual([
      'node:events',
      './a.js',
      'node:fs',
      'buffer',
    ]);
  });
});
