//! Page selections such as `1-5,9`, `10-` or `-3`, as `spec.ocr.pages` and the
//! runner's `--pages` accept them.
//!
//! Parsing checks the syntax alone (the API server's pattern allows the same
//! strings); [`PageRange::resolve`] checks a selection against a document once
//! its page count is known.

use std::fmt;
use std::str::FromStr;

/// Largest page number accepted: far beyond any real document, small enough that
/// arithmetic on page numbers never overflows.
pub const MAX_PAGE: u32 = 10_000_000;

/// One piece of a selection; `None` ends mean "from the first" / "to the last".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    first: u32,
    last: Option<u32>,
}

/// A parsed page selection, 1-based, as written (before the page count is known).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRange {
    spans: Vec<Span>,
}

/// Why a page selection is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageRangeError {
    #[error("page selection is empty")]
    Empty,
    #[error(
        "page selection {input:?}: cannot read {part:?} (expected e.g. `1-5,9`, `10-` or `-3`)"
    )]
    Malformed { input: String, part: String },
    #[error("page selection {input:?}: pages are numbered from 1")]
    ZeroPage { input: String },
    #[error(
        "page selection {input:?}: page {page} is larger than the largest supported page number {MAX_PAGE}"
    )]
    TooLarge { input: String, page: u64 },
    #[error("page selection {input:?}: range {first}-{last} runs backwards")]
    Reversed {
        input: String,
        first: u32,
        last: u32,
    },
    #[error("page {page} is outside the document, which has {page_count} page(s)")]
    OutOfBounds { page: u32, page_count: u32 },
    #[error("the document has no pages")]
    NoPages,
}

impl PageRange {
    /// Every page of the document.
    pub fn all() -> Self {
        Self {
            spans: vec![Span {
                first: 1,
                last: None,
            }],
        }
    }

    /// Parses a selection. Whitespace around numbers and commas is ignored.
    pub fn parse(input: &str) -> Result<Self, PageRangeError> {
        if input.trim().is_empty() {
            return Err(PageRangeError::Empty);
        }
        let malformed = |part: &str| PageRangeError::Malformed {
            input: input.to_owned(),
            part: part.trim().to_owned(),
        };
        let number = |text: &str| -> Result<u32, PageRangeError> {
            let text = text.trim();
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(malformed(text));
            }
            // Digits only, so a parse failure can only mean overflow.
            let value: u64 = text.parse().unwrap_or(u64::MAX);
            match value {
                0 => Err(PageRangeError::ZeroPage {
                    input: input.to_owned(),
                }),
                v if v > u64::from(MAX_PAGE) => Err(PageRangeError::TooLarge {
                    input: input.to_owned(),
                    page: v,
                }),
                // Bounded by MAX_PAGE above.
                v => Ok(v as u32),
            }
        };

        let mut spans = Vec::new();
        for part in input.split(',') {
            let trimmed = part.trim();
            if trimmed.is_empty() {
                return Err(malformed(part));
            }
            let span = match trimmed.split_once('-') {
                None => {
                    let page = number(trimmed)?;
                    Span {
                        first: page,
                        last: Some(page),
                    }
                }
                Some((from, to)) => {
                    if to.contains('-') {
                        return Err(malformed(part));
                    }
                    let (from, to) = (from.trim(), to.trim());
                    match (from.is_empty(), to.is_empty()) {
                        (true, true) => return Err(malformed(part)),
                        (true, false) => Span {
                            first: 1,
                            last: Some(number(to)?),
                        },
                        (false, true) => Span {
                            first: number(from)?,
                            last: None,
                        },
                        (false, false) => {
                            let (first, last) = (number(from)?, number(to)?);
                            if last < first {
                                return Err(PageRangeError::Reversed {
                                    input: input.to_owned(),
                                    first,
                                    last,
                                });
                            }
                            Span {
                                first,
                                last: Some(last),
                            }
                        }
                    }
                }
            };
            spans.push(span);
        }
        Ok(Self { spans })
    }

    /// Parses an optional selection; absent means every page.
    pub fn parse_optional(input: Option<&str>) -> Result<Self, PageRangeError> {
        input.map_or_else(|| Ok(Self::all()), Self::parse)
    }

    /// The selected pages of a document with `page_count` pages, ascending and
    /// without repeats. A page beyond the end is an error, not silently dropped:
    /// asking for page 12 of a 10-page document is almost always a mistake. An
    /// open range (`10-`) needs its start to exist.
    pub fn resolve(&self, page_count: u32) -> Result<PageSet, PageRangeError> {
        if page_count == 0 {
            return Err(PageRangeError::NoPages);
        }
        let mut ranges: Vec<(u32, u32)> = Vec::with_capacity(self.spans.len());
        for span in &self.spans {
            let last = span.last.unwrap_or(page_count);
            for page in [span.first, last] {
                if page > page_count {
                    return Err(PageRangeError::OutOfBounds { page, page_count });
                }
            }
            ranges.push((span.first, last));
        }
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (first, last) in ranges {
            match merged.last_mut() {
                Some((_, prev_last)) if first <= prev_last.saturating_add(1) => {
                    *prev_last = (*prev_last).max(last)
                }
                _ => merged.push((first, last)),
            }
        }
        Ok(PageSet { ranges: merged })
    }
}

impl FromStr for PageRange {
    type Err = PageRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for PageRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, span) in self.spans.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match span.last {
                Some(last) if last == span.first => write!(f, "{}", span.first)?,
                Some(last) => write!(f, "{}-{}", span.first, last)?,
                None => write!(f, "{}-", span.first)?,
            }
        }
        Ok(())
    }
}

/// Concrete pages of one document: sorted, disjoint, inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageSet {
    ranges: Vec<(u32, u32)>,
}

impl PageSet {
    /// Number of selected pages.
    pub fn len(&self) -> u32 {
        self.ranges
            .iter()
            .map(|(first, last)| last - first + 1)
            .sum()
    }

    /// Never true for a resolved selection; here for completeness with `len`.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether `page` (1-based) is selected.
    pub fn contains(&self, page: u32) -> bool {
        self.ranges
            .iter()
            .any(|&(first, last)| (first..=last).contains(&page))
    }

    /// The selected pages, ascending, without materialising them.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.ranges.iter().flat_map(|&(first, last)| first..=last)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pages(selection: &str, count: u32) -> Vec<u32> {
        PageRange::parse(selection)
            .unwrap()
            .resolve(count)
            .unwrap()
            .iter()
            .collect()
    }

    #[test]
    fn single_pages_and_closed_ranges() {
        assert_eq!(pages("1-5,9", 10), vec![1, 2, 3, 4, 5, 9]);
        assert_eq!(pages("3", 3), vec![3]);
        assert_eq!(pages(" 2 - 4 , 7 ", 8), vec![2, 3, 4, 7]);
    }

    #[test]
    fn open_ranges_reach_the_document_edges() {
        assert_eq!(pages("8-", 10), vec![8, 9, 10]);
        assert_eq!(pages("-3", 10), vec![1, 2, 3]);
        assert_eq!(pages("1-", 1), vec![1]);
        assert_eq!(
            PageRange::all()
                .resolve(4)
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
    }

    #[test]
    fn overlaps_and_repeats_are_merged_in_order() {
        assert_eq!(pages("5,1-3,2-6,5", 10), vec![1, 2, 3, 4, 5, 6]);
        let set = PageRange::parse("9,1-2,3").unwrap().resolve(9).unwrap();
        assert_eq!(set.len(), 4);
        assert!(set.contains(3) && set.contains(9) && !set.contains(4));
    }

    #[test]
    fn malformed_selections_are_rejected_with_the_offending_part() {
        for bad in [
            "a", "1-2-3", "1,,2", ",1", "1,", "-", "1.5", "+3", "1 2", "二",
        ] {
            match PageRange::parse(bad) {
                Err(PageRangeError::Malformed { input, .. }) => assert_eq!(input, bad),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        assert_eq!(PageRange::parse("  "), Err(PageRangeError::Empty));
        assert_eq!(PageRange::parse(""), Err(PageRangeError::Empty));
    }

    #[test]
    fn zero_reversed_and_huge_pages_are_rejected() {
        assert!(matches!(
            PageRange::parse("0"),
            Err(PageRangeError::ZeroPage { .. })
        ));
        assert!(matches!(
            PageRange::parse("0-3"),
            Err(PageRangeError::ZeroPage { .. })
        ));
        assert!(matches!(
            PageRange::parse("5-2"),
            Err(PageRangeError::Reversed {
                first: 5,
                last: 2,
                ..
            })
        ));
        assert!(matches!(
            PageRange::parse("99999999999999999999999"),
            Err(PageRangeError::TooLarge { .. })
        ));
        assert!(matches!(
            PageRange::parse("10000001"),
            Err(PageRangeError::TooLarge { .. })
        ));
        assert!(PageRange::parse("10000000").is_ok());
    }

    #[test]
    fn pages_outside_the_document_are_errors() {
        let err = PageRange::parse("1-5,12").unwrap().resolve(10).unwrap_err();
        assert_eq!(
            err,
            PageRangeError::OutOfBounds {
                page: 12,
                page_count: 10
            }
        );
        assert_eq!(
            err.to_string(),
            "page 12 is outside the document, which has 10 page(s)"
        );
        assert!(matches!(
            PageRange::parse("8-12").unwrap().resolve(10),
            Err(PageRangeError::OutOfBounds { page: 12, .. })
        ));
        assert!(matches!(
            PageRange::parse("11-").unwrap().resolve(10),
            Err(PageRangeError::OutOfBounds { page: 11, .. })
        ));
        assert_eq!(PageRange::all().resolve(0), Err(PageRangeError::NoPages));
    }

    #[test]
    fn display_round_trips() {
        for text in ["1-5,9", "10-", "1-3", "4", "2,7-"] {
            assert_eq!(PageRange::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(PageRange::parse("-3").unwrap().to_string(), "1-3");
    }

    #[test]
    fn the_schema_pattern_accepts_what_the_parser_accepts() {
        let pattern = regex_lite::Regex::new(crate::types::PAGE_RANGE_PATTERN).unwrap();
        for good in ["1-5,9", "10-", "-3", " 2 - 4 , 7 ", "1"] {
            assert!(pattern.is_match(good), "{good:?}");
            assert!(PageRange::parse(good).is_ok(), "{good:?}");
        }
        for bad in [
            "a", "1-2-3", "1,,2", ",1", "1,", "-", "1.5", "+3", "1 2", "",
        ] {
            assert!(!pattern.is_match(bad), "{bad:?}");
            assert!(PageRange::parse(bad).is_err(), "{bad:?}");
        }
    }
}
