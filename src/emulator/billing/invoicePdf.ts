import PDFDocument from 'pdfkit';
import type { InvoiceDocument } from './invoicePages';

/**
 * The invoice as a PDF, with what the hosted page shows. pdfkit's built-in fonts (the PDF standard
 * fonts, whose metrics ship with it) need no font files and no network.
 */
export function invoicePdf(doc: InvoiceDocument): Promise<Buffer> {
  const pdf = new PDFDocument({
    size: 'A4',
    margin: 50,
    displayTitle: true,
    info: { Title: `Invoice ${doc.number}`, Author: doc.account },
  });
  const done = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    pdf.on('data', (c: Buffer) => chunks.push(c));
    pdf.on('end', () => resolve(Buffer.concat(chunks)));
    pdf.on('error', reject);
  });
  header(pdf, doc);
  lines(pdf, doc);
  totals(pdf, doc);
  pdf.end();
  return done;
}

const LEFT = 50;
const WIDTH = 495;

function header(pdf: PDFKit.PDFDocument, doc: InvoiceDocument): void {
  pdf.font('Helvetica-Bold').fontSize(20).text('Invoice', LEFT, 50);
  pdf.font('Helvetica').fontSize(10).moveDown(0.5);
  pdf.text(`Invoice number ${doc.number}`);
  pdf.text(`Status ${doc.status}`);
  if (doc.issued) pdf.text(`Date of issue ${doc.issued}`);
  if (doc.paid) pdf.text(`Paid on ${doc.paid}`);
  pdf.moveDown();
  pdf.font('Helvetica-Bold').text(doc.account);
  pdf.moveDown(0.5);
  pdf.font('Helvetica-Bold').text('Bill to');
  pdf.font('Helvetica');
  if (doc.customerName) pdf.text(doc.customerName);
  if (doc.customerEmail) pdf.text(doc.customerEmail);
  pdf.moveDown(1.5);
}

/** Columns: description (with its period below), quantity, amount. */
function row(pdf: PDFKit.PDFDocument, cells: [string, string, string], bold = false): void {
  const y = pdf.y;
  pdf.font(bold ? 'Helvetica-Bold' : 'Helvetica');
  pdf.text(cells[0], LEFT, y, { width: 330 });
  const after = pdf.y;
  pdf.text(cells[1], LEFT + 340, y, { width: 50, align: 'right' });
  pdf.text(cells[2], LEFT + 395, y, { width: WIDTH - 395, align: 'right' });
  pdf.x = LEFT;
  pdf.y = Math.max(after, pdf.y);
}

function lines(pdf: PDFKit.PDFDocument, doc: InvoiceDocument): void {
  row(pdf, ['Description', 'Qty', 'Amount'], true);
  pdf.moveDown(0.3);
  for (const line of doc.lines) {
    row(pdf, [line.description, String(line.quantity), line.amount]);
    pdf.font('Helvetica').fontSize(8).fillColor('#555555').text(line.period, LEFT, pdf.y, { width: 330 });
    pdf.fontSize(10).fillColor('#000000').moveDown(0.5);
  }
  pdf.moveDown();
}

function totals(pdf: PDFKit.PDFDocument, doc: InvoiceDocument): void {
  const rows: Array<[string, string]> = [
    ['Subtotal', doc.subtotal],
    ['Total', doc.total],
    ['Amount due', doc.amountDue],
    ['Amount paid', doc.amountPaid],
    ['Amount remaining', doc.amountRemaining],
  ];
  for (const [label, amount] of rows) row(pdf, [label, '', amount], label === 'Total' || label === 'Amount remaining');
}
