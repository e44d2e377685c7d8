//! RFC 3339 timestamps as the engine writes them (`State.FinishedAt`:
//! `2024-05-01T12:34:56.123456789Z`), to nanoseconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch of an RFC 3339 date-time with up to nine fraction
/// digits and a `Z` or `±hh:mm` offset. `None` for anything else.
pub fn parse_unix_nanos(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = s.get(from..to)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: i128 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let value: i128 = frac[..digits].parse().ok()?;
        nanos = value * 10_i128.pow(9 - digits as u32);
        rest = &frac[digits..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || rb[3] != b':' {
                return None;
            }
            let sign = match rb[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Now, in nanoseconds since the Unix epoch (the engine's clock is this host's).
pub fn now_unix_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_timestamps_parse_to_the_nanosecond() {
        assert_eq!(parse_unix_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_unix_nanos("2024-05-01T12:34:56.123456789Z"),
            Some(1_714_566_896_123_456_789)
        );
        // Fewer digits are a fraction, not a count of nanoseconds.
        assert_eq!(
            parse_unix_nanos("2024-05-01T12:34:56.5Z"),
            Some(1_714_566_896_500_000_000)
        );
        assert_eq!(
            parse_unix_nanos("2000-02-29T23:59:59Z"),
            Some(951_868_799_000_000_000)
        );
    }

    #[test]
    fn offsets_are_applied() {
        assert_eq!(
            parse_unix_nanos("2024-05-01T14:34:56.1+02:00"),
            parse_unix_nanos("2024-05-01T12:34:56.1Z")
        );
        assert_eq!(
            parse_unix_nanos("2024-05-01T07:34:56-05:00"),
            parse_unix_nanos("2024-05-01T12:34:56Z")
        );
    }

    #[test]
    fn malformed_input_is_refused() {
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01T12:34:56",
            "2024-13-01T12:34:56Z",
            "2024-05-01T12:34:56.Z",
            "2024-05-01T12:34:56.1234567891Z",
            "2024-05-01T12:34:56+0200",
            "2024-05-01T1a:34:56Z",
            "२०२४-05-01T12:34:56Z",
        ] {
            assert_eq!(parse_unix_nanos(bad), None, "{bad}");
        }
    }
}
