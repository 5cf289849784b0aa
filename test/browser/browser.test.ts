// A real browser against the real command: Chromium (driven by puppeteer)
// uses the demo page's own controls in relay mode, and a plain `new WebSocket`
// in echo mode. One browser for the whole file.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedBrowser, launchChromium } from '../support/chromium.js';
import { type RunningServer, startServer } from '../support/server.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const MIB = 1024 * 1024;

let chrome: LaunchedBrowser;
const pages: Page[] = [];

beforeAll(async () => {
  chrome = await launchChromium();
});
afterAll(async () => {
  await chrome?.close();
});
afterEach(async () => {
  await Promise.all(pages.splice(0).map((p) => p.close()));
});

async function newPage(): Promise<Page> {
  const page = await chrome.browser.newPage();
  pages.push(page);
  await page.setViewport({ width: 900, height: 600 });
  return page;
}

// ---------------------------------------------------------------- relay mode, through the demo page

interface LogEntry {
  kind: string;
  meta: string;
  text: string;
}

/** Opens the demo page and waits until it shows its connection id. */
async function openDemo(server: RunningServer): Promise<{ page: Page; id: string }> {
  const page = await newPage();
  const res = await page.goto(`${server.httpUrl}/`);
  expect(res?.status()).toBe(200);
  await page.waitForSelector('#status[data-state="open"]');
  await page.waitForFunction(() => /^\S+$/.test(document.getElementById('conn-id')!.textContent!) && document.getElementById('conn-id')!.textContent !== '—');
  const id = await page.$eval('#conn-id', (el) => el.textContent!);
  return { page, id };
}

/** Types into a field (replacing what is there) and presses Enter, as a keyboard user would. */
async function typeAndEnter(page: Page, selector: string, text: string): Promise<void> {
  await page.$eval(selector, (el) => ((el as HTMLInputElement).value = ''));
  await page.type(selector, text);
  await page.focus(selector);
  await page.keyboard.press('Enter');
}

const logEntries = (page: Page): Promise<LogEntry[]> =>
  page.$$eval('#log li', (lis) =>
    lis.map((li) => ({
      kind: li.className,
      meta: li.querySelector('.meta')?.textContent ?? '',
      text: li.lastChild?.textContent ?? '',
    })),
  );

// Polling on DOM mutations, not animation frames: a page that is not in front gets no frames.
/** Waits for a log line whose prefix and text are exactly these, and returns the whole log. */
async function waitForLog(page: Page, meta: string, text: string): Promise<LogEntry[]> {
  try {
    await page.waitForFunction(
      (m, t) =>
        [...document.querySelectorAll('#log li')].some((li) => li.querySelector('.meta')?.textContent === m && li.lastChild?.textContent === t),
      { polling: 'mutation', timeout: 5_000 },
      meta,
      text,
    );
  } catch (err) {
    // Say which line never came, and what the log showed instead.
    throw new Error(`log never showed ${JSON.stringify([meta, text])}; it has ${JSON.stringify(await logEntries(page))}`, { cause: err });
  }
  return logEntries(page);
}

const roomsShown = (page: Page) => page.$$eval('#rooms li', (lis) => lis.map((li) => li.textContent));

describe('the demo page in Chromium (relay mode)', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer([]);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('lets two people join a room, publish both ways, send to an id and broadcast', async () => {
    const alice = await openDemo(server);
    const bob = await openDemo(server);
    expect(alice.id).not.toBe(bob.id);

    // Join "chat" from both pages with the keyboard (Enter submits the room form).
    for (const [{ page }, members] of [[alice, 'chat (1 member)'], [bob, 'chat (2 members)']] as const) {
      await typeAndEnter(page, '#room', 'chat');
      await waitForLog(page, 'joined', members);
      expect(await roomsShown(page)).toEqual(['chat']);
    }

    // Publish both ways, multi-byte UTF-8 included.
    await typeAndEnter(alice.page, '#publish-data', 'hi bob — héllo κόσμε');
    await waitForLog(bob.page, `#chat · id ${alice.id}:`, 'hi bob — héllo κόσμε');
    await waitForLog(alice.page, '#chat · you:', 'hi bob — héllo κόσμε');
    await typeAndEnter(bob.page, '#publish-data', 'hi alice');
    await waitForLog(alice.page, `#chat · id ${bob.id}:`, 'hi alice');
    // The message box is cleared after sending, ready for the next one.
    expect(await bob.page.$eval('#publish-data', (el) => (el as HTMLInputElement).value)).toBe('');

    // Alice sends to Bob's id, read off Bob's page.
    await alice.page.type('#send-to', bob.id);
    await typeAndEnter(alice.page, '#send-data', 'just for you, bob');
    await waitForLog(bob.page, `id ${alice.id}:`, 'just for you, bob');
    await waitForLog(alice.page, 'sent', `to ${bob.id}`);

    // A broadcast from Bob reaches both pages.
    await typeAndEnter(bob.page, '#broadcast-data', 'hello everyone');
    await waitForLog(alice.page, `id ${bob.id}:`, 'hello everyone');
    await waitForLog(bob.page, 'you:', 'hello everyone');

    // Mid-conversation: the picture for the README (Alice's page, in front: a background page paints nothing).
    await alice.page.bringToFront();
    await alice.page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = `${ARTIFACTS}demo.png`;
    // Cropped to the content, so the README picture carries no empty band.
    const height = await alice.page.$eval('main', (el) => Math.ceil(el.getBoundingClientRect().bottom) + 16);
    await alice.page.screenshot({ path: shot, type: 'png', clip: { x: 0, y: 0, width: 900, height: Math.min(height, 600) } });
    mkdirSync(DOCS, { recursive: true });
    copyFileSync(shot, `${DOCS}demo.png`);

    // Markup in a message shows as text on the other page, never as elements.
    const html = '<img src=x onerror="window.pwned=1"><b>bold?</b>';
    await typeAndEnter(bob.page, '#publish-data', html);
    await waitForLog(alice.page, `#chat · id ${bob.id}:`, html);
    expect(await alice.page.$('#log img, #log b')).toBeNull();
    expect(await alice.page.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined();

    // Alice leaves by the Leave button; Bob's next publish must not reach her.
    await alice.page.click('#leave');
    await waitForLog(alice.page, 'left', 'chat (1 member remains)');
    expect(await roomsShown(alice.page)).toEqual([]);
    await typeAndEnter(bob.page, '#publish-data', 'after alice left');
    await waitForLog(bob.page, '#chat · you:', 'after alice left');
    // Bob's broadcast is processed after his publish, so once Alice has it she would have had the publish too.
    await typeAndEnter(bob.page, '#broadcast-data', 'marker');
    const aliceLog = await waitForLog(alice.page, `id ${bob.id}:`, 'marker');
    expect(aliceLog.map((e) => e.text)).not.toContain('after alice left');
  });

  it('shows the close code and reason when the server shuts down', async () => {
    const own = await startServer([]);
    try {
      const { page } = await openDemo(own);
      expect(await own.stop('SIGTERM')).toBe(0);
      await page.waitForSelector('#status[data-state="closed"]');
      expect(await page.$eval('#status', (el) => el.textContent)).toMatch(/^closed: 1001\b/);
      // The controls are disabled once there is no connection to use them on.
      expect(await page.$eval('#join', (el) => (el as HTMLButtonElement).matches(':disabled'))).toBe(true);
    } finally {
      await own.stop();
    }
  });
});

// ---------------------------------------------------------------- echo mode, with a plain `new WebSocket`

/** Opens `url` in the page, sends `text` and waits for the echo. */
function echoText(page: Page, url: string, text: string) {
  return page.evaluate(
    (u, t) =>
      new Promise<{ extensions: string; reply: unknown; isString: boolean }>((resolve, reject) => {
        const ws = new WebSocket(u);
        ws.onopen = () => ws.send(t);
        ws.onmessage = (e) => {
          resolve({ extensions: ws.extensions, reply: e.data, isString: typeof e.data === 'string' });
          ws.close(1000);
        };
        ws.onclose = (e) => reject(new Error(`closed before the echo: ${e.code}`));
      }),
    url,
    text,
  );
}

describe('Chromium WebSocket ↔ rxws --echo', () => {
  let server: RunningServer;
  let page: Page;
  beforeAll(async () => {
    server = await startServer(['--echo', '--max-message-size', '2mb']);
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeAll(async () => {
    // Any page will do; the healthz URL gives the socket a real http://127.0.0.1 origin.
    page = await chrome.browser.newPage();
    await page.goto(`${server.httpUrl}/healthz`);
  });
  afterAll(async () => {
    await page?.close();
  });

  it('round-trips multi-byte UTF-8 text as text', async () => {
    const text = 'héllo 🌍 κόσμε';
    const r = await echoText(page, server.url, text);
    expect(r.isString).toBe(true);
    expect(r.reply).toBe(text);
  });

  it('round-trips binary (ArrayBuffer) byte for byte', async () => {
    const bytes = await page.evaluate(
      (u) =>
        new Promise<{ isArrayBuffer: boolean; bytes: number[] }>((resolve, reject) => {
          const ws = new WebSocket(u);
          ws.binaryType = 'arraybuffer';
          const sent = new Uint8Array(256 + 200);
          for (let i = 0; i < sent.length; i++) sent[i] = (i * 31 + 7) & 0xff;
          ws.onopen = () => ws.send(sent.buffer);
          ws.onmessage = (e) => {
            resolve({ isArrayBuffer: e.data instanceof ArrayBuffer, bytes: Array.from(new Uint8Array(e.data as ArrayBuffer)) });
            ws.close(1000);
          };
          ws.onclose = (e) => reject(new Error(`closed before the echo: ${e.code}`));
        }),
      server.url,
    );
    expect(bytes.isArrayBuffer).toBe(true);
    expect(bytes.bytes).toEqual(Array.from({ length: 456 }, (_, i) => (i * 31 + 7) & 0xff));
  });

  it('round-trips a 1 MiB binary message and a 1 MiB text message intact', async () => {
    // The page builds the bytes from the same formula as here, so only a checksum crosses back.
    const patternByte = (i: number) => Math.imul(i ^ (i >>> 9), 2654435761) >>> 24;
    const expectedBinary = createHash('sha256')
      .update(Uint8Array.from({ length: MIB }, (_, i) => patternByte(i)))
      .digest('hex');
    const expectedText = createHash('sha256').update('é'.repeat(MIB / 2)).digest('hex');

    const r = await page.evaluate(
      (u, size) =>
        new Promise<{ binaryLength: number; binaryHash: string; textBytes: number; textHash: string }>((resolve, reject) => {
          const hex = async (data: BufferSource) =>
            Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', data)), (b) => b.toString(16).padStart(2, '0')).join('');
          const bytes = new Uint8Array(size);
          for (let i = 0; i < size; i++) bytes[i] = Math.imul(i ^ (i >>> 9), 2654435761) >>> 24;
          const text = 'é'.repeat(size / 2);
          const replies: (ArrayBuffer | string)[] = [];
          const ws = new WebSocket(u);
          ws.binaryType = 'arraybuffer';
          ws.onopen = () => {
            ws.send(bytes);
            ws.send(text);
          };
          ws.onmessage = async (e) => {
            replies.push(e.data as ArrayBuffer | string);
            if (replies.length < 2) return;
            ws.close(1000);
            const [bin, txt] = replies as [ArrayBuffer, string];
            const txtBytes = new TextEncoder().encode(txt);
            resolve({ binaryLength: bin.byteLength, binaryHash: await hex(bin), textBytes: txtBytes.length, textHash: await hex(txtBytes) });
          };
          ws.onclose = (e) => {
            if (replies.length < 2) reject(new Error(`closed before both echoes: ${e.code}`));
          };
        }),
      server.url,
      MIB,
    );
    expect(r.binaryLength).toBe(MIB);
    expect(r.binaryHash).toBe(expectedBinary);
    expect(r.textBytes).toBe(MIB);
    expect(r.textHash).toBe(expectedText);
  });

  it('offers permessage-deflate, and the server accepts no extension', async () => {
    // A recording TCP proxy in front of the server: the only way to see the raw
    // handshake exactly as Chromium wrote it and exactly as the server answered.
    const proxy = await recordingProxy(server.port);
    try {
      const r = await echoText(page, `ws://127.0.0.1:${proxy.port}/`, 'through the proxy');
      expect(r.reply).toBe('through the proxy');
      const request = proxy.requestHead();
      const response = proxy.responseHead();
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(`${ARTIFACTS}chromium-handshake.txt`, `${request}\n---\n${response}\n`);

      const offered = /^sec-websocket-extensions:[ \t]*(.*?)[ \t]*$/im.exec(request)?.[1];
      expect(offered).toBe('permessage-deflate; client_max_window_bits');
      expect(response).toMatch(/^HTTP\/1\.1 101 /);
      expect(response).not.toMatch(/^sec-websocket-extensions:/im);
      // The page agrees: nothing was negotiated (and the echo above went through uncompressed).
      expect(r.extensions).toBe('');
    } finally {
      await proxy.close();
    }
  });

  it('sees close 1009 for a message over --max-message-size', async () => {
    const small = await startServer(['--echo', '--max-message-size', '1kb']);
    try {
      const closed = await page.evaluate(
        (u) =>
          new Promise<{ code: number; echoed: number }>((resolve) => {
            let echoed = 0;
            const ws = new WebSocket(u);
            ws.onopen = () => {
              ws.send(new Uint8Array(1024)); // exactly the limit: echoed
              ws.send(new Uint8Array(1025)); // one byte over: 1009
            };
            ws.onmessage = () => echoed++;
            ws.onclose = (e) => resolve({ code: e.code, echoed });
          }),
        small.url,
      );
      expect(closed).toEqual({ code: 1009, echoed: 1 });
    } finally {
      await small.stop();
    }
  });

  it('sees close 1001 when the server gets SIGTERM', async () => {
    const doomed = await startServer(['--echo']);
    try {
      // Open first and keep the close promise on the page; then signal the server from here.
      await page.evaluate(
        (u) =>
          new Promise<void>((resolve, reject) => {
            const ws = new WebSocket(u);
            (window as unknown as { rxwsClosed: Promise<{ code: number; wasClean: boolean }> }).rxwsClosed = new Promise((done) => {
              ws.onclose = (e) => done({ code: e.code, wasClean: e.wasClean });
            });
            ws.onopen = () => resolve();
            ws.onerror = () => reject(new Error('could not connect'));
          }),
        doomed.url,
      );
      expect(await doomed.stop('SIGTERM')).toBe(0);
      const closed = await page.evaluate(() => (window as unknown as { rxwsClosed: Promise<{ code: number; wasClean: boolean }> }).rxwsClosed);
      expect(closed).toEqual({ code: 1001, wasClean: true });
    } finally {
      await doomed.stop();
    }
  });
});

/** A TCP pass-through that keeps the first HTTP head seen in each direction. */
async function recordingProxy(upstreamPort: number) {
  let request = '';
  let response = '';
  const sockets = new Set<net.Socket>();
  const headOf = (s: string) => s.slice(0, s.indexOf('\r\n\r\n') >= 0 ? s.indexOf('\r\n\r\n') : s.length);
  const proxy = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (d: Buffer) => {
      if (!request.includes('\r\n\r\n')) request += d.toString('latin1');
    });
    upstream.on('data', (d: Buffer) => {
      if (!response.includes('\r\n\r\n')) response += d.toString('latin1');
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as net.AddressInfo).port,
    requestHead: () => headOf(request),
    responseHead: () => headOf(response),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => resolve());
      }),
  };
}
