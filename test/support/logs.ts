import { Writable } from 'node:stream';

/** A stream to hand to createLogger / startTestServer({ logStream }) and read back what was logged. */
export function captureLogs() {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return {
    stream,
    text: () => text,
    lines: (): Array<{ level: number; msg: string; [k: string]: unknown }> =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}
