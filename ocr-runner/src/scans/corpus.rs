//! The text of generated scans, and which half of it a page may use.

use super::Language;
use super::{corpus_en, corpus_ko};

/// One manual page: the shape of a `man` page, with its option list.
#[derive(Clone, Copy, Debug)]
pub struct Manual {
    pub command: &'static str,
    pub summary: &'static str,
    pub synopsis: &'static str,
    pub description: &'static str,
    /// (option names, description)
    pub options: &'static [(&'static str, &'static str)],
}

/// Which half of the corpus a page draws from. Tuning pages never see the
/// held-out half, so the benchmark's held-out numbers are on unseen text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pool {
    Tuning,
    HeldOut,
}

fn half<T>(items: &[T], pool: Pool) -> &[T] {
    let mid = items.len() / 2;
    match pool {
        Pool::Tuning => &items[..mid],
        Pool::HeldOut => &items[mid..],
    }
}

/// The text a page of `language` from `pool` may use.
#[derive(Clone, Copy, Debug)]
pub struct Corpus {
    pub prose: &'static [&'static str],
    pub manuals: &'static [Manual],
    pub table_items: &'static [(&'static str, &'static str, &'static str)],
    pub table_headings: [&'static str; 6],
    pub manual_headings: [&'static str; 4],
}

impl Corpus {
    pub fn new(language: Language, pool: Pool) -> Self {
        match language {
            Language::Korean => Self {
                prose: half(corpus_ko::PROSE, pool),
                manuals: half(corpus_ko::MANUALS, pool),
                table_items: half(corpus_ko::TABLE_ITEMS, pool),
                table_headings: corpus_ko::TABLE_HEADINGS,
                manual_headings: corpus_ko::MANUAL_HEADINGS,
            },
            Language::English => Self {
                prose: half(corpus_en::PROSE, pool),
                manuals: half(corpus_en::MANUALS, pool),
                table_items: half(corpus_en::TABLE_ITEMS, pool),
                table_headings: corpus_en::TABLE_HEADINGS,
                manual_headings: corpus_en::MANUAL_HEADINGS,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_halves_share_no_text() {
        for language in [Language::Korean, Language::English] {
            let tune = Corpus::new(language, Pool::Tuning);
            let held = Corpus::new(language, Pool::HeldOut);
            assert!(tune.prose.len() >= 10 && held.prose.len() >= 10);
            assert!(tune.prose.iter().all(|p| !held.prose.contains(p)));
            assert!(
                tune.manuals
                    .iter()
                    .all(|m| held.manuals.iter().all(|h| h.command != m.command))
            );
            assert!(
                tune.table_items
                    .iter()
                    .all(|t| !held.table_items.contains(t))
            );
        }
    }
}
