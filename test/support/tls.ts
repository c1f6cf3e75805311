import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A self-signed certificate (made with openssl) for the given DNS names and 127.0.0.1, in a folder of its own. */
export interface TestCertificate {
  key: Buffer;
  cert: Buffer;
  /** The certificate as a PEM file, to trust it (STRIPE_CA_FILE). */
  certFile: string;
  dir: string;
  remove(): void;
}

export function makeCertificate(names: string[]): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cert-'));
  const san = [...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      `/CN=${names[0] ?? '127.0.0.1'}`,
      '-addext',
      `subjectAltName=${san}`,
    ],
    { stdio: 'ignore' },
  );
  return {
    key: readFileSync(join(dir, 'key.pem')),
    cert: readFileSync(join(dir, 'cert.pem')),
    certFile: join(dir, 'cert.pem'),
    dir,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
