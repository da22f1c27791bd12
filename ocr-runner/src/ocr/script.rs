//! Telling scripts apart after recognition. With `kor+eng`, Tesseract decides
//! word by word which model read it better, and on scans it often picks wrong:
//! a blurred Hangul word comes back as Latin letters (`출력을` → `SHS`), and a
//! Latin option name read by the Korean model comes back as digits or Hangul
//! (`--inodes` → `--100065`). These functions find the words worth reading
//! again with a single-language model, using the line around them.

/// Hangul syllables and jamo.
pub fn is_hangul(c: char) -> bool {
    matches!(c, '\u{AC00}'..='\u{D7A3}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}')
}

/// Share of Hangul among the letters of `text` (0 when it has none).
pub fn hangul_ratio<'a>(words: impl IntoIterator<Item = &'a str>) -> f32 {
    let (mut hangul, mut letters) = (0u32, 0u32);
    for word in words {
        for c in word.chars() {
            if is_hangul(c) {
                hangul += 1;
                letters += 1;
            } else if c.is_alphabetic() {
                letters += 1;
            }
        }
    }
    if letters == 0 {
        0.0
    } else {
        hangul as f32 / letters as f32
    }
}

/// Dashes and look-alikes Tesseract reads an option's hyphens as.
fn is_dash_like(c: char) -> bool {
    matches!(c, '-' | '—' | '–' | '‒' | '―' | '~' | '_' | '−')
}

/// A command-line option: starts with a dash and continues in ASCII.
pub fn is_option_like(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(is_dash_like)
        && word
            .chars()
            .skip_while(|&c| is_dash_like(c))
            .any(|c| c.is_ascii_alphanumeric())
}

/// A Latin-only word: ASCII letters, no Hangul.
pub fn is_latin_word(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_alphabetic()) && !word.chars().any(is_hangul)
}

/// Which model should read a word again, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reread {
    /// Probably Hangul read as Latin: try the Korean model alone.
    AsKorean,
    /// Probably Latin (an option name) read by the Korean model: try English alone.
    AsLatin,
}

/// Decides whether `word` (recognised with `confidence`, 0–1) in a line whose
/// letters are `line_hangul` Hangul should be read again. `korean_first`:
/// the word was read by the Korean model alone, so any doubtful Latin word
/// deserves the English model.
pub fn reread(word: &str, confidence: f32, line_hangul: f32, korean_first: bool) -> Option<Reread> {
    if is_option_like(word) {
        // Options are Latin; a digit or Hangul inside one, or low confidence,
        // means the wrong model read it.
        let suspicious = word.chars().any(|c| is_hangul(c) || c.is_ascii_digit())
            || !word.is_ascii()
            || confidence < 0.85;
        return suspicious.then_some(Reread::AsLatin);
    }
    if korean_first {
        let latin = is_latin_word(word) || word.chars().any(|c| c.is_ascii_digit());
        return (latin && confidence < 0.9).then_some(Reread::AsLatin);
    }
    if line_hangul >= 0.5
        && is_latin_word(word)
        && word.chars().filter(|c| c.is_alphabetic()).count() <= 6
    {
        return Some(Reread::AsKorean);
    }
    if line_hangul < 0.2 && word.chars().any(is_hangul) && confidence < 0.8 {
        return Some(Reread::AsLatin);
    }
    None
}

/// Whether a re-read replaces the first reading.
pub fn accept(
    kind: Reread,
    first: &str,
    first_confidence: f32,
    text: &str,
    confidence: f32,
) -> bool {
    match kind {
        // Only a reading that found Hangul, and is not much less sure.
        Reread::AsKorean => text.chars().any(is_hangul) && confidence + 0.1 >= first_confidence,
        Reread::AsLatin => {
            // An option name is Latin: a reading without digits or Hangul wins
            // over one with them unless it is much less sure.
            let clean = |t: &str| !t.chars().any(|c| is_hangul(c) || c.is_ascii_digit());
            !text.is_empty()
                && !text.chars().any(is_hangul)
                && (confidence >= first_confidence
                    || (clean(text) && !clean(first) && confidence + 0.25 >= first_confidence))
        }
    }
}

/// Spells an option's leading dashes as hyphens (`—-total` → `--total`,
/// `~T,` → `-T,`) and its inner dashes too (`ignore—case` → `ignore-case`).
/// Other words are left alone: an em dash in prose is punctuation.
pub fn normalize_option(word: &str) -> String {
    if !is_option_like(word) {
        return word.to_owned();
    }
    word.chars()
        .map(|c| if is_dash_like(c) && c != '_' { '-' } else { c })
        .collect()
}

/// A lone mark of punctuation read with low confidence: dust on the scan.
pub fn is_speck(word: &str, confidence: f32) -> bool {
    confidence < 0.6 && word.chars().count() <= 2 && word.chars().all(|c| !c.is_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_recognised_and_normalised() {
        assert!(is_option_like("--verbose"));
        assert!(is_option_like("—-total"));
        assert!(is_option_like("~T,"));
        assert!(!is_option_like("-"));
        assert!(!is_option_like("—"));
        assert!(!is_option_like("verbose"));
        assert_eq!(normalize_option("—-total"), "--total");
        assert_eq!(normalize_option("——all"), "--all");
        assert_eq!(normalize_option("~h,"), "-h,");
        assert_eq!(normalize_option("—-ignore—case"), "--ignore-case");
        assert_eq!(normalize_option("--file=ARCHIVE"), "--file=ARCHIVE");
        assert_eq!(normalize_option("word—word"), "word—word");
    }

    #[test]
    fn words_in_the_wrong_script_are_reread() {
        // A Hangul line with a short Latin word in it.
        let line = hangul_ratio(["파일", "시스템의", "SAS", "보여"]);
        assert!(line > 0.5);
        assert_eq!(reread("SAS", 0.9, line, false), Some(Reread::AsKorean));
        assert_eq!(reread("시스템의", 0.9, line, false), None);
        assert_eq!(reread("--100065", 0.9, line, false), Some(Reread::AsLatin));
        assert_eq!(reread("--inodes", 0.95, line, false), None);
        assert_eq!(reread("gzip으로", 0.9, line, false), None);
        // English lines keep their words.
        let english = hangul_ratio(["copy", "files", "and", "directories"]);
        assert_eq!(reread("copy", 0.5, english, false), None);
        assert!(accept(Reread::AsKorean, "SAS", 0.8, "공간을", 0.75));
        assert!(!accept(Reread::AsKorean, "SAS", 0.8, "SAS", 0.95));
        assert!(accept(Reread::AsLatin, "--100065", 0.6, "--inodes", 0.9));
        assert!(accept(Reread::AsLatin, "--100065", 0.9, "--inodes", 0.7));
        assert!(!accept(Reread::AsLatin, "--verbos", 0.9, "--inodes", 0.6));
    }

    #[test]
    fn specks_are_lone_low_confidence_marks() {
        assert!(is_speck(":", 0.3));
        assert!(!is_speck(":", 0.9));
        assert!(!is_speck("a", 0.1));
        assert!(!is_speck("---", 0.1));
    }
}
