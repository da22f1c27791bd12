//! Lays out a page of a generated scan: prose, a manual page with an indented
//! option list, two columns, or a table of short cells. Pure: text widths come
//! from a caller-supplied measure, so the layout is the same on every machine
//! with the same fonts, and the ground truth is exactly what was placed, in
//! reading order.

use super::corpus::{Corpus, Manual};
use super::{Layout, Rng};

/// A4 in points.
pub const PAGE: (f32, f32) = (595.276, 841.89);

/// A run of text at a position: `x` from the left edge, `baseline` from the top, in points.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    pub text: String,
    pub x: f32,
    pub baseline: f32,
    pub size: f32,
    pub bold: bool,
}

/// A ruled line (table borders), in points from the top-left corner.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

/// What goes on a page and what a perfect reader returns for it.
#[derive(Clone, Debug, Default)]
pub struct PageLayout {
    pub runs: Vec<Placed>,
    pub rules: Vec<Rule>,
    /// Lines in reading order (left column before right, tables row by row).
    pub truth: Vec<String>,
}

/// Width of `text` in points at `size` (bold or regular face).
pub type Measure<'a> = dyn FnMut(&str, bool, f32) -> f32 + 'a;

struct Frame {
    left: f32,
    width: f32,
    top: f32,
    bottom: f32,
}

struct Setter<'m, 'a> {
    measure: &'m mut Measure<'a>,
    size: f32,
    leading: f32,
    y: f32,
    out: PageLayout,
}

impl Setter<'_, '_> {
    /// Greedy word wrap of `text` into lines of at most `width` points.
    fn wrap(&mut self, text: &str, width: f32, bold: bool) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in text.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if !line.is_empty() && (self.measure)(&candidate, bold, self.size) > width {
                lines.push(std::mem::take(&mut line));
                line = word.to_owned();
            } else {
                line = candidate;
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }

    /// Places one line at the current position; false when the frame is full.
    fn line(&mut self, frame: &Frame, x: f32, text: &str, size: f32, bold: bool) -> bool {
        let advance = self.leading * size / self.size;
        if self.y + advance > frame.bottom {
            return false;
        }
        self.y += advance;
        self.out.runs.push(Placed {
            text: text.to_owned(),
            x,
            baseline: self.y,
            size,
            bold,
        });
        self.out.truth.push(text.to_owned());
        true
    }

    /// A wrapped paragraph at indent `indent`; false when the frame filled up.
    fn paragraph(&mut self, frame: &Frame, indent: f32, text: &str, bold: bool) -> bool {
        let lines = self.wrap(text, frame.width - indent, bold);
        for line in lines {
            if !self.line(frame, frame.left + indent, &line, self.size, bold) {
                return false;
            }
        }
        true
    }

    fn gap(&mut self, lines: f32) {
        self.y += self.leading * lines;
    }
}

/// Lays out a page of `layout` with body text at `size` points.
pub fn layout_page(
    layout: Layout,
    corpus: &Corpus,
    size: f32,
    rng: &mut Rng,
    measure: &mut Measure<'_>,
) -> PageLayout {
    let margin_x = rng.range(56.0, 80.0) as f32;
    let margin_top = rng.range(56.0, 84.0) as f32;
    let frame = Frame {
        left: margin_x,
        width: PAGE.0 - 2.0 * margin_x,
        top: margin_top,
        bottom: PAGE.1 - rng.range(56.0, 80.0) as f32,
    };
    let leading = size * rng.range(1.3, 1.6) as f32;
    let mut setter = Setter {
        measure,
        size,
        leading,
        y: frame.top,
        out: PageLayout::default(),
    };
    match layout {
        Layout::Prose => prose(&mut setter, &frame, corpus, rng),
        Layout::Manual => manual(&mut setter, &frame, corpus, rng),
        Layout::TwoColumn => two_columns(&mut setter, &frame, corpus, rng),
        Layout::Table => table(&mut setter, &frame, corpus, rng),
    }
    setter.out
}

/// The pool's paragraphs in a seeded order, twice over.
fn paragraphs(corpus: &Corpus, rng: &mut Rng) -> Vec<&'static str> {
    let mut order: Vec<usize> = (0..corpus.prose.len()).collect();
    rng.shuffle(&mut order);
    order
        .iter()
        .chain(order.iter())
        .map(|&i| corpus.prose[i])
        .collect()
}

fn prose(s: &mut Setter<'_, '_>, frame: &Frame, corpus: &Corpus, rng: &mut Rng) {
    let title_size = s.size * 1.4;
    let title = corpus.manuals[rng.below(corpus.manuals.len())].summary;
    if rng.below(2) == 0 && s.line(frame, frame.left, title, title_size, true) {
        s.gap(0.6);
    }
    for paragraph in paragraphs(corpus, rng) {
        if !s.paragraph(frame, 0.0, paragraph, false) {
            break;
        }
        s.gap(0.5);
    }
}

fn manual(s: &mut Setter<'_, '_>, frame: &Frame, corpus: &Corpus, rng: &mut Rng) {
    let indent = s.size * rng.range(3.0, 4.5) as f32;
    let option_indent = indent + s.size * rng.range(2.5, 4.0) as f32;
    let first = rng.below(corpus.manuals.len());
    let [name, synopsis, description, options] = corpus.manual_headings;
    for i in 0..corpus.manuals.len() {
        let m: &Manual = &corpus.manuals[(first + i) % corpus.manuals.len()];
        let blocks: [(&str, String); 3] = [
            (name, format!("{} - {}", m.command, m.summary)),
            (synopsis, m.synopsis.to_owned()),
            (description, m.description.to_owned()),
        ];
        for (heading, body) in blocks {
            if !s.line(frame, frame.left, heading, s.size, true)
                || !s.paragraph(frame, indent, &body, false)
            {
                return;
            }
            s.gap(0.4);
        }
        if !s.line(frame, frame.left, options, s.size, true) {
            return;
        }
        for (names, text) in m.options {
            // A short option name takes its description on the same line,
            // as man(1) does with hanging tags; a long one gets its own line.
            let names_width = (s.measure)(names, true, s.size);
            if indent + names_width + s.size < option_indent {
                let lines = s.wrap(text, frame.width - option_indent, false);
                let Some((head, rest)) = lines.split_first() else {
                    continue;
                };
                let advance = s.leading;
                if s.y + advance > frame.bottom {
                    return;
                }
                s.y += advance;
                s.out.runs.push(Placed {
                    text: (*names).to_owned(),
                    x: frame.left + indent,
                    baseline: s.y,
                    size: s.size,
                    bold: true,
                });
                s.out.runs.push(Placed {
                    text: head.clone(),
                    x: frame.left + option_indent,
                    baseline: s.y,
                    size: s.size,
                    bold: false,
                });
                s.out.truth.push(format!("{names} {head}"));
                for line in rest {
                    if !s.line(frame, frame.left + option_indent, line, s.size, false) {
                        return;
                    }
                }
            } else if !s.line(frame, frame.left + indent, names, s.size, true)
                || !s.paragraph(frame, option_indent, text, false)
            {
                return;
            }
            s.gap(0.3);
        }
        s.gap(1.0);
    }
}

fn two_columns(s: &mut Setter<'_, '_>, frame: &Frame, corpus: &Corpus, rng: &mut Rng) {
    let gutter = rng.range(18.0, 30.0) as f32;
    let column = (frame.width - gutter) / 2.0;
    let title = corpus.manuals[rng.below(corpus.manuals.len())].summary;
    if s.line(frame, frame.left, title, s.size * 1.6, true) {
        s.gap(0.8);
    }
    let top = s.y;
    let paragraphs = paragraphs(corpus, rng);
    let mut next = 0;
    for index in 0..2 {
        let col = Frame {
            left: frame.left + index as f32 * (column + gutter),
            width: column,
            top,
            bottom: frame.bottom,
        };
        s.y = top;
        // A paragraph that does not fit ends the column; the next column
        // starts with it, so the reading order is column by column.
        while let Some(paragraph) = paragraphs.get(next) {
            let lines = s.wrap(paragraph, col.width, false);
            let needed = s.leading * lines.len() as f32;
            if s.y + needed > col.bottom {
                if s.y == top {
                    // A paragraph longer than a whole column is cut.
                    for line in &lines {
                        if !s.line(&col, col.left, line, s.size, false) {
                            break;
                        }
                    }
                    next += 1;
                }
                break;
            }
            for line in &lines {
                s.line(&col, col.left, line, s.size, false);
            }
            next += 1;
            s.gap(0.5);
        }
    }
}

fn table(s: &mut Setter<'_, '_>, frame: &Frame, corpus: &Corpus, rng: &mut Rng) {
    let caption = corpus.manuals[rng.below(corpus.manuals.len())].summary;
    if s.line(frame, frame.left, caption, s.size * 1.2, true) {
        s.gap(0.6);
    }
    let rows = 8 + rng.below(12);
    let first = rng.below(corpus.table_items.len());
    let mut cells: Vec<[String; 6]> = vec![corpus.table_headings.map(str::to_owned)];
    for r in 0..rows {
        let (item, unit, note) = corpus.table_items[(first + r * 3) % corpus.table_items.len()];
        let qty = 1 + rng.below(480);
        let price = (1 + rng.below(900)) * 100;
        cells.push([
            (r + 1).to_string(),
            item.to_owned(),
            qty.to_string(),
            unit.to_owned(),
            group_thousands(price),
            note.to_owned(),
        ]);
    }
    let pad = s.size * 1.2;
    let mut widths = [0f32; 6];
    for row in &cells {
        for (c, cell) in row.iter().enumerate() {
            widths[c] = widths[c].max((s.measure)(cell, false, s.size) + pad);
        }
    }
    let total: f32 = widths.iter().sum();
    let extra = ((frame.width - total) / 6.0).max(0.0);
    let mut xs = [frame.left; 7];
    for c in 0..6 {
        xs[c + 1] = xs[c] + widths[c] + extra;
    }
    let ruled = rng.below(2) == 0;
    let row_height = s.leading * 1.15;
    let mut y = s.y + s.leading * 0.3;
    if ruled {
        s.out.rules.push(Rule {
            x0: xs[0],
            y0: y,
            x1: xs[6],
            y1: y,
        });
    }
    for (r, row) in cells.iter().enumerate() {
        if y + row_height > frame.bottom {
            break;
        }
        let baseline = y + row_height * 0.72;
        for (c, cell) in row.iter().enumerate() {
            s.out.runs.push(Placed {
                text: cell.clone(),
                x: xs[c] + pad / 2.0,
                baseline,
                size: s.size,
                bold: r == 0,
            });
        }
        s.out.truth.push(row.join(" "));
        y += row_height;
        if ruled && (r == 0 || r + 1 == cells.len()) {
            s.out.rules.push(Rule {
                x0: xs[0],
                y0: y,
                x1: xs[6],
                y1: y,
            });
        }
    }
    s.y = y;
}

/// `1234567` as `1,234,567`.
pub fn group_thousands(value: usize) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Language;
    use super::super::corpus::Pool;
    use super::*;

    /// Every character half an em wide, Hangul a full em.
    fn measure(text: &str, _bold: bool, size: f32) -> f32 {
        text.chars()
            .map(|c| if c.is_ascii() { 0.5 } else { 1.0 })
            .sum::<f32>()
            * size
    }

    #[test]
    fn layouts_stay_inside_the_page_and_their_truth_is_what_was_placed() {
        for language in [Language::Korean, Language::English] {
            let corpus = Corpus::new(language, Pool::Tuning);
            for layout in [
                Layout::Prose,
                Layout::Manual,
                Layout::TwoColumn,
                Layout::Table,
            ] {
                // As `PageSpec::new` does: 24 pt only for prose and manual pages.
                let large = match layout {
                    Layout::TwoColumn | Layout::Table => 16.0,
                    _ => 24.0,
                };
                for size in [8.0, 11.0, large] {
                    let mut rng = Rng::new(7);
                    let page = layout_page(layout, &corpus, size, &mut rng, &mut measure);
                    assert!(page.truth.len() > 3, "{layout:?} {size}");
                    for run in &page.runs {
                        assert!(run.baseline <= PAGE.1 - 50.0, "{run:?}");
                        assert!(
                            run.x + measure(&run.text, run.bold, run.size) <= PAGE.0,
                            "{run:?}"
                        );
                    }
                    let placed: String = page
                        .runs
                        .iter()
                        .map(|r| r.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" ");
                    let truth = page.truth.join(" ");
                    assert_eq!(
                        placed.split_whitespace().count(),
                        truth.split_whitespace().count(),
                        "{layout:?} {size}"
                    );
                }
            }
        }
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(100), "100");
        assert_eq!(group_thousands(15000), "15,000");
        assert_eq!(group_thousands(1234567), "1,234,567");
    }
}
