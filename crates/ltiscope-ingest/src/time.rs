//! Timestamps as Caliper and xAPI senders really write them.

use chrono::{DateTime, Utc};
use ltiscope_model::Timestamp;

/// Parses an ISO 8601 / RFC 3339 date-time with an offset. Accepts `Z`, `+00:00` and the
/// colon-less `+0000` that the JavaScript Caliper sensors send; fractional seconds optional.
/// A date without a time, or a time without an offset, is not a date-time and is refused.
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // `...+0000` / `...-0530`: insert the colon RFC 3339 requires and try again.
    let bytes = s.as_bytes();
    // Only an ASCII tail can be an offset; checking the boundary keeps non-ASCII input from
    // being split inside a character.
    if bytes.len() > 5 && s.is_char_boundary(s.len() - 5) {
        let (head, offset) = s.split_at(s.len() - 5);
        let ob = offset.as_bytes();
        if (ob[0] == b'+' || ob[0] == b'-') && ob[1..].iter().all(u8::is_ascii_digit) {
            let fixed = format!("{head}{}:{}", &offset[..3], &offset[3..]);
            if let Ok(t) = DateTime::parse_from_rfc3339(&fixed) {
                return Some(t.with_timezone(&Utc));
            }
        }
    }
    None
}

/// True for an ISO 8601 duration such as `PT2H30M`, `P1DT5M`, `PT0.5S`, `P3W`.
pub fn is_iso_duration(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('P') else {
        return false;
    };
    if rest.is_empty() {
        return false;
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return false;
            }
            (d, Some(t))
        }
        None => (rest, None),
    };
    fn designators(part: &str, allowed: &str) -> bool {
        let mut number = String::new();
        let mut last = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                number.push(c);
            } else {
                let Some(pos) = allowed.find(c) else {
                    return false;
                };
                if number.is_empty() || pos < last {
                    return false;
                }
                last = pos + 1;
                number.clear();
            }
        }
        number.is_empty()
    }
    designators(date, "YMWD") && time.is_none_or(|t| designators(t, "HMS"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_offset_spellings() {
        let z = parse_timestamp("2020-12-24T17:38:11.660Z").unwrap();
        assert_eq!(parse_timestamp("2020-12-24T17:38:11.660+00:00"), Some(z));
        assert_eq!(parse_timestamp("2020-12-24T17:38:11.660+0000"), Some(z));
        assert_eq!(
            parse_timestamp("2020-12-24T18:38:11.660+0100"),
            Some(z),
            "offsets are applied"
        );
        assert!(parse_timestamp("2020-12-24T17:38:11Z").is_some());
    }

    #[test]
    fn refuses_what_is_not_a_date_time() {
        for bad in [
            "2016-09-15",
            "2016-09-15T10:00:00",
            "yesterday",
            "",
            "+0000",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn regression_non_ascii_tail_does_not_split_inside_a_character() {
        // Found by the mutated-fixtures property test: a 4-byte character ending the string.
        assert_eq!(parse_timestamp("/\t\"\tEL={\\8\u{1F574}\u{F3328}"), None);
        assert_eq!(parse_timestamp("2020-12-24T17:38:11Z\u{1F574}"), None);
    }

    #[test]
    fn durations() {
        for good in ["PT2H30M", "P1DT5M", "PT0.5S", "P3W", "P1Y2M3DT4H5M6S"] {
            assert!(is_iso_duration(good), "{good}");
        }
        for bad in ["2016-09-15T10:00:00.000Z", "P", "PT", "P1H", "PT5M1H", "5M"] {
            assert!(!is_iso_duration(bad), "{bad}");
        }
    }
}
