import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';

export interface SelfSigned {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Where the PEM files are (for the command's --tls-cert / --tls-key). */
  readonly certFile: string;
  readonly keyFile: string;
  readonly dir: string;
  /** Removes the files. */
  remove(): void;
}

/**
 * A fresh self-signed certificate for 127.0.0.1 / localhost, made with the
 * `openssl` command (Node has no X.509 builder). Throws, never skips, if openssl is missing.
 */
export function selfSigned(): SelfSigned {
  const dir = mkdtempSync(join(tmpdir(), 'rxws-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const e = err as NodeJS.ErrnoException;
    throw new Error(e.code === 'ENOENT' ? 'The TLS tests need the `openssl` command (Debian: apt-get install openssl).' : `openssl failed: ${e.message}`);
  }
  return {
    cert: readFileSync(certFile),
    key: readFileSync(keyFile),
    certFile,
    keyFile,
    dir,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** An undici dispatcher that trusts exactly this certificate. */
export function trusting(cert: Buffer): Agent {
  return new Agent({ connect: { ca: cert } });
}
