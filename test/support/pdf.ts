import { inflateSync } from 'node:zlib';

/**
 * Just enough PDF reading to check a document the emulator made: its structure (the cross-reference
 * table points at the objects it names) and the text its pages draw. Text drawn with the standard fonts
 * is WinAnsi-encoded hex strings in TJ arrays (pdfkit), in Flate-compressed content streams.
 */

/** Throws unless the file is a PDF whose `startxref` leads to an xref table whose entries point at their objects. */
export function checkPdfStructure(pdf: Buffer): void {
  const text = pdf.toString('latin1');
  if (!text.startsWith('%PDF-')) throw new Error(`not a PDF: starts with ${JSON.stringify(text.slice(0, 8))}`);
  if (!text.trimEnd().endsWith('%%EOF')) throw new Error('no %%EOF at the end');
  const start = Number(/startxref\s+(\d+)\s+%%EOF\s*$/.exec(text)?.[1]);
  if (!text.startsWith('xref', start)) throw new Error(`startxref ${start} does not point at an xref table`);
  const table = /^xref\s+(\d+)\s+(\d+)\s+/.exec(text.slice(start));
  if (!table) throw new Error('unreadable xref table');
  const [first, count] = [Number(table[1]), Number(table[2])];
  const entries = text
    .slice(start + table[0].length)
    .split(/\r?\n/)
    .slice(0, count);
  entries.forEach((entry, i) => {
    const [offset, , kind] = entry.trim().split(/\s+/);
    if (kind !== 'n') return;
    const number = first + i;
    if (!text.startsWith(`${number} 0 obj`, Number(offset))) throw new Error(`xref entry ${number} does not point at object ${number}`);
  });
}

/**
 * The standard fonts' WinAnsiEncoding is Latin-1 but for 0x80-0x9F (Windows-1252), which Node's decoders
 * leave as control characters: the ones an invoice uses are mapped here.
 */
const WIN_ANSI_HIGH: Record<number, string> = { 0x80: '€', 0x91: '‘', 0x92: '’', 0x93: '“', 0x94: '”', 0x95: '•', 0x96: '–', 0x97: '—' };
const winAnsi = (bytes: Buffer) => [...bytes].map((b) => WIN_ANSI_HIGH[b] ?? String.fromCharCode(b)).join('');

/** The text lines the pages draw (one per BT ... ET block), in drawing order. */
export function pdfTextLines(pdf: Buffer): string[] {
  const text = pdf.toString('latin1');
  const lines: string[] = [];
  for (const m of text.matchAll(/stream\r?\n([\s\S]*?)\r?\nendstream/g)) {
    let content: string;
    try {
      content = inflateSync(Buffer.from(m[1], 'latin1')).toString('latin1');
    } catch {
      continue; // not a Flate stream (e.g. font data)
    }
    for (const block of content.matchAll(/BT([\s\S]*?)ET/g)) {
      const hex = [...block[1].matchAll(/<([0-9a-fA-F]*)>/g)].map((h) => h[1]).join('');
      if (hex) lines.push(winAnsi(Buffer.from(hex, 'hex')));
    }
  }
  return lines;
}
