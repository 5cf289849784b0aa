// Markdown links, for the documentation checks (test/docs, test/packaging).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The Markdown files at the top of `root` and in its docs/ folder, relative to `root`. */
export function markdownFiles(root: string): string[] {
  const top = readdirSync(root).filter((f) => f.endsWith('.md'));
  const docs = existsSync(join(root, 'docs')) ? readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`) : [];
  return [...top, ...docs];
}

/** The relative link targets of a Markdown text (no scheme, no pure #anchor), without their #fragment. */
export function relativeLinks(markdown: string): string[] {
  const links: string[] = [];
  for (const [, target] of markdown.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target!) || target!.startsWith('#')) continue;
    links.push(target!.split('#')[0]!);
  }
  return links;
}

/** `[file, link]` for every relative link in `root`'s Markdown files that does not resolve. */
export function deadLinks(root: string): [string, string][] {
  const dead: [string, string][] = [];
  for (const file of markdownFiles(root)) {
    for (const link of relativeLinks(readFileSync(join(root, file), 'utf8'))) {
      if (!existsSync(join(root, dirname(file), decodeURIComponent(link)))) dead.push([file, link]);
    }
  }
  return dead;
}
