//! Letters as PDF, written with [krilla]: A4 pages, Noto Sans Regular and Bold embedded (subset)
//! so that every name prints as written (Łukasz, Nguyễn, Çağrı, Seán), word wrapping by the
//! fonts' advance widths, page breaks and page numbers.
//!
//! The PDF is tagged for screen readers and validated as PDF/UA-1 by krilla: the title and
//! headings as H1/H2 (with an outline of them), paragraphs and labelled values as P, the images
//! as a list; the header band and the footer are artifacts; the document's title and language
//! (en-GB) are set. A letter with a character Noto Sans lacks is still written, tagged, without
//! the PDF/UA claim. No clock is read (the document's date is the letter's), so the same letter
//! always gives the same bytes.
//!
//! The fonts are compiled in (`crates/fhir/fonts/`, SIL Open Font License, `OFL.txt` there).

use std::num::NonZeroU16;
use std::sync::LazyLock;

use chrono::{Datelike, Timelike};
use krilla::Document;
use krilla::color::rgb;
use krilla::configure::{Accessibility, Configuration, ConfigurationBuilder};
use krilla::destination::XyzDestination;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::outline::{Outline, OutlineNode};
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::tagging::{Artifact, ArtifactType, ContentTag, Identifier, ListNumbering, SpanTag, Tag, TagGroup, TagTree};
use krilla::text::{Font, TextDirection};
use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, GlyphId, MetadataProvider};

use super::{Block, LANGUAGE, Letter, long_date};

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 56.0;
const FOOTER: f32 = 36.0;

const REGULAR_TTF: &[u8] = include_bytes!("../../fonts/NotoSans-Regular.ttf");
const BOLD_TTF: &[u8] = include_bytes!("../../fonts/NotoSans-Bold.ttf");

/// One embedded font: krilla's handle and skrifa's view of the same bytes for measuring.
struct Face {
    pdf: Font,
    font: FontRef<'static>,
}

impl Face {
    fn load(bytes: &'static [u8]) -> Face {
        Face {
            pdf: Font::new(bytes.into(), 0).expect("the embedded font loads"),
            font: FontRef::new(bytes).expect("the embedded font parses"),
        }
    }

    /// Whether the font has a glyph for `c`.
    fn covers(&self, c: char) -> bool {
        c.is_whitespace() || self.font.charmap().map(c).is_some()
    }
}

static FACES: LazyLock<[Face; 2]> = LazyLock::new(|| [Face::load(REGULAR_TTF), Face::load(BOLD_TTF)]);

fn face(bold: bool) -> &'static Face {
    &FACES[usize::from(bold)]
}

/// The width of `s` set in Noto Sans at `size` points (advance widths; no kerning, which only
/// narrows a line).
pub fn text_width(s: &str, size: f32, bold: bool) -> f32 {
    let f = &face(bold).font;
    let (charmap, metrics) = (f.charmap(), f.glyph_metrics(Size::new(size), LocationRef::default()));
    s.chars().map(|c| metrics.advance_width(charmap.map(c).unwrap_or(GlyphId::NOTDEF)).unwrap_or(0.0)).sum()
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

/// What a piece of the letter is, for the tag tree.
#[derive(Debug, Clone, PartialEq)]
enum Element {
    /// H1 (level 1) or H2, with its text (PDF/UA wants a heading's title).
    Heading(u16, String),
    Paragraph,
    /// A list; its lines say which item they belong to.
    List,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    /// Not content: the footer.
    Footer,
    /// Content of element `n`.
    In(usize),
    /// Item `item` of list element `n`: its bullet (label) or its body.
    Item { list: usize, item: usize, label: bool },
}

#[derive(Debug, Clone, Copy)]
enum Colour {
    Text,
    OnBand,
    Muted,
}

impl Colour {
    fn rgb(self) -> rgb::Color {
        match self {
            Colour::Text => rgb::Color::new(0x21, 0x2b, 0x32),
            Colour::OnBand => rgb::Color::new(0xff, 0xff, 0xff),
            Colour::Muted => rgb::Color::new(0x4c, 0x62, 0x72),
        }
    }
}

/// One line of text placed on a page; `y` is the baseline, from the top of the page.
struct Line {
    page: usize,
    x: f32,
    y: f32,
    text: String,
    size: f32,
    bold: bool,
    colour: Colour,
    role: Role,
}

/// The laid-out letter: lines on pages, the header band, the elements for the tag tree.
struct Layout {
    pages: usize,
    /// Distance from the top of the current page to the bottom of what is placed so far.
    y: f32,
    lines: Vec<Line>,
    elements: Vec<Element>,
    /// Where each heading is (page, top), for the outline.
    anchors: Vec<(usize, f32)>,
    band: Option<Rect>,
}

impl Layout {
    fn new() -> Self {
        Layout { pages: 1, y: MARGIN, lines: Vec::new(), elements: Vec::new(), anchors: Vec::new(), band: None }
    }

    fn page(&self) -> usize {
        self.pages - 1
    }

    fn ensure(&mut self, height: f32) {
        if self.y + height > PAGE_H - MARGIN - FOOTER {
            self.pages += 1;
            self.y = MARGIN;
        }
    }

    fn element(&mut self, e: Element) -> usize {
        self.elements.push(e);
        self.elements.len() - 1
    }

    fn text_at(&mut self, x: f32, y: f32, text: &str, size: f32, bold: bool, colour: Colour, role: Role) {
        let page = self.page();
        self.lines.push(Line { page, x, y, text: text.to_string(), size, bold, colour, role });
    }

    /// Writes wrapped lines at `x`, moving down; breaks pages between lines.
    fn lines(&mut self, x: f32, lines: &[String], size: f32, bold: bool, colour: Colour, role: Role) {
        let lh = size * 1.4;
        for l in lines {
            self.ensure(lh);
            self.y += lh;
            self.text_at(x, self.y - size * 0.3, l, size, bold, colour, role);
        }
    }

    /// A heading of `level`, `before` points below what precedes it and kept with `keep` points of
    /// what follows.
    fn heading(&mut self, level: u16, text: &str, size: f32, width: f32, before: f32, keep: f32) {
        let lines = wrap(text, size, true, width);
        self.ensure(before + size * 1.4 * lines.len() as f32 + keep);
        self.y += before;
        let e = self.element(Element::Heading(level, text.to_string()));
        self.anchors.push((self.page(), self.y));
        self.lines(MARGIN, &lines, size, true, Colour::Text, Role::In(e));
    }
}

fn lay_out(letter: &Letter) -> Layout {
    let style = letter.kind.style();
    let width = PAGE_W - 2.0 * MARGIN;
    let mut l = Layout::new();

    // Header band in NHS blue with the sender, then title, date and reference.
    let from_lines = wrap(&letter.from, style.small, true, width - 16.0);
    let band = style.small * 1.4 * from_lines.len() as f32 + 12.0;
    l.band = Rect::from_xywh(MARGIN, l.y, width, band);
    l.y += 6.0;
    let from = l.element(Element::Paragraph);
    l.lines(MARGIN + 8.0, &from_lines, style.small, true, Colour::OnBand, Role::In(from));
    l.heading(1, &letter.title, style.title, width, 6.0 + style.title * 0.6, 0.0);
    let meta = format!("{}    {}", long_date(letter.date.date_naive()), letter.reference);
    let e = l.element(Element::Paragraph);
    l.lines(MARGIN, &wrap(&meta, style.small, false, width), style.small, false, Colour::Muted, Role::In(e));
    l.y += style.body * 0.6;

    let label_w = if style.two_columns { 130.0 } else { width };
    for b in &letter.blocks {
        match b {
            Block::Heading(t) => {
                // Keep a heading with at least two lines of what follows.
                l.heading(2, t, style.heading, width, style.heading * 0.8, style.body * 2.8);
            }
            Block::Paragraph(t) => {
                for para in t.split("\n\n") {
                    let e = l.element(Element::Paragraph);
                    l.lines(MARGIN, &wrap(para, style.body, false, width), style.body, false, Colour::Text, Role::In(e));
                    l.y += style.body * 0.5;
                }
            }
            Block::Field(k, v) => {
                // A labelled value is one paragraph: the label, then the value.
                let e = Role::In(l.element(Element::Paragraph));
                if style.two_columns {
                    let label = wrap(k, style.body, true, label_w - 8.0);
                    let value = wrap(v, style.body, false, width - label_w);
                    let lh = style.body * 1.4;
                    l.ensure(lh * label.len().max(value.len()).min(3) as f32);
                    let (top, page) = (l.y, l.pages);
                    l.lines(MARGIN, &label, style.body, true, Colour::Text, e);
                    let after_label = l.y;
                    if l.pages != page {
                        // The label broke onto a new page: put the value under it there.
                        l.lines(MARGIN + label_w, &value, style.body, false, Colour::Text, e);
                    } else {
                        l.y = top;
                        l.lines(MARGIN + label_w, &value, style.body, false, Colour::Text, e);
                        if l.pages == page {
                            l.y = l.y.max(after_label);
                        }
                    }
                } else {
                    let label = wrap(k, style.body, true, width);
                    l.ensure(style.body * 1.4 * 2.0);
                    l.lines(MARGIN, &label, style.body, true, Colour::Text, e);
                    l.lines(MARGIN, &wrap(v, style.body, false, width), style.body, false, Colour::Text, e);
                    l.y += style.body * 0.4;
                }
            }
            Block::Bullets(items) => {
                let list = l.element(Element::List);
                let indent = style.body * 1.2;
                for (item, text) in items.iter().enumerate() {
                    let lines = wrap(text, style.body, false, width - indent);
                    l.ensure(style.body * 1.4);
                    let bullet_y = l.y + style.body * 1.4 - style.body * 0.3;
                    l.text_at(MARGIN, bullet_y, "•", style.body, false, Colour::Text, Role::Item { list, item, label: true });
                    l.lines(MARGIN + indent, &lines, style.body, false, Colour::Text, Role::Item { list, item, label: false });
                }
                l.y += style.body * 0.5;
            }
        }
    }

    let n = l.pages;
    for page in 0..n {
        let text = format!("{}  -  page {} of {n}", letter.title, page + 1);
        l.lines.push(Line {
            page,
            x: MARGIN,
            y: PAGE_H - MARGIN + style.small,
            text,
            size: style.small,
            bold: false,
            colour: Colour::Muted,
            role: Role::Footer,
        });
    }
    l
}

fn fill(colour: rgb::Color) -> Fill {
    Fill { paint: colour.into(), opacity: NormalizedF32::ONE, rule: Default::default() }
}

/// Renders a letter to PDF bytes.
pub fn render(letter: &Letter) -> Vec<u8> {
    let layout = lay_out(letter);
    let covered = layout.lines.iter().all(|l| l.text.chars().all(|c| face(l.bold).covers(c)));
    let configuration = if covered {
        ConfigurationBuilder::new().with_accessibility_validator(Accessibility::UA1).finish().expect("PDF/UA-1 with its default version")
    } else {
        // A glyph Noto Sans lacks would fail PDF/UA-1 validation; the letter must still be written.
        Configuration::default()
    };
    let settings = krilla::SerializeSettings { enable_tagging: true, configuration, ..Default::default() };
    let mut doc = Document::new_with(settings);

    // Identifiers of each line's tagged content, in line order.
    let mut ids: Vec<Option<Identifier>> = Vec::with_capacity(layout.lines.len());
    for page in 0..layout.pages {
        let mut p = doc.start_page_with(PageSettings::from_wh(PAGE_W, PAGE_H).expect("A4"));
        let mut s = p.surface();
        if page == 0
            && let Some(band) = layout.band
        {
            s.start_tagged(ContentTag::Artifact(Artifact::with_kind(ArtifactType::Layout)));
            s.set_fill(Some(fill(rgb::Color::new(0x00, 0x5e, 0xb8))));
            let mut path = PathBuilder::new();
            path.push_rect(band);
            if let Some(path) = path.finish() {
                s.draw_path(&path);
            }
            s.end_tagged();
        }
        for line in layout.lines.iter().filter(|l| l.page == page) {
            let tag = match line.role {
                Role::Footer => ContentTag::Artifact(Artifact::with_kind(ArtifactType::Footer)),
                _ => ContentTag::Span(SpanTag::empty()),
            };
            let id = s.start_tagged(tag);
            s.set_fill(Some(fill(line.colour.rgb())));
            s.draw_text(Point::from_xy(line.x, line.y), face(line.bold).pdf.clone(), line.size, &line.text, false, TextDirection::Auto);
            s.end_tagged();
            ids.push((line.role != Role::Footer).then_some(id));
        }
        s.finish();
        p.finish();
    }
    // `ids` follows the lines page by page; map it back to line order.
    let mut by_line: Vec<Option<Identifier>> = vec![None; layout.lines.len()];
    let mut order = (0..layout.lines.len()).collect::<Vec<_>>();
    order.sort_by_key(|&i| layout.lines[i].page);
    for (i, id) in order.into_iter().zip(ids) {
        by_line[i] = id;
    }

    doc.set_tag_tree(tag_tree(&layout, by_line));
    doc.set_outline(outline(&layout));
    let d = letter.date;
    let date = DateTime::new(d.year() as u16)
        .month(d.month() as u8)
        .day(d.day() as u8)
        .hour(d.hour() as u8)
        .minute(d.minute() as u8)
        .second(d.second() as u8)
        .utc_offset_hour(0)
        .utc_offset_minute(0);
    doc.set_metadata(
        Metadata::new()
            .title(letter.title.clone())
            .language(LANGUAGE.into())
            .creator("Telederm".into())
            .producer("Telederm".into())
            .creation_date(date),
    );
    doc.finish().unwrap_or_else(|e| panic!("the letter PDF could not be written: {e:?}"))
}

/// The structure tree: the elements in reading order, each with its lines' content.
fn tag_tree(layout: &Layout, ids: Vec<Option<Identifier>>) -> TagTree {
    let mut groups: Vec<TagGroup> = layout
        .elements
        .iter()
        .map(|e| match e {
            Element::Heading(level, text) => {
                TagGroup::new(Tag::Hn(NonZeroU16::new(*level).expect("a heading level"), Some(text.clone())))
            }
            Element::Paragraph => TagGroup::new(Tag::P),
            Element::List => TagGroup::new(Tag::L(ListNumbering::Disc)),
        })
        .collect();
    // List items: (list, item) -> (label, body).
    let mut items: Vec<((usize, usize), TagGroup, TagGroup)> = Vec::new();
    for (line, id) in layout.lines.iter().zip(ids) {
        let Some(id) = id else { continue };
        match line.role {
            Role::Footer => {}
            Role::In(e) => groups[e].push(id),
            Role::Item { list, item, label } => {
                if items.last().is_none_or(|(k, ..)| *k != (list, item)) {
                    items.push(((list, item), TagGroup::new(Tag::Lbl), TagGroup::new(Tag::LBody)));
                }
                let (_, lbl, body) = items.last_mut().expect("an item");
                if label { lbl.push(id) } else { body.push(id) }
            }
        }
    }
    for ((list, _), lbl, body) in items {
        groups[list].push(TagGroup::with_children(Tag::LI, vec![lbl.into(), body.into()]));
    }
    let mut tree = TagTree::new().with_lang(Some(LANGUAGE.to_string()));
    for g in groups {
        tree.push(g);
    }
    tree
}

/// The outline (bookmarks): the title, with the letter's headings under it.
fn outline(layout: &Layout) -> Outline {
    let headings: Vec<(&String, (usize, f32))> = layout
        .elements
        .iter()
        .filter_map(|e| match e {
            Element::Heading(_, t) => Some(t),
            _ => None,
        })
        .zip(layout.anchors.iter().copied())
        .collect();
    let mut outline = Outline::new();
    let Some(((title, (page, y)), rest)) = headings.split_first() else { return outline };
    let mut root = OutlineNode::new((*title).clone(), XyzDestination::new(*page, Point::from_xy(0.0, *y))).with_open(true);
    for (t, (page, y)) in rest {
        root.push_child(OutlineNode::new((*t).clone(), XyzDestination::new(*page, Point::from_xy(0.0, *y))));
    }
    outline.push_child(root);
    outline
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
    fn the_fonts_cover_the_names_of_the_people_we_write_to() {
        for name in ["Łukasz Wróbel", "Zażółć Gęślą", "Nguyễn Thị Hương", "Çağrı Şahin", "İlkay Güçlü", "Seán Ó Briain", "Máire Ní Dhomhnaill"] {
            for bold in [false, true] {
                assert!(name.chars().all(|c| face(bold).covers(c)), "{name} (bold: {bold})");
            }
        }
        assert!(!face(false).covers('日'), "the coverage check means something");
    }
}
