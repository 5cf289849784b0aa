#!/usr/bin/env node
// `npm run bench`: rxws side by side with the `ws`-based reference server, on the
// shared load generator (../shared/bench: same client, interleaved rounds,
// every delivery checked). Extra arguments go to the shared runner, e.g.
//   npm run bench -- --scenario echo --rounds 1
// Default: every scenario, quick durations, 3 rounds, rxws as A and @ws as B.
// With --deflate (`npm run bench:deflate`): both in deflate mode, @ws-deflate as
// B, and the issue-12 cases unless given otherwise: echo 1 KiB and 64 KiB,
// fanout S=1000, connect N=10000 (RSS per idle connection after one exchange);
// every scenario also reports wire bytes per delivered message.
// With --storm (`npm run bench:storm`): a reconnect storm, 10,000 clients opening at
// once (connect N=10000, all 10,000 handshakes in flight), against @uws unless --b
// says otherwise; the time to serve it is N / handshakes/s.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const shared = resolve(root, process.env.RXWS_SHARED ?? '../shared');
const runner = join(shared, 'bench', 'run.mjs');
if (!existsSync(runner)) {
  console.error(`bench: the shared load generator is missing (${runner}); set RXWS_SHARED to the shared/ folder`);
  process.exit(2);
}
// The reference server needs `ws`, installed in shared/ (never in this package).
if (!existsSync(join(shared, 'node_modules', 'ws'))) {
  console.error('bench: installing the reference server\'s dependencies in', shared);
  execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: shared, stdio: 'inherit' });
}
if (!existsSync(join(root, 'dist', 'cli.js'))) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });

const extra = process.argv.slice(2);
const has = (flag) => extra.includes(flag);
const deflate = has('--deflate');
const storm = has('--storm');
const stormDefaults = storm
  ? [
      ...(has('--connect-n') ? [] : ['--connect-n', '10000']),
      ...(has('--connect-conc') ? [] : ['--connect-conc', '10000']),
    ]
  : [];
const deflateDefaults = deflate
  ? [
      ...(has('--sizes') ? [] : ['--sizes', '1024,65536']),
      ...(has('--subs') ? [] : ['--subs', '1000']),
      ...(has('--connect-n') ? [] : ['--connect-n', '10000']),
    ]
  : [];
const args = [
  runner,
  '--a', `node ${join(root, 'dist', 'cli.js')} --host 127.0.0.1`,
  '--a-name', 'rxws',
  ...(has('--b') ? [] : ['--b', deflate ? '@ws-deflate' : storm ? '@uws' : '@ws']),
  ...(has('--scenario') ? [] : ['--scenario', deflate ? 'echo,fanout,connect' : storm ? 'connect' : 'all']),
  ...deflateDefaults,
  ...stormDefaults,
  ...(has('--quick') || has('--full') ? [] : ['--quick']),
  ...extra.filter((a) => a !== '--full' && a !== '--storm'),
];
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
