//! Test support: what two CommonMark renderers make of the Markdown the
//! tool writes (the step summary, `report diff --format markdown`), to
//! check that a test's text (ids, panic messages, output) becomes text and
//! nothing else. pulldown-cmark reads CommonMark with GFM's tables;
//! comrak is a port of cmark-gfm, the renderer GitHub runs, with GFM's
//! extensions on (tables, extended autolinks of `www.`, URLs and e-mail
//! addresses, strikethrough, task lists, footnotes).
//!
//! Shared by the unit tests and, through `#[path]`, the integration tests.

use std::fmt::Write as _;

/// What a renderer made of a document.
#[derive(Debug, Default, PartialEq)]
pub struct Rendered {
    /// The text of each heading, in order.
    pub headings: Vec<String>,
    /// Each table: its rows (the header row first), each row its cells' text.
    pub tables: Vec<Vec<Vec<String>>>,
    /// The text of each list item.
    pub items: Vec<String>,
    /// The text of each code block.
    pub code_blocks: Vec<String>,
    /// Every element that is neither text, code, a paragraph, a heading, a
    /// table nor a list: a link, an image, HTML, emphasis... (described).
    pub markup: Vec<String>,
}

/// Collects text into whatever is open: a table cell, a heading, an item.
#[derive(Default)]
struct Collector {
    out: Rendered,
    heading: Option<String>,
    item: Option<String>,
    row: Option<Vec<String>>,
    cell: Option<String>,
    code: Option<String>,
}

impl Collector {
    fn text(&mut self, s: &str) {
        for buf in [
            &mut self.cell,
            &mut self.heading,
            &mut self.item,
            &mut self.code,
        ]
        .into_iter()
        .flatten()
        {
            buf.push_str(s);
        }
    }
    fn start_heading(&mut self) {
        self.heading = Some(String::new());
    }
    fn end_heading(&mut self) {
        self.out.headings.extend(self.heading.take());
    }
    fn start_table(&mut self) {
        self.out.tables.push(Vec::new());
    }
    fn start_row(&mut self) {
        self.row = Some(Vec::new());
    }
    fn end_row(&mut self) {
        if let (Some(row), Some(table)) = (self.row.take(), self.out.tables.last_mut()) {
            table.push(row);
        }
    }
    fn start_cell(&mut self) {
        self.cell = Some(String::new());
    }
    fn end_cell(&mut self) {
        if let (Some(cell), Some(row)) = (self.cell.take(), self.row.as_mut()) {
            row.push(cell);
        }
    }
    fn start_item(&mut self) {
        self.item = Some(String::new());
    }
    fn end_item(&mut self) {
        self.out.items.extend(self.item.take());
    }
    fn start_code(&mut self) {
        self.code = Some(String::new());
    }
    fn end_code(&mut self) {
        self.out.code_blocks.extend(self.code.take());
    }
    fn markup(&mut self, what: impl std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{what:?}");
        self.out.markup.push(s);
    }
}

/// `md` as pulldown-cmark reads it (CommonMark, GFM tables, strikethrough,
/// task lists, footnotes).
pub fn pulldown(md: &str) -> Rendered {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_GFM;
    let mut c = Collector::default();
    for event in Parser::new_ext(md, options) {
        match event {
            Event::Start(Tag::Heading { .. }) => c.start_heading(),
            Event::End(TagEnd::Heading(_)) => c.end_heading(),
            Event::Start(Tag::Table(_)) => c.start_table(),
            Event::Start(Tag::TableHead | Tag::TableRow) => c.start_row(),
            Event::End(TagEnd::TableHead | TagEnd::TableRow) => c.end_row(),
            Event::Start(Tag::TableCell) => c.start_cell(),
            Event::End(TagEnd::TableCell) => c.end_cell(),
            Event::Start(Tag::Item) => c.start_item(),
            Event::End(TagEnd::Item) => c.end_item(),
            Event::Start(Tag::CodeBlock(_)) => c.start_code(),
            Event::End(TagEnd::CodeBlock) => c.end_code(),
            Event::Text(t) | Event::Code(t) => c.text(&t),
            Event::SoftBreak => c.text(" "),
            Event::Start(Tag::Paragraph | Tag::List(_))
            | Event::End(TagEnd::Paragraph | TagEnd::List(_) | TagEnd::Table) => {}
            Event::Start(tag) => c.markup(tag),
            Event::End(_) => {}
            other => c.markup(other),
        }
    }
    c.out
}

/// `md` as comrak (cmark-gfm's behaviour, GitHub's renderer) reads it, with
/// every extension GitHub turns on.
pub fn comrak(md: &str) -> Rendered {
    use comrak::nodes::{AstNode, NodeValue};
    let mut options = comrak::Options::default();
    let e = &mut options.extension;
    (
        e.table,
        e.autolink,
        e.strikethrough,
        e.tasklist,
        e.footnotes,
    ) = (true, true, true, true, true);
    let arena = comrak::Arena::new();
    let root = comrak::parse_document(&arena, md, &options);

    fn visit<'a>(node: &'a AstNode<'a>, c: &mut Collector) {
        let value = node.data.borrow().value.clone();
        let children = |c: &mut Collector| {
            for child in node.children() {
                visit(child, c);
            }
        };
        match value {
            NodeValue::Heading(_) => {
                c.start_heading();
                children(c);
                c.end_heading();
            }
            NodeValue::Table(_) => {
                c.start_table();
                children(c);
            }
            NodeValue::TableRow(_) => {
                c.start_row();
                children(c);
                c.end_row();
            }
            NodeValue::TableCell => {
                c.start_cell();
                children(c);
                c.end_cell();
            }
            NodeValue::Item(_) => {
                c.start_item();
                children(c);
                c.end_item();
            }
            NodeValue::CodeBlock(block) => {
                c.start_code();
                c.text(&block.literal);
                c.end_code();
            }
            NodeValue::Text(t) => c.text(&t),
            NodeValue::Code(code) => c.text(&code.literal),
            NodeValue::SoftBreak => c.text(" "),
            NodeValue::Document | NodeValue::Paragraph | NodeValue::List(_) => children(c),
            // cmark-gfm marks where a backslash escape was: text still.
            NodeValue::Escaped => children(c),
            other => {
                c.markup(other);
                children(c);
            }
        }
    }
    let mut c = Collector::default();
    visit(root, &mut c);
    c.out
}

/// Both renderers' readings of `md`, which must agree on everything this
/// module looks at.
pub fn both(md: &str) -> Rendered {
    let (p, c) = (pulldown(md), comrak(md));
    assert_eq!(p, c, "pulldown-cmark and comrak read differently:\n{md}");
    p
}
