//! Times as people read them in mail and on the account pages.

use time::OffsetDateTime;

/// Formats a time to the minute in UTC, such as `2026-12-05 14:03 UTC`.
pub fn minute_utc(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_utc_pads_and_converts() {
        let at = time::Date::from_calendar_date(2026, time::Month::January, 5)
            .unwrap()
            .with_hms(3, 7, 59)
            .unwrap()
            .assume_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(minute_utc(at), "2026-01-05 01:07 UTC");
    }
}
