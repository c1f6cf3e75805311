import { PassThrough } from 'node:stream';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/logger';

/** What a logger writes to a stream that says whether it is a terminal. */
function logged(format: 'auto' | 'json' | 'pretty', tty: boolean): string {
  const stream = Object.assign(new PassThrough(), { isTTY: tty });
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const logger = createLogger('info', { format, stream });
  logger.info({ port: 4000, token: 'tg_secret' }, 'server started');
  logger.flush();
  return text;
}

// ESC, which starts every colour code
const ESCAPE = String.fromCharCode(27);

describe('log format', () => {
  it('is readable lines with colours on a terminal', () => {
    const out = logged('auto', true);
    expect(out).toContain('server started');
    expect(out).toContain(ESCAPE);
    expect(out).not.toContain('{"level"');
    expect(out).not.toContain('tg_secret');
  });

  it('is JSON lines when piped, and readable lines without colours when pretty is forced', () => {
    expect(JSON.parse(logged('auto', false))).toMatchObject({ level: 30, msg: 'server started', port: 4000, token: '[redacted]' });
    const forced = logged('pretty', false);
    expect(forced).toMatch(/INFO.*server started/);
    expect(forced).toContain('port: 4000');
    expect(forced).not.toContain(ESCAPE);
    expect(forced).not.toContain('tg_secret');
    expect(JSON.parse(logged('json', true))).toMatchObject({ msg: 'server started' });
  });

  it('is chosen with LOG_FORMAT, auto by default', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@localhost/db' }).logFormat).toBe('auto');
    expect(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(() => loadConfig({ LOG_FORMAT: 'yaml' })).toThrow(/LOG_FORMAT/);
  });
});
