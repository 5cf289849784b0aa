// Chromium (puppeteer, the system browser) against `rxws --echo --deflate`:
// the browser's own permessage-deflate offer is accepted, and large text
// round-trips intact through compression both ways.
import type { Page } from 'puppeteer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedBrowser, launchChromium } from '../support/chromium.js';
import { type RunningServer, startServer } from '../support/server.js';

let chrome: LaunchedBrowser;
let server: RunningServer;
let page: Page;

beforeAll(async () => {
  [chrome, server] = await Promise.all([launchChromium(), startServer(['--echo', '--deflate'])]);
  page = await chrome.browser.newPage();
});
afterAll(async () => {
  await page?.close();
  await chrome?.close();
  await server?.stop();
});

describe('Chromium WebSocket ↔ rxws --echo --deflate', () => {
  it('negotiates permessage-deflate and echoes a large text and small messages intact', async () => {
    const r = await page.evaluate(
      (u) =>
        new Promise<{ extensions: string; sizes: number[]; intact: boolean[] }>((resolve, reject) => {
          let big = '';
          for (let i = 0; big.length < 300_000; i++) big += JSON.stringify({ seq: i, user: `u${i % 17}`, text: 'héllo wörld ✓ 🚀' });
          const sent = [big, 'small', big.slice(0, 5000), ''];
          const got: string[] = [];
          const ws = new WebSocket(u);
          ws.onopen = () => sent.forEach((m) => ws.send(m));
          ws.onmessage = (e) => {
            got.push(e.data as string);
            if (got.length === sent.length) {
              resolve({ extensions: ws.extensions, sizes: got.map((g) => g.length), intact: got.map((g, i) => g === sent[i]) });
              ws.close(1000);
            }
          };
          ws.onclose = (e) => reject(new Error(`closed early: ${e.code}`));
        }),
      server.url,
    );
    expect(r.extensions).toMatch(/^permessage-deflate\b/);
    expect(r.extensions).toContain('server_no_context_takeover');
    expect(r.intact).toEqual([true, true, true, true]);
  });

  it('a compressed message over the limit is closed with 1009 as the browser sees it', async () => {
    const small = await startServer(['--echo', '--deflate', '--max-message-size', '64kb']);
    try {
      const code = await page.evaluate(
        (u) =>
          new Promise<number>((resolve) => {
            const ws = new WebSocket(u);
            // 1 MiB of one letter compresses to ~1 KiB on the wire: only the inflated size can trip the limit.
            ws.onopen = () => ws.send('a'.repeat(1 << 20));
            ws.onclose = (e) => resolve(e.code);
          }),
        small.url,
      );
      expect(code).toBe(1009);
    } finally {
      await small.stop();
    }
  });
});
