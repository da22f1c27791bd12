//! Kubernetes resource quantities (`512Mi`, `1.5Gi`, `100m`, `1e3`, `2E`) as
//! exact numbers. Memory limits are multiplied after an out-of-memory kill,
//! compared with caps and enforced by the local executor, so every part must
//! read them the same way, and the way the API server does
//! (`k8s.io/apimachinery/pkg/api/resource`):
//!
//! ```text
//! quantity ::= [+-] number suffix
//! number   ::= digits | digits "." [digits] | "." digits
//! suffix   ::= binarySI (Ki Mi Gi Ti Pi Ei) | decimalSI (n u m "" k M G T P E)
//!            | ("e" | "E") [+-] digits
//! ```
//!
//! Values are kept exactly (no floating point), and rounded up when a whole
//! number of bytes or millicores is needed, as the API server's `Value()` and
//! `MilliValue()` do.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("{0:?} is not a valid quantity (e.g. 512Mi, 1.5Gi, 500m, 1e3)")]
    Syntax(String),
    #[error("{0:?} must not be negative")]
    Negative(String),
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// An exactly parsed quantity: `± digits × 10^exp10 × 2^exp2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount {
    negative: bool,
    digits: u128,
    exp10: i32,
    exp2: u32,
}

/// Digits beyond this many are rejected: the value would not fit any resource anyway.
const MAX_DIGITS: usize = 38;
/// Decimal exponents above this (or below -10 times this) are rejected rather than computed.
const MAX_EXPONENT: i32 = 64;

impl Amount {
    /// Parses the text of a quantity (surrounding whitespace is not allowed,
    /// as in the API server).
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let syntax = || QuantityError::Syntax(text.to_owned());
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_len);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(syntax());
        }
        let all_digits = format!("{whole}{fraction}");
        let significant = all_digits.trim_start_matches('0');
        if significant.len() > MAX_DIGITS {
            return Err(QuantityError::TooLarge(text.to_owned()));
        }
        let digits: u128 = if significant.is_empty() {
            0
        } else {
            significant.parse().map_err(|_| syntax())?
        };
        let fraction_len = i32::try_from(fraction.len()).map_err(|_| syntax())?;
        let (suffix_exp10, exp2) = match suffix {
            "" => (0, 0),
            "n" => (-9, 0),
            "u" => (-6, 0),
            "m" => (-3, 0),
            "k" => (3, 0),
            "M" => (6, 0),
            "G" => (9, 0),
            "T" => (12, 0),
            "P" => (15, 0),
            "E" => (18, 0),
            "Ki" => (0, 10),
            "Mi" => (0, 20),
            "Gi" => (0, 30),
            "Ti" => (0, 40),
            "Pi" => (0, 50),
            "Ei" => (0, 60),
            exponent if exponent.starts_with(['e', 'E']) => {
                let power = &exponent[1..];
                let unsigned = power.strip_prefix(['+', '-']).unwrap_or(power);
                if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(syntax());
                }
                let power: i32 = power
                    .parse()
                    .map_err(|_| QuantityError::TooLarge(text.to_owned()))?;
                // A tiny value is still exact enough to round up; a huge one
                // would only overflow.
                if !(-10 * MAX_EXPONENT..=MAX_EXPONENT).contains(&power) {
                    return Err(QuantityError::TooLarge(text.to_owned()));
                }
                (power, 0)
            }
            _ => return Err(syntax()),
        };
        Ok(Self {
            negative: negative && digits != 0,
            digits,
            exp10: suffix_exp10 - fraction_len,
            exp2,
        })
    }

    pub fn is_negative(self) -> bool {
        self.negative
    }

    /// `ceil(value × 10^scale)` as an integer: scale 0 gives whole units
    /// (bytes), scale 3 gives thousandths (millicores).
    pub fn ceil_scaled(self, scale: i32) -> Option<i128> {
        let exp10 = self.exp10.checked_add(scale)?;
        let mut numerator = i128::try_from(self.digits).ok()?;
        numerator = numerator.checked_mul(1i128.checked_shl(self.exp2)?)?;
        let magnitude = if exp10 >= 0 {
            numerator.checked_mul(10i128.checked_pow(u32::try_from(exp10).ok()?)?)?
        } else {
            let denominator = 10i128.checked_pow(u32::try_from(-exp10).ok()?);
            match denominator {
                // Smaller than any unit: only zero stays zero.
                None => i128::from(numerator != 0),
                Some(d) => {
                    if self.negative {
                        // Rounding up a negative value moves towards zero.
                        numerator / d
                    } else {
                        numerator / d + i128::from(numerator % d != 0)
                    }
                }
            }
        };
        Some(if self.negative { -magnitude } else { magnitude })
    }

    /// The value as a float, for ratios and display only.
    pub fn as_f64(self) -> f64 {
        let value = self.digits as f64 * 10f64.powi(self.exp10) * 2f64.powi(self.exp2 as i32);
        if self.negative { -value } else { value }
    }
}

fn non_negative(q: &str, scale: i32) -> Result<u64, QuantityError> {
    let amount = Amount::parse(q)?;
    if amount.is_negative() {
        return Err(QuantityError::Negative(q.to_owned()));
    }
    amount
        .ceil_scaled(scale)
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| QuantityError::TooLarge(q.to_owned()))
}

/// Bytes of a memory quantity, rounded up; negative quantities are refused.
pub fn bytes(quantity: &Quantity) -> Result<u64, QuantityError> {
    non_negative(&quantity.0, 0)
}

/// Bytes of a memory quantity given as text.
pub fn parse_bytes(text: &str) -> Result<u64, QuantityError> {
    non_negative(text, 0)
}

/// Thousandths of a CPU quantity (`500m` → 500, `2` → 2000), rounded up;
/// negative quantities are refused.
pub fn millicores(quantity: &Quantity) -> Result<u64, QuantityError> {
    non_negative(&quantity.0, 3)
}

/// [`millicores`] of a quantity's text (`"1500m"`, `"2"`).
pub fn parse_millicores(text: &str) -> Result<u64, QuantityError> {
    non_negative(text, 3)
}

/// A validated memory quantity: the text as written (what Jobs carry) and its bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct ByteQuantity {
    quantity: Quantity,
    bytes: u64,
}

impl ByteQuantity {
    pub fn new(quantity: Quantity) -> Result<Self, QuantityError> {
        let bytes = bytes(&quantity)?;
        Ok(Self { quantity, bytes })
    }

    pub fn from_bytes(value: u64) -> Self {
        Self {
            quantity: from_bytes(value),
            bytes: value,
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn quantity(&self) -> &Quantity {
        &self.quantity
    }
}

impl std::str::FromStr for ByteQuantity {
    type Err = QuantityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(Quantity(text.to_owned()))
    }
}

impl std::fmt::Display for ByteQuantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.quantity.0)
    }
}

/// A validated CPU quantity: the text as written and its millicores.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuQuantity {
    quantity: Quantity,
    millicores: u64,
}

impl CpuQuantity {
    pub fn new(quantity: Quantity) -> Result<Self, QuantityError> {
        let millicores = millicores(&quantity)?;
        Ok(Self {
            quantity,
            millicores,
        })
    }

    /// The quantity of `millicores`: whole cores when it divides evenly (`2`), else `500m`.
    pub fn from_millicores(millicores: u64) -> Self {
        let text = if millicores.is_multiple_of(1000) {
            (millicores / 1000).to_string()
        } else {
            format!("{millicores}m")
        };
        Self {
            quantity: Quantity(text),
            millicores,
        }
    }

    pub fn millicores(&self) -> u64 {
        self.millicores
    }

    pub fn quantity(&self) -> &Quantity {
        &self.quantity
    }
}

impl std::str::FromStr for CpuQuantity {
    type Err = QuantityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(Quantity(text.to_owned()))
    }
}

impl std::fmt::Display for CpuQuantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.quantity.0)
    }
}

/// A memory quantity for `bytes`, in the largest binary unit that keeps it whole.
pub fn from_bytes(bytes: u64) -> Quantity {
    for (unit, size) in [
        ("Ei", 1u64 << 60),
        ("Pi", 1 << 50),
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return Quantity(format!("{}{unit}", bytes / size));
        }
    }
    Quantity(bytes.to_string())
}

/// The memory limit after an out-of-memory kill: `current × factor`, rounded up
/// to whole MiB and at most `cap`, or `None` when the current limit is already
/// at the cap.
pub fn escalate_memory(
    current: &Quantity,
    factor: f64,
    cap: &Quantity,
) -> Result<Option<Quantity>, QuantityError> {
    let (current, cap) = (bytes(current)?, bytes(cap)?);
    if current >= cap {
        return Ok(None);
    }
    let grown = ((current as f64) * factor.max(1.0)).ceil();
    let grown = if grown >= u64::MAX as f64 {
        u64::MAX
    } else {
        grown as u64
    };
    let mib = 1u64 << 20;
    let rounded = grown.div_ceil(mib).saturating_mul(mib);
    Ok(Some(from_bytes(rounded.min(cap).max(current + 1))))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.into())
    }

    /// The examples of the Kubernetes API's quantity documentation and tests
    /// (`resource.Quantity`), as bytes (`Value()`, rounded up).
    #[test]
    fn the_kubernetes_examples_parse_to_their_values() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("100", 100),
            ("100m", 1),
            ("1.5Gi", 3 << 29),
            ("1e3", 1000),
            ("1E3", 1000),
            ("1e+3", 1000),
            ("2E", 2_000_000_000_000_000_000),
            ("1Ei", 1 << 60),
            ("7Pi", 7 << 50),
            ("3P", 3_000_000_000_000_000),
            ("512Mi", 512 << 20),
            ("1Gi", 1 << 30),
            ("1G", 1_000_000_000),
            ("128974848", 128_974_848),
            ("129e6", 129_000_000),
            ("129M", 129_000_000),
            ("123Mi", 123 << 20),
            ("5k", 5000),
            (".5Ki", 512),
            ("1.", 1),
            ("+12", 12),
            ("0.1", 1),
            ("1n", 1),
            ("1500u", 1),
            ("0000012", 12),
            ("1.000000000000000000000000000001", 2),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_bytes(text), Ok(*expected), "{text}");
        }
    }

    #[test]
    fn millicores_round_up_like_milli_value() {
        for (text, expected) in [
            ("100m", 100),
            ("2", 2000),
            ("1.5", 1500),
            ("0.0001", 1),
            ("250u", 1),
            ("1e-3", 1),
            ("1e3", 1_000_000),
        ] {
            assert_eq!(millicores(&q(text)), Ok(expected), "{text}");
        }
    }

    #[test]
    fn negatives_are_quantities_but_not_sizes() {
        assert!(Amount::parse("-1").unwrap().is_negative());
        assert_eq!(Amount::parse("-1").unwrap().ceil_scaled(0), Some(-1));
        assert_eq!(Amount::parse("-1.5").unwrap().ceil_scaled(0), Some(-1));
        assert!(!Amount::parse("-0").unwrap().is_negative());
        for text in ["-1", "-1Gi", "-100m"] {
            assert_eq!(
                parse_bytes(text),
                Err(QuantityError::Negative(text.into())),
                "{text}"
            );
        }
    }

    #[test]
    fn garbage_is_refused() {
        for text in [
            "", " ", "Gi", "1Xi", "lots", "1e", "1e+", "1ee3", "1.2.3", ".", "-", "+", "1 Gi",
            " 1Gi", "1Gi ", "1gi", "1K", "1e3.5", "0x10", "1Gi1", "∞",
        ] {
            assert!(
                matches!(Amount::parse(text), Err(QuantityError::Syntax(_))),
                "{text:?} parsed"
            );
        }
    }

    #[test]
    fn huge_values_are_refused_not_wrapped() {
        assert!(matches!(
            parse_bytes("20Ei"),
            Err(QuantityError::TooLarge(_))
        ));
        assert!(matches!(
            parse_bytes("1e100"),
            Err(QuantityError::TooLarge(_))
        ));
        assert!(matches!(
            parse_bytes("1234567890123456789012345678901234567890"),
            Err(QuantityError::TooLarge(_))
        ));
        assert_eq!(
            parse_bytes("1e-100"),
            Ok(1),
            "tiny but positive rounds up to one"
        );
        assert_eq!(parse_bytes("0e-100"), Ok(0));
    }

    #[test]
    fn bytes_format_in_the_largest_whole_unit() {
        assert_eq!(from_bytes(2 << 30), q("2Gi"));
        assert_eq!(from_bytes(1536 << 20), q("1536Mi"));
        assert_eq!(from_bytes(1000), q("1000"));
        assert_eq!(from_bytes(3 << 60), q("3Ei"));
        for bytes in [0, 1, 1023, 1024, 5 << 40, 123_456_789] {
            assert_eq!(parse_bytes(&from_bytes(bytes).0), Ok(bytes), "{bytes}");
        }
    }

    #[test]
    fn typed_quantities_keep_their_text_and_value() {
        let memory: ByteQuantity = "1.5Gi".parse().unwrap();
        assert_eq!(
            (memory.bytes(), memory.to_string()),
            (3 << 29, "1.5Gi".into())
        );
        assert_eq!(ByteQuantity::from_bytes(2 << 30).to_string(), "2Gi");
        let cpu: CpuQuantity = "500m".parse().unwrap();
        assert_eq!((cpu.millicores(), cpu.quantity().0.as_str()), (500, "500m"));
        assert_eq!(CpuQuantity::from_millicores(2000).to_string(), "2");
        assert_eq!(CpuQuantity::from_millicores(1500).to_string(), "1500m");
        assert!("-1".parse::<ByteQuantity>().is_err());
        assert!("two".parse::<CpuQuantity>().is_err());
    }

    #[test]
    fn memory_escalates_by_the_factor_up_to_the_cap() {
        assert_eq!(
            escalate_memory(&q("512Mi"), 2.0, &q("4Gi")),
            Ok(Some(q("1Gi")))
        );
        assert_eq!(
            escalate_memory(&q("3Gi"), 2.0, &q("4Gi")),
            Ok(Some(q("4Gi")))
        );
        assert_eq!(escalate_memory(&q("4Gi"), 2.0, &q("4Gi")), Ok(None));
        assert_eq!(
            escalate_memory(&q("100M"), 1.5, &q("1Gi")),
            Ok(Some(q("144Mi")))
        );
        assert!(escalate_memory(&q("-1Gi"), 2.0, &q("4Gi")).is_err());
    }
}
