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

/// Where a word sits in its line, as far as scripts go.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WordContext {
    /// Share of Hangul among the line's letters.
    pub line_hangul: f32,
    /// The words on either side are Latin words (or the line ends there),
    /// and at least one of them is.
    pub between_latin: bool,
    /// A word on either side is a Latin word.
    pub beside_latin: bool,
}

impl WordContext {
    /// The context of each word of `line`, in order.
    pub fn of_line(line: &[&str]) -> Vec<Self> {
        let line_hangul = hangul_ratio(line.iter().copied());
        let latin = |i: Option<usize>| i.and_then(|i| line.get(i)).map(|w| is_latin_word(w));
        (0..line.len())
            .map(|index| {
                let (before, after) = (latin(index.checked_sub(1)), latin(index.checked_add(1)));
                let beside_latin = before == Some(true) || after == Some(true);
                Self {
                    line_hangul,
                    between_latin: beside_latin && before != Some(false) && after != Some(false),
                    beside_latin,
                }
            })
            .collect()
    }
}

/// Digits only (with punctuation), no letters: `009`, `046.`.
fn is_number_like(word: &str) -> bool {
    word.chars().filter(|c| c.is_ascii_digit()).count() >= 2
        && !word.chars().any(char::is_alphabetic)
}

/// Decides whether `word`, recognised with `confidence` (0–1) in `context`,
/// should be read again. `korean_first`: the word was read by the Korean model
/// alone, so any doubtful Latin word deserves the English model, and so does
/// a number or a short Hangul word among English words: the Korean model reads
/// short lowercase words as digits (`dog` → `009`) with high confidence.
pub fn reread(
    word: &str,
    confidence: f32,
    context: WordContext,
    korean_first: bool,
) -> Option<Reread> {
    let line_hangul = context.line_hangul;
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
        let hangul = word.chars().any(is_hangul);
        // Hangul glued to Latin letters or digits (`Lunch다`, `하16`) is one
        // English word half read as Korean.
        let mixed = hangul && word.chars().any(|c| c.is_ascii_alphanumeric());
        let among_english = (context.beside_latin && mixed)
            || (context.between_latin
                && (is_number_like(word)
                    || (hangul && word.chars().count() <= 3 && confidence < 0.8)));
        return ((latin && confidence < 0.9) || among_english).then_some(Reread::AsLatin);
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

/// Whether a word has the shape of English the Korean model misread: Hangul
/// glued to ASCII letters or digits (`하16`, `Lunch다`), a loose jamo (`ㅁ`,
/// never a word of written Korean), or a number (`dog` → `009`, `a` → `3`).
/// A lone syllable is not: Tesseract's words split Korean words into syllables.
fn misread_shape(word: &str) -> bool {
    let hangul = word.chars().any(is_hangul);
    let ascii = word.chars().any(|c| c.is_ascii_alphanumeric());
    let jamo = word.chars().any(|c| matches!(c, '\u{3130}'..='\u{318F}'));
    let number = word.chars().any(|c| c.is_ascii_digit()) && !word.chars().any(char::is_alphabetic);
    (hangul && ascii) || jamo || number
}

/// Runs of misread-shaped words next to a Latin word, in a line that is not
/// mostly Hangul (where `gzip으로` and `이` are Korean as written).
fn misread_runs(line: &[&str]) -> Vec<std::ops::Range<usize>> {
    if hangul_ratio(line.iter().copied()) >= 0.5 {
        return Vec::new();
    }
    let latin = |i: usize| line.get(i).is_some_and(|w| is_latin_word(w));
    let mut runs = Vec::new();
    let mut index = 0;
    while index < line.len() {
        if !misread_shape(line[index]) {
            index += 1;
            continue;
        }
        let start = index;
        while index < line.len() && misread_shape(line[index]) {
            index += 1;
        }
        if (start > 0 && latin(start - 1)) || latin(index) {
            runs.push(start..index);
        }
    }
    runs
}

/// Runs of words in a line the Korean model read alone that are worth reading
/// again together with the English model, with the Latin word on either side:
/// the Korean model splits an English word into syllable groups and digits
/// (`The dog sat` → `하16 009 sat`), and only the run read as one has the
/// letters the split scattered. Genuine Korean words are never part of a run.
pub fn misread_spans(line: &[&str]) -> Vec<std::ops::Range<usize>> {
    let latin = |i: usize| line.get(i).is_some_and(|w| is_latin_word(w));
    let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
    for run in misread_runs(line) {
        let start = if run.start > 0 && latin(run.start - 1) {
            run.start - 1
        } else {
            run.start
        };
        let end = if latin(run.end) { run.end + 1 } else { run.end };
        // Two runs around one Latin word share it: read them as one.
        match spans.last_mut() {
            Some(last) if last.end > start => last.end = end,
            _ => spans.push(start..end),
        }
    }
    spans
}

/// Whether the English reading `text` of a run replaces the first reading
/// `first`: no Hangul, at least half as many characters (the Korean model
/// splits words, so their number says little), fewer misread-shaped words,
/// and hardly less sure (the Korean model is sure of the digits it misreads).
pub fn accept_span(first: &[&str], first_confidence: f32, text: &[&str], confidence: f32) -> bool {
    let chars = |words: &[&str]| words.iter().map(|w| w.chars().count()).sum::<usize>();
    let shapes = |words: &[&str]| words.iter().filter(|w| misread_shape(w)).count();
    !text.is_empty()
        && chars(text) * 2 >= chars(first)
        && !text.iter().any(|w| w.chars().any(is_hangul))
        && shapes(text) < shapes(first)
        && confidence + 0.1 >= first_confidence
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
        let words = ["파일", "시스템의", "SAS", "보여"];
        let line = WordContext::of_line(&words)[2];
        assert!(line.line_hangul > 0.5 && !line.between_latin);
        assert_eq!(reread("SAS", 0.9, line, false), Some(Reread::AsKorean));
        assert_eq!(reread("시스템의", 0.9, line, false), None);
        assert_eq!(reread("--100065", 0.9, line, false), Some(Reread::AsLatin));
        assert_eq!(reread("--inodes", 0.95, line, false), None);
        assert_eq!(reread("gzip으로", 0.9, line, false), None);
        // English lines keep their words.
        let english = WordContext::of_line(&["copy", "files", "and", "directories"])[0];
        assert_eq!(reread("copy", 0.5, english, false), None);
        assert!(accept(Reread::AsKorean, "SAS", 0.8, "공간을", 0.75));
        assert!(!accept(Reread::AsKorean, "SAS", 0.8, "SAS", 0.95));
        assert!(accept(Reread::AsLatin, "--100065", 0.6, "--inodes", 0.9));
        assert!(accept(Reread::AsLatin, "--100065", 0.9, "--inodes", 0.7));
        assert!(!accept(Reread::AsLatin, "--verbos", 0.9, "--inodes", 0.6));
    }

    #[test]
    fn numbers_among_english_words_are_reread_when_korean_read_first() {
        let words = ["the", "009", "barked", "046", "본다", "2024", "년", "12"];
        let among = |i: usize| reread(words[i], 0.95, WordContext::of_line(&words)[i], true);
        assert_eq!(among(1), Some(Reread::AsLatin));
        // A number next to Hangul is a Korean number.
        assert_eq!(among(3), None);
        assert_eq!(among(5), None);
        assert_eq!(among(7), None);
        // The same word when the English model has already had its say.
        assert_eq!(
            reread("009", 0.95, WordContext::of_line(&words)[1], false),
            None
        );
        // A short Hangul word between English words, read with doubt.
        let mixed = ["to", "푸", "office"];
        assert_eq!(
            reread("푸", 0.6, WordContext::of_line(&mixed)[1], true),
            Some(Reread::AsLatin)
        );
        assert_eq!(
            reread("푸", 0.9, WordContext::of_line(&mixed)[1], true),
            None
        );
        // Hangul glued to Latin beside an English word; a Korean word with a
        // Latin tail beside Korean words stays.
        let glued = ["Lunch다", "15", "served"];
        assert_eq!(
            reread("Lunch다", 0.95, WordContext::of_line(&glued)[0], true),
            None,
            "its neighbour is a number, not yet a word"
        );
        let glued = ["Lunch다", "is", "served"];
        assert_eq!(
            reread("Lunch다", 0.95, WordContext::of_line(&glued)[0], true),
            Some(Reread::AsLatin)
        );
        let korean = ["파일을", "gzip으로", "압축한다"];
        assert_eq!(
            reread("gzip으로", 0.95, WordContext::of_line(&korean)[1], true),
            None
        );
        // An English reading without digits replaces the number unless much less sure.
        assert!(accept(Reread::AsLatin, "009", 0.95, "dog", 0.8));
        assert!(!accept(Reread::AsLatin, "2024", 0.95, "ZOZA", 0.5));
    }

    #[test]
    fn english_words_misread_by_the_korean_model_are_read_again_in_runs() {
        let misread = ["하16", "009", "sat", "by", "the", "door."];
        assert_eq!(misread_spans(&misread), vec![0..3]);
        let english = ["The", "dog", "sat"];
        assert!(accept_span(&misread[0..3], 0.95, &english, 0.88));
        assert!(
            !accept_span(&misread[0..3], 0.95, &english, 0.8),
            "much less sure"
        );
        assert!(
            !accept_span(&misread[0..3], 0.9, &["Th"], 0.95),
            "letters lost"
        );
        let split = ["Our", "office", "ㅁ", "ㅠ", "70460", "10", "a", "new"];
        assert_eq!(misread_spans(&split), vec![1..7]);
        assert!(accept_span(
            &split[1..7],
            0.7,
            &["office", "moved", "toa"],
            0.97
        ));
        assert!(!accept_span(
            &misread[0..3],
            0.9,
            &["The", "밥", "sat"],
            0.95
        ));
        // Genuine Korean words in an English line stay out of every run.
        let line = ["morning.", "회의는", "아침", "Lunch다", "is", "served"];
        assert_eq!(misread_spans(&line), vec![3..5]);
        // Korean lines, and English lines with nothing misread-looking, have none.
        assert!(misread_spans(&["파일을", "gzip으로", "압축한다", "이", "책"]).is_empty());
        assert!(misread_spans(&["boxes.", "짐", "정", "리", "는", "금", "요", "일"]).is_empty());
        assert!(misread_spans(&["copy", "files", "and", "directories"]).is_empty());
        // A real number is read again but kept: the English reading has it too.
        let dated = ["in", "2024", "the", "rules"];
        assert_eq!(misread_spans(&dated), vec![0..3]);
        assert!(!accept_span(&dated[0..3], 0.9, &dated[0..3], 0.95));
        // A jamo read for a letter, and a lone digit for a word.
        assert!(accept_span(&["r", "ㅁ"], 0.86, &["ri"], 0.91));
        assert_eq!(misread_spans(&["is", "3", "holiday,", "so"]), vec![0..3]);
        assert!(accept_span(
            &["is", "3", "holiday,"],
            0.95,
            &["is", "a", "holiday,"],
            0.9
        ));
        assert!(!accept_span(
            &["is", "3", "holiday,"],
            0.95,
            &["is", "3", "holiday,"],
            0.97
        ));
        // Runs that share a Latin word become one span.
        assert_eq!(misread_spans(&["하16", "dog", "046", "due"]), vec![0..4]);
    }

    #[test]
    fn specks_are_lone_low_confidence_marks() {
        assert!(is_speck(":", 0.3));
        assert!(!is_speck(":", 0.9));
        assert!(!is_speck("a", 0.1));
        assert!(!is_speck("---", 0.1));
    }
}
