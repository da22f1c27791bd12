//! Character error rate, the accuracy measure of the tests and benchmarks.

/// Collapses every run of whitespace to one space and trims the ends, so that
/// line breaks and spacing differences between engines do not count as errors.
pub fn normalize_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Levenshtein distance between `reference` and `hypothesis` over Unicode
/// scalar values, divided by the reference length (after whitespace
/// normalisation). 0 is perfect; can exceed 1 for long garbage.
pub fn character_error_rate(reference: &str, hypothesis: &str) -> f64 {
    let reference: Vec<char> = normalize_whitespace(reference).chars().collect();
    let hypothesis: Vec<char> = normalize_whitespace(hypothesis).chars().collect();
    if reference.is_empty() {
        return if hypothesis.is_empty() { 0.0 } else { 1.0 };
    }
    let mut previous: Vec<usize> = (0..=hypothesis.len()).collect();
    let mut current = vec![0; hypothesis.len() + 1];
    for (i, r) in reference.iter().enumerate() {
        current[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let substitution = previous[j] + usize::from(r != h);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[hypothesis.len()] as f64 / reference.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_texts_have_no_errors() {
        assert_eq!(
            character_error_rate("대한민국 헌법", "대한민국  헌법\n"),
            0.0
        );
    }

    #[test]
    fn errors_are_counted_per_character() {
        assert_eq!(character_error_rate("abcd", "abxd"), 0.25);
        assert_eq!(character_error_rate("abcd", "abd"), 0.25);
        assert_eq!(character_error_rate("한국어", "한국어다"), 1.0 / 3.0);
        assert_eq!(character_error_rate("", ""), 0.0);
        assert_eq!(character_error_rate("", "x"), 1.0);
    }
}
