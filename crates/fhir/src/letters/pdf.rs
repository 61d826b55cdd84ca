//! A small PDF 1.4 writer for letters: A4 pages, the standard Helvetica fonts (WinAnsi encoding),
//! word wrapping by the fonts' real glyph widths, page breaks and page numbers. No dependencies and
//! no timestamps, so the same letter always gives the same bytes.

use super::{Block, Letter, long_date};

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 56.0;
const FOOTER: f32 = 36.0;

/// Helvetica and Helvetica-Bold advance widths (1/1000 em) for ASCII 32..=126 (Adobe AFM).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833,
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556,
    556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334,
    260, 334, 584,
];
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833,
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611,
    556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389,
    280, 389, 584,
];

/// A character in WinAnsiEncoding; `?` for anything the standard fonts cannot show.
fn win_ansi(c: char) -> u8 {
    match c {
        ' '..='~' => c as u8,
        '\u{a0}'..='\u{ff}' => c as u32 as u8,
        '€' => 0x80,
        '‚' => 0x82,
        '…' => 0x85,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '\t' => b' ',
        _ => b'?',
    }
}

fn glyph_width(b: u8, bold: bool) -> f32 {
    let table = if bold { &HELVETICA_BOLD } else { &HELVETICA };
    let w = match b {
        32..=126 => table[(b - 32) as usize],
        0x95 => 350,
        0x96 => 556,
        0x97 => 1000,
        0x85 => 1000,
        0x91 | 0x92 => 222,
        0x93 | 0x94 => 333,
        _ => 556,
    };
    f32::from(w) / 1000.0
}

pub fn text_width(s: &str, size: f32, bold: bool) -> f32 {
    s.chars().map(|c| glyph_width(win_ansi(c), bold)).sum::<f32>() * size
}

/// Breaks `text` into lines no wider than `width`; explicit newlines are kept; a word longer than
/// a line is split.
pub fn wrap(text: &str, size: f32, bold: bool, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split(' ').filter(|w| !w.is_empty()) {
            let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
            if text_width(&candidate, size, bold) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // A word wider than the line: split it by characters.
            let mut piece = String::new();
            for c in word.chars() {
                piece.push(c);
                if text_width(&piece, size, bold) > width && piece.chars().count() > 1 {
                    piece.pop();
                    lines.push(std::mem::take(&mut piece));
                    piece.push(c);
                }
            }
            line = piece;
        }
        lines.push(line);
    }
    lines
}

fn pdf_string(s: &str) -> Vec<u8> {
    let mut out = vec![b'('];
    for c in s.chars() {
        let b = win_ansi(c);
        if matches!(b, b'(' | b')' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b')');
    out
}

struct Layout {
    pages: Vec<Vec<u8>>,
    y: f32,
}

impl Layout {
    fn new() -> Self {
        let mut l = Layout { pages: Vec::new(), y: 0.0 };
        l.new_page();
        l
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = PAGE_H - MARGIN;
    }

    fn ensure(&mut self, height: f32) {
        if self.y - height < MARGIN + FOOTER {
            self.new_page();
        }
    }

    fn ops(&mut self) -> &mut Vec<u8> {
        self.pages.last_mut().expect("a page")
    }

    fn text_at(&mut self, x: f32, y: f32, s: &str, size: f32, bold: bool) {
        let font = if bold { "F2" } else { "F1" };
        let mut op = format!("BT /{font} {} Tf {:.2} {:.2} Td ", fmt_size(size), x, y).into_bytes();
        op.extend(pdf_string(s));
        op.extend_from_slice(b" Tj ET\n");
        self.ops().extend(op);
    }

    /// Writes wrapped lines at `x`, moving down; breaks pages between lines.
    fn lines(&mut self, x: f32, lines: &[String], size: f32, bold: bool) {
        let lh = size * 1.4;
        for l in lines {
            self.ensure(lh);
            self.y -= lh;
            let y = self.y + size * 0.3;
            self.text_at(x, y, l, size, bold);
        }
    }
}

fn fmt_size(size: f32) -> String {
    let s = format!("{size:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// Renders a letter to PDF bytes.
pub fn render(letter: &Letter) -> Vec<u8> {
    let style = letter.kind.style();
    let width = PAGE_W - 2.0 * MARGIN;
    let mut l = Layout::new();

    // Header band in NHS blue with the sender, then title, date and reference.
    let band = style.small * 1.4 * wrap(&letter.from, style.small, true, width - 16.0).len() as f32 + 12.0;
    let band_ops = format!("0 0.369 0.722 rg {:.2} {:.2} {:.2} {:.2} re f\n1 1 1 rg\n", MARGIN, l.y - band, width, band);
    l.ops().extend(band_ops.into_bytes());
    l.y -= 6.0;
    let from_lines = wrap(&letter.from, style.small, true, width - 16.0);
    l.lines(MARGIN + 8.0, &from_lines, style.small, true);
    l.ops().extend_from_slice(b"0 0 0 rg\n");
    l.y -= 6.0 + style.title * 0.6;
    l.lines(MARGIN, &wrap(&letter.title, style.title, true, width), style.title, true);
    let meta = format!("{}    {}", long_date(letter.date.date_naive()), letter.reference);
    l.lines(MARGIN, &wrap(&meta, style.small, false, width), style.small, false);
    l.y -= style.body * 0.6;

    let label_w = if style.two_columns { 130.0 } else { width };
    for b in &letter.blocks {
        match b {
            Block::Heading(t) => {
                let lines = wrap(t, style.heading, true, width);
                // Keep a heading with at least two lines of what follows.
                l.ensure(style.heading * 1.4 * lines.len() as f32 + style.heading * 0.8 + style.body * 2.8);
                l.y -= style.heading * 0.8;
                l.lines(MARGIN, &lines, style.heading, true);
            }
            Block::Paragraph(t) => {
                for para in t.split("\n\n") {
                    l.lines(MARGIN, &wrap(para, style.body, false, width), style.body, false);
                    l.y -= style.body * 0.5;
                }
            }
            Block::Field(k, v) => {
                if style.two_columns {
                    let label = wrap(k, style.body, true, label_w - 8.0);
                    let value = wrap(v, style.body, false, width - label_w);
                    let lh = style.body * 1.4;
                    l.ensure(lh * label.len().max(value.len()).min(3) as f32);
                    let top = l.y;
                    l.lines(MARGIN, &label, style.body, true);
                    let after_label = l.y;
                    if l.pages.len() > 1 && after_label > top {
                        // The label broke onto a new page: put the value under it there.
                        l.lines(MARGIN + label_w, &value, style.body, false);
                    } else {
                        l.y = top;
                        l.lines(MARGIN + label_w, &value, style.body, false);
                        l.y = l.y.min(after_label);
                    }
                } else {
                    let label = wrap(k, style.body, true, width);
                    l.ensure(style.body * 1.4 * 2.0);
                    l.lines(MARGIN, &label, style.body, true);
                    l.lines(MARGIN, &wrap(v, style.body, false, width), style.body, false);
                    l.y -= style.body * 0.4;
                }
            }
            Block::Bullets(items) => {
                let indent = style.body * 1.2;
                for item in items {
                    let lines = wrap(item, style.body, false, width - indent);
                    l.ensure(style.body * 1.4);
                    let bullet_y = l.y - style.body * 1.4 + style.body * 0.3;
                    l.text_at(MARGIN, bullet_y, "•", style.body, false);
                    l.lines(MARGIN + indent, &lines, style.body, false);
                }
                l.y -= style.body * 0.5;
            }
        }
    }

    let n = l.pages.len();
    let footer = letter.title.clone();
    for (i, page) in l.pages.iter_mut().enumerate() {
        let text = format!("{footer}  -  page {} of {n}", i + 1);
        let mut op = format!("0.3 0.38 0.45 rg BT /F1 {} Tf {:.2} {:.2} Td ", fmt_size(style.small), MARGIN, MARGIN - style.small).into_bytes();
        op.extend(pdf_string(&text));
        op.extend_from_slice(b" Tj ET\n0 0 0 rg\n");
        page.extend(op);
    }
    assemble(&l.pages, &letter.title)
}

fn assemble(pages: &[Vec<u8>], title: &str) -> Vec<u8> {
    // Objects: 1 catalog, 2 pages, 3 Helvetica, 4 Helvetica-Bold, 5 info, then page/content pairs.
    let mut objects: Vec<Vec<u8>> = Vec::new();
    let kids: Vec<String> = (0..pages.len()).map(|i| format!("{} 0 R", 6 + 2 * i)).collect();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    objects.push(format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), pages.len()).into_bytes());
    objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec());
    objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>".to_vec());
    let mut info = b"<< /Producer (Telederm) /Title ".to_vec();
    info.extend(pdf_string(title));
    info.extend_from_slice(b" >>");
    objects.push(info);
    for (i, content) in pages.iter().enumerate() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
                7 + 2 * i
            )
            .into_bytes(),
        );
        let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        stream.extend_from_slice(content);
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
    }
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, obj) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).into_bytes());
        out.extend_from_slice(obj);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).into_bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").into_bytes());
    }
    out.extend(format!("trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).into_bytes());
    out
}

/// Every font size a PDF made by [`render`] uses (the operand of each `Tf` operator).
pub fn font_sizes(pdf: &[u8]) -> Vec<f32> {
    let text = String::from_utf8_lossy(pdf);
    let tokens: Vec<&str> = text.split_ascii_whitespace().collect();
    tokens.windows(2).filter(|w| w[1] == "Tf").filter_map(|w| w[0].parse::<f32>().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_respects_the_width() {
        let text = "The quick brown fox jumps over the lazy dog again and again until the line is full";
        for line in wrap(text, 12.0, false, 150.0) {
            assert!(text_width(&line, 12.0, false) <= 150.0, "{line}");
        }
        assert_eq!(wrap("a\nb", 12.0, false, 100.0), vec!["a", "b"]);
        let long = "x".repeat(200);
        assert!(wrap(&long, 12.0, false, 100.0).len() > 1);
    }

    #[test]
    fn strings_are_escaped_and_encoded() {
        assert_eq!(pdf_string("a(b)\\ £"), b"(a\\(b\\)\\\\ \xa3)".to_vec());
        assert_eq!(pdf_string("日"), b"(?)".to_vec());
    }
}
