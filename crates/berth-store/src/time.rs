//! Time values as the store keeps them: Unix milliseconds, and the engine's RFC 3339 strings.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds (0 if the clock reads before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parse an RFC 3339 timestamp as the Docker Engine reports it
/// (`2024-05-01T12:00:03.123456789Z`, or with a `+02:00` offset) into Unix milliseconds.
/// Finer digits are dropped, not rounded.
///
/// Returns `None` for anything else, and for the engine's zero time (`0001-01-01T00:00:00Z`),
/// which means "never".
pub fn unix_ms_from_rfc3339(s: &str) -> Option<i64> {
    i64::try_from(unix_nanos_from_rfc3339(s)?.div_euclid(1_000_000)).ok()
}

/// [`unix_ms_from_rfc3339`] to the nanosecond: digits past the ninth of the fraction are
/// dropped.
pub fn unix_nanos_from_rfc3339(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if year <= 1 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }

    let mut rest = &b[19..];
    let mut nanos = 0;
    if let Some((b'.', frac)) = rest.split_first() {
        let len = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        let mut scale = 100_000_000;
        for c in &frac[..len.min(9)] {
            nanos += i64::from(c - b'0') * scale;
            scale /= 10;
        }
        rest = &frac[len..];
    }
    let offset_s = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            let offset = h * 3600 + m * 60;
            if *sign == b'+' {
                offset
            } else {
                -offset
            }
        }
        _ => return None,
    };

    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Some(i128::from(secs) * 1_000_000_000 + i128::from(nanos))
}

pub use berth_core::time::rfc3339_from_unix_nanos;

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_engine_timestamps() {
        assert_eq!(unix_ms_from_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            unix_ms_from_rfc3339("2024-05-01T12:00:03.123456789Z"),
            Some(1_714_564_803_123)
        );
        assert_eq!(
            unix_ms_from_rfc3339("2024-05-01T14:00:03.5+02:00"),
            Some(1_714_564_803_500)
        );
        assert_eq!(
            unix_ms_from_rfc3339("2000-02-29T00:00:00-01:30"),
            Some(951_787_800_000)
        );
    }

    #[test]
    fn parses_to_the_nanosecond() {
        assert_eq!(unix_nanos_from_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            unix_nanos_from_rfc3339("2024-05-01T12:34:56.123456789Z"),
            Some(1_714_566_896_123_456_789)
        );
        // Fewer digits are a fraction, not a count of nanoseconds; more than nine are cut.
        assert_eq!(
            unix_nanos_from_rfc3339("2024-05-01T12:34:56.5Z"),
            Some(1_714_566_896_500_000_000)
        );
        assert_eq!(
            unix_nanos_from_rfc3339("2024-05-01T12:34:56.1234567891Z"),
            Some(1_714_566_896_123_456_789)
        );
        assert_eq!(
            unix_nanos_from_rfc3339("2024-05-01T07:34:56-05:00"),
            unix_nanos_from_rfc3339("2024-05-01T12:34:56Z")
        );
        // Before 1970 a fraction still counts forward, and milliseconds round down.
        assert_eq!(
            unix_nanos_from_rfc3339("1969-12-31T23:59:59.5Z"),
            Some(-500_000_000)
        );
        assert_eq!(unix_ms_from_rfc3339("1969-12-31T23:59:59.0005Z"), Some(-1000));
    }

    #[test]
    fn formats_event_times_like_finished_at() {
        assert_eq!(
            rfc3339_from_unix_nanos(1_714_564_803_123_456_789).as_deref(),
            Some("2024-05-01T12:00:03.123456789Z")
        );
        assert_eq!(
            rfc3339_from_unix_nanos(1_714_564_803_120_000_000).as_deref(),
            Some("2024-05-01T12:00:03.12Z")
        );
        assert_eq!(
            rfc3339_from_unix_nanos(951_782_400_000_000_000).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(rfc3339_from_unix_nanos(0), None);
        for nanos in [
            1_i64,
            86_399_999_999_999,
            1_714_564_803_999_000_001,
            4_102_444_800_000_000_000,
        ] {
            let s = rfc3339_from_unix_nanos(nanos).unwrap();
            assert_eq!(unix_ms_from_rfc3339(&s), Some(nanos / 1_000_000), "{s}");
        }
    }

    #[test]
    fn zero_time_and_garbage_are_none() {
        for s in [
            "0001-01-01T00:00:00Z",
            "",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-05-01T12:00:03",
            "2024-05-01T12:00:03.Z",
            "2024-05-01T12:00:03Zjunk",
            "2024-05-01T12:34:56+0200",
            "2024-05-01T1a:34:56Z",
            "२०२४-05-01T12:34:56Z",
        ] {
            assert_eq!(unix_ms_from_rfc3339(s), None, "{s}");
        }
    }
}
