//! ISO-8601 UTC timestamps (`2026-11-24T19:15:21.123Z`), the form every frame and health reply uses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Formats a moment as ISO-8601 UTC with millisecond precision and a trailing `Z`.
/// Moments before 1970 are clamped to the epoch: no clock we read reports them.
pub fn iso8601(moment: SystemTime) -> String {
    let since_epoch = moment.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    iso8601_from_millis(since_epoch.as_millis() as i64)
}

/// Formats milliseconds since the Unix epoch as ISO-8601 UTC.
pub fn iso8601_from_millis(millis: i64) -> String {
    let millis = millis.max(0);
    let days = millis.div_euclid(86_400_000);
    let ms_of_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second, ms) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{ms:03}Z")
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), by Howard Hinnant's
/// published era arithmetic (400-year eras of 146,097 days, years starting in March).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch() {
        assert_eq!(iso8601_from_millis(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn known_moments() {
        // 2000-02-29 (leap day of a century leap year) 12:34:56.789
        assert_eq!(
            iso8601_from_millis(951_827_696_789),
            "2000-02-29T12:34:56.789Z"
        );
        // Last millisecond of 2023, first of 2024.
        assert_eq!(
            iso8601_from_millis(1_704_067_199_999),
            "2023-12-31T23:59:59.999Z"
        );
        assert_eq!(
            iso8601_from_millis(1_704_067_200_000),
            "2024-01-01T00:00:00.000Z"
        );
        // 2100 is not a leap year: Feb 28 is followed by Mar 1.
        assert_eq!(
            iso8601_from_millis(4_107_456_000_000),
            "2100-02-28T00:00:00.000Z"
        );
        assert_eq!(
            iso8601_from_millis(4_107_542_400_000),
            "2100-03-01T00:00:00.000Z"
        );
    }

    #[test]
    fn system_time_before_epoch_is_clamped() {
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(iso8601(before), "1970-01-01T00:00:00.000Z");
    }
}
