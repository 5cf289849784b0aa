import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer';

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

const onPath = (name: string): string | undefined => {
  try {
    const found = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    return found && isExecutable(found) ? found : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The system browser the browser test drives (puppeteer never downloads one,
 * see .puppeteerrc.cjs). Throws, never skips: a missing browser must fail CI loudly.
 */
export function findChromium(): string {
  const fromEnv = process.env.PUPPETEER_EXECUTABLE_PATH;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`PUPPETEER_EXECUTABLE_PATH=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  if (isExecutable('/usr/bin/chromium')) return '/usr/bin/chromium';
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    const found = onPath(name);
    if (found) return found;
  }
  throw new Error(
    'No Chromium found for the browser test. Install one (Debian/Ubuntu: `apt-get install chromium`) ' +
      'or set PUPPETEER_EXECUTABLE_PATH to a Chrome/Chromium executable.',
  );
}

export interface LaunchedBrowser {
  readonly browser: Browser;
  readonly executablePath: string;
  /** Closes the browser and removes its profile directory. */
  close(): Promise<void>;
}

/** Headless Chromium with a fresh throwaway profile and no background traffic. */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<LaunchedBrowser> {
  const executablePath = findChromium();
  const userDataDir = mkdtempSync(join(tmpdir(), 'rxws-chromium-'));
  const removeProfile = () => rmSync(userDataDir, { recursive: true, force: true });
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      executablePath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
        ...extraArgs,
      ],
      userDataDir,
    });
  } catch (err) {
    removeProfile();
    throw err;
  }
  return {
    browser,
    executablePath,
    async close() {
      try {
        await browser.close();
      } finally {
        removeProfile();
      }
    },
  };
}
