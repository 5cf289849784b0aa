// The documentation stands on its own: every relative link resolves, in the
// repository and in the installed package, and nothing points at files that
// users of the package do not have (the contract the project keeps is
// docs/protocol.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { deadLinks, markdownFiles, relativeLinks } from '../support/markdown.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('the documentation', () => {
  it('finds links the way Markdown writes them (and skips URLs and anchors)', () => {
    expect(relativeLinks('[a](docs/x.md#y) [b](https://e.org) [c](#z) [d](../R.md "title") `[e](f)`')).toEqual(['docs/x.md', '../R.md', 'f']);
  });

  it('every relative link in the repository resolves', () => {
    expect(markdownFiles(ROOT)).toContain('docs/protocol.md');
    expect(deadLinks(ROOT)).toEqual([]);
  });

  it('cites nothing a user of the package does not have (the protocol is docs/protocol.md)', () => {
    const citing = markdownFiles(ROOT).filter((file) => /PROTOCOL\.md|\.\.\/shared/.test(readFileSync(join(ROOT, file), 'utf8')));
    expect(citing).toEqual([]);
  });
});
