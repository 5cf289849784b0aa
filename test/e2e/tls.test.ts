// `rxws --tls-cert FILE --tls-key FILE` (PROTOCOL.md "TLS"): wss:// and
// https:// on the one port, with a self-signed certificate made for the test;
// driven by undici's WebSocket (Node 20 has no global WebSocket) and by Chromium.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/chromium.js';
import { CLI, type RunningServer, startServer } from '../support/server.js';
import { type SelfSigned, selfSigned, trusting } from '../support/tls.js';

let cert: SelfSigned;
let server: RunningServer;
beforeAll(async () => {
  cert = selfSigned();
  server = await startServer(['--tls-cert', cert.certFile, '--tls-key', cert.keyFile]);
});
afterAll(async () => {
  await server?.stop();
  cert?.remove();
});

describe('rxws --tls-cert --tls-key', () => {
  it('prints listening on wss://HOST:PORT', () => {
    expect(server.stdout()).toMatch(/^listening on wss:\/\/127\.0\.0\.1:\d+\n$/);
  });

  it('serves wss:// (relay welcome) to a WebSocket client that trusts the certificate', async () => {
    const welcome = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`wss://localhost:${server.port}/`, { dispatcher: trusting(cert.cert) });
      ws.onmessage = (e) => {
        resolve(String(e.data));
        ws.close();
      };
      ws.onerror = () => reject(new Error('wss connection failed'));
    });
    expect(JSON.parse(welcome)).toMatchObject({ type: 'welcome' });
  });

  it('serves https:// for /healthz', async () => {
    const res = await fetch(`https://localhost:${server.port}/healthz`, { dispatcher: trusting(cert.cert) } as RequestInit);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
  });

  it('works from Chromium: the demo page over https and its WebSocket over wss', async () => {
    const chrome = await launchChromium(['--ignore-certificate-errors']);
    try {
      const page = await chrome.browser.newPage();
      const res = await page.goto(`https://127.0.0.1:${server.port}/`);
      expect(res?.status()).toBe(200);
      // A string, not a function: the test module's own WebSocket import must not leak into the page.
      const welcome = (await page.evaluate(`new Promise((resolve, reject) => {
        const ws = new WebSocket('wss://127.0.0.1:${server.port}/');
        ws.onmessage = (e) => resolve(String(e.data));
        ws.onerror = () => reject(new Error('wss failed in the browser'));
      })`)) as string;
      expect(JSON.parse(welcome)).toMatchObject({ type: 'welcome' });
    } finally {
      await chrome.close();
    }
  });
});

describe('bad TLS flags: one line on stderr, exit 2', () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const proc = spawn(process.execPath, [CLI, '--port', '0', '--host', '127.0.0.1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      proc.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });

  it.each<[string, () => string[]]>([
    ['--tls-cert without --tls-key', () => ['--tls-cert', cert.certFile]],
    ['--tls-key without --tls-cert', () => ['--tls-key', cert.keyFile]],
    ['an unreadable certificate file', () => ['--tls-cert', join(cert.dir, 'missing.pem'), '--tls-key', cert.keyFile]],
    ['a file that is not a certificate', () => {
      const junk = join(cert.dir, 'junk.pem');
      writeFileSync(junk, 'not a certificate\n');
      return ['--tls-cert', junk, '--tls-key', cert.keyFile];
    }],
    ['a key that does not match the certificate', () => {
      const other = selfSigned();
      try {
        const key = join(cert.dir, 'other-key.pem');
        writeFileSync(key, other.key);
        return ['--tls-cert', cert.certFile, '--tls-key', key];
      } finally {
        other.remove();
      }
    }],
  ])('%s', async (_, args) => {
    const r = await run(args());
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n').filter((l) => l !== '')).toHaveLength(1);
  });
});
