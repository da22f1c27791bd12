//! Kubernetes resource quantities as numbers: memory limits are multiplied
//! after an out-of-memory kill and compared with a cap, so they must be read,
//! not just passed through.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid quantity")]
pub struct BadQuantity(pub String);

/// The value of a quantity in its base unit (bytes for memory, cores for CPU).
pub fn parse(quantity: &Quantity) -> Result<f64, BadQuantity> {
    let text = quantity.0.trim();
    let bad = || BadQuantity(quantity.0.clone());
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| bad())?;
    let multiplier = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent if exponent.starts_with(['e', 'E']) => {
            let power: i32 = exponent[1..].parse().map_err(|_| bad())?;
            10f64.powi(power)
        }
        _ => return Err(bad()),
    };
    let result = value * multiplier;
    if result.is_finite() && result >= 0.0 {
        Ok(result)
    } else {
        Err(bad())
    }
}

/// Bytes of a memory quantity, rounded up.
pub fn bytes(quantity: &Quantity) -> Result<u64, BadQuantity> {
    Ok(parse(quantity)?.ceil() as u64)
}

/// A memory quantity for `bytes`, in the largest binary unit that keeps it whole.
pub fn from_bytes(bytes: u64) -> Quantity {
    for (unit, size) in [
        ("Ti", 1u64 << 40),
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
/// to whole MiB, or `None` when even the current limit is at the cap.
pub fn escalate_memory(
    current: &Quantity,
    factor: f64,
    cap: &Quantity,
) -> Result<Option<Quantity>, BadQuantity> {
    let (current, cap) = (bytes(current)?, bytes(cap)?);
    if current >= cap {
        return Ok(None);
    }
    let grown = ((current as f64) * factor.max(1.0)).ceil() as u64;
    let mib = 1u64 << 20;
    let rounded = grown.div_ceil(mib) * mib;
    Ok(Some(from_bytes(rounded.min(cap).max(current + 1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.into())
    }

    #[test]
    fn quantities_parse_in_every_notation() {
        assert_eq!(bytes(&q("512Mi")), Ok(512 << 20));
        assert_eq!(bytes(&q("1Gi")), Ok(1 << 30));
        assert_eq!(bytes(&q("1G")), Ok(1_000_000_000));
        assert_eq!(bytes(&q("1.5Gi")), Ok(3 << 29));
        assert_eq!(bytes(&q("128974848")), Ok(128_974_848));
        assert_eq!(bytes(&q("129e6")), Ok(129_000_000));
        assert_eq!(parse(&q("500m")), Ok(0.5));
        assert_eq!(parse(&q("2")), Ok(2.0));
        for bad in ["", "Gi", "1Xi", "lots", "-1Gi", "1e"] {
            assert!(parse(&q(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn bytes_format_in_the_largest_whole_unit() {
        assert_eq!(from_bytes(2 << 30), q("2Gi"));
        assert_eq!(from_bytes(1536 << 20), q("1536Mi"));
        assert_eq!(from_bytes(1000), q("1000"));
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
    }
}
