use super::*;
use proptest::prelude::*;
use proptest::sample::Index;

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

#[test]
fn parses_what_it_formats() {
    for millis in [
        0,
        951_827_696_789,
        1_704_067_199_999,
        4_107_542_400_000,
        1_728_561_605_000,
    ] {
        assert_eq!(
            parse_iso8601_millis(&iso8601_from_millis(millis)),
            Some(millis)
        );
    }
}

#[test]
fn fractions_and_offsets() {
    assert_eq!(
        parse_iso8601_millis("2025-10-10T11:30:00Z"),
        Some(1_760_095_800_000)
    );
    assert_eq!(
        parse_iso8601_millis("2025-10-10T11:30:00.5Z"),
        Some(1_760_095_800_500)
    );
    assert_eq!(
        parse_iso8601_millis("2025-10-10T11:30:00.123456Z"),
        Some(1_760_095_800_123)
    );
    assert_eq!(
        parse_iso8601_millis("2025-10-10T13:30:00+02:00"),
        Some(1_760_095_800_000)
    );
    assert_eq!(
        parse_iso8601_millis("2025-10-10T10:00:00-01:30"),
        Some(1_760_095_800_000)
    );
}

#[test]
fn rejects_what_is_not_a_timestamp() {
    for bad in [
        "",
        "yesterday",
        "2025-10-10",
        "2025-13-01T00:00:00Z",
        "2025-02-30T00:00:00Z",
        "2025-10-10T24:00:00Z",
        "2025-10-10T11:30:00",
        "2025-10-10T11:30:00.Z",
        "2025-10-10T11:30:00Zjunk",
        "２０２５-10-10T11:30:00Z",
    ] {
        assert_eq!(parse_iso8601_millis(bad), None, "{bad}");
    }
}

/// Found by `prop_broken_timestamps_are_refused`: an offset's hours and minutes are
/// 00–23 and 00–59, as in any other time of day.
#[test]
fn offsets_beyond_23_59_are_refused() {
    for bad in [
        "0000-01-01T00:00:00+24:00",
        "2025-10-10T11:30:00-00:60",
        "2025-10-10T11:30:00+99:99",
    ] {
        assert_eq!(parse_iso8601_millis(bad), None, "{bad}");
    }
    assert_eq!(
        parse_iso8601_millis("2025-10-10T11:30:00+23:59"),
        Some(1_760_095_800_000 - (23 * 60 + 59) * 60_000)
    );
}

// Property tests (issue 21): formatting checked against a naive day-by-year calendar and
// parsed back; valid timestamps in every allowed spelling, then broken field by field.

/// The last millisecond with a four-digit year: 9999-12-31T23:59:59.999Z.
const MAX_FORMATTED: i64 = 253_402_300_799_999;

fn leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn month_lengths(year: i64) -> [i64; 12] {
    [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ]
}

/// Days from 1970-01-01, one year and one month at a time.
fn naive_days(year: i64, month: i64, day: i64) -> i64 {
    let year_length = |y| if leap(y) { 366 } else { 365 };
    let years: i64 = if year >= 1970 {
        (1970..year).map(year_length).sum()
    } else {
        -(year..1970).map(year_length).sum::<i64>()
    };
    years
        + month_lengths(year)[..month as usize - 1]
            .iter()
            .sum::<i64>()
        + day
        - 1
}

/// (year, month, day) of a day count from 1970-01-01, counting forward.
fn naive_date(mut days: i64) -> (i64, i64, i64) {
    let mut year = 1970;
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let mut month = 0;
    while days >= month_lengths(year)[month] {
        days -= month_lengths(year)[month];
        month += 1;
    }
    (year, month as i64 + 1, days + 1)
}

/// A timestamp as the grammar allows it, field by field.
#[derive(Debug, Clone)]
struct Parts {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    fraction: String,
    /// `None` for `Z`; else the sign and the offset's hours and minutes.
    offset: Option<(bool, i64, i64)>,
    lower_case: bool,
}

impl Parts {
    fn text(&self) -> String {
        let zone = match self.offset {
            None if self.lower_case => "z".to_string(),
            None => "Z".to_string(),
            Some((east, h, m)) => format!("{}{h:02}:{m:02}", if east { '+' } else { '-' }),
        };
        let fraction = if self.fraction.is_empty() {
            String::new()
        } else {
            format!(".{}", self.fraction)
        };
        format!(
            "{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}{fraction}{zone}",
            self.year,
            self.month,
            self.day,
            if self.lower_case { 't' } else { 'T' },
            self.hour,
            self.minute,
            self.second
        )
    }

    /// The instant, by the naive calendar: milliseconds are the fraction's first three
    /// digits (further digits are dropped).
    fn millis(&self) -> i64 {
        let seconds = naive_days(self.year, self.month, self.day) * 86_400
            + self.hour * 3600
            + self.minute * 60
            + self.second
            - self.offset.map_or(0, |(east, h, m)| {
                (if east { 1 } else { -1 }) * (h * 60 + m) * 60
            });
        let digits: String = self.fraction.chars().chain("000".chars()).take(3).collect();
        seconds * 1000 + digits.parse::<i64>().unwrap()
    }
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        (0i64..=9999, 1i64..=12, any::<Index>()),
        (0i64..24, 0i64..60, 0i64..=60),
        "[0-9]{0,9}",
        prop_oneof![
            Just(None),
            (any::<bool>(), 0i64..24, 0i64..60).prop_map(Some)
        ],
        any::<bool>(),
    )
        .prop_map(
            |((year, month, day), (hour, minute, second), fraction, offset, lower_case)| {
                let day = day.index(month_lengths(year)[month as usize - 1] as usize) as i64 + 1;
                Parts {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    fraction,
                    offset,
                    lower_case,
                }
            },
        )
}

/// A field set out of its range, or the text broken where the grammar allows nothing else.
#[derive(Debug, Clone)]
enum Break {
    Month(i64),
    DayPastMonthEnd(i64),
    Hour(i64),
    Minute(i64),
    Second(i64),
    OffsetHour(i64),
    OffsetMinute(i64),
    /// A non-digit where a digit must be.
    Digit(Index, char),
    /// Another character where `-`, `T`, `:` or the fraction's `.` must be.
    Separator(Index, char),
    Zone(&'static str),
    EmptyFraction,
    Truncate(Index),
    Append(String),
    Prepend(char),
}

fn breaks() -> impl Strategy<Value = Break> {
    let not_digit = prop_oneof![
        proptest::sample::select(vec![' ', '+', '-', 'a', 'T', ':', '.', '٣', '１', '²', 'é']),
        any::<char>().prop_filter("a digit", |c| !c.is_ascii_digit()),
    ];
    prop_oneof![
        prop_oneof![Just(0i64), 13i64..100].prop_map(Break::Month),
        (1i64..70).prop_map(Break::DayPastMonthEnd),
        (24i64..100).prop_map(Break::Hour),
        (60i64..100).prop_map(Break::Minute),
        (61i64..100).prop_map(Break::Second),
        (24i64..100).prop_map(Break::OffsetHour),
        (60i64..100).prop_map(Break::OffsetMinute),
        (any::<Index>(), not_digit.clone()).prop_map(|(i, c)| Break::Digit(i, c)),
        (any::<Index>(), not_digit).prop_map(|(i, c)| Break::Separator(i, c)),
        proptest::sample::select(vec![
            "", "UTC", "+0200", "+02:0", "+02:000", "02:00", "Z ", "ZZ", " Z", "+2:00", "Z+01:00",
            "+01:00Z", "GMT",
        ])
        .prop_map(Break::Zone),
        Just(Break::EmptyFraction),
        any::<Index>().prop_map(Break::Truncate),
        "[ -~é]{1,4}".prop_map(Break::Append),
        proptest::sample::select(vec![' ', '+', '0', '\u{feff}']).prop_map(Break::Prepend),
    ]
}

fn broken(parts: &Parts, with: &Break) -> String {
    let mut parts = parts.clone();
    let replace_at = |text: String, positions: &[usize], i: &Index, c: char| {
        let at = positions[i.index(positions.len())];
        let mut chars: Vec<char> = text.chars().collect();
        chars[at] = c;
        chars.into_iter().collect::<String>()
    };
    match with {
        Break::Month(m) => parts.month = *m,
        Break::DayPastMonthEnd(d) => {
            parts.day = month_lengths(parts.year)[parts.month as usize - 1] + d
        }
        Break::Hour(h) => parts.hour = *h,
        Break::Minute(m) => parts.minute = *m,
        Break::Second(s) => parts.second = *s,
        Break::OffsetHour(h) => parts.offset = Some((true, *h, 0)),
        Break::OffsetMinute(m) => parts.offset = Some((false, 0, *m)),
        Break::Digit(i, c) => {
            let text = parts.text();
            let digits: Vec<usize> = (0..19)
                .filter(|&p| ![4, 7, 10, 13, 16].contains(&p))
                .collect();
            return replace_at(text, &digits, i, *c);
        }
        Break::Separator(i, c) => {
            // (`t` for `T` is valid: the test leaves that case out.)
            let text = parts.text();
            let mut positions = vec![4, 7, 10, 13, 16];
            if !parts.fraction.is_empty() {
                positions.push(19);
            }
            return replace_at(text, &positions, i, *c);
        }
        Break::Zone(zone) => {
            let text = parts.text();
            let zone_start = 19
                + if parts.fraction.is_empty() {
                    0
                } else {
                    parts.fraction.len() + 1
                };
            return format!("{}{zone}", &text[..zone_start]);
        }
        Break::EmptyFraction => {
            let text = parts.text();
            let zone_start = 19
                + if parts.fraction.is_empty() {
                    0
                } else {
                    parts.fraction.len() + 1
                };
            return format!("{}.{}", &text[..19], &text[zone_start..]);
        }
        Break::Truncate(i) => {
            let text = parts.text();
            return text[..i.index(text.len())].to_string();
        }
        Break::Append(junk) => return format!("{}{junk}", parts.text()),
        Break::Prepend(c) => return format!("{c}{}", parts.text()),
    }
    parts.text()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every millisecond from 1970 to the end of 9999 formats as `YYYY-MM-DDTHH:MM:SS.mmmZ`
    /// with the naive calendar's date, and parses back to itself.
    #[test]
    fn prop_format_parse_roundtrip(millis in prop_oneof![
        0..=MAX_FORMATTED,
        0i64..4_102_444_800_000,
        (0i64..=MAX_FORMATTED / 86_400_000).prop_map(|d| d * 86_400_000 - 1).prop_filter("negative", |m| *m >= 0),
    ]) {
        let text = iso8601_from_millis(millis);
        prop_assert_eq!(text.len(), 24);
        let b = text.as_bytes();
        for (i, byte) in b.iter().enumerate() {
            let expected = match i { 4 | 7 => Some(b'-'), 10 => Some(b'T'), 13 | 16 => Some(b':'), 19 => Some(b'.'), 23 => Some(b'Z'), _ => None };
            match expected {
                Some(e) => prop_assert_eq!(*byte, e, "{}", text),
                None => prop_assert!(byte.is_ascii_digit(), "{}", text),
            }
        }
        let field = |r: std::ops::Range<usize>| text[r].parse::<i64>().unwrap();
        let (year, month, day) = naive_date(millis.div_euclid(86_400_000));
        prop_assert_eq!((field(0..4), field(5..7), field(8..10)), (year, month, day));
        let ms_of_day = millis.rem_euclid(86_400_000);
        prop_assert_eq!(
            (field(11..13), field(14..16), field(17..19), field(20..23)),
            (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000)
        );
        prop_assert_eq!(parse_iso8601_millis(&text), Some(millis));
    }

    /// Formatted timestamps sort as their instants do; moments before 1970 are the epoch;
    /// no i64 makes formatting panic.
    #[test]
    fn prop_format_keeps_chronological_order(a in 0..=MAX_FORMATTED, b in 0..=MAX_FORMATTED, any_millis in any::<i64>()) {
        prop_assert_eq!(a.cmp(&b), iso8601_from_millis(a).cmp(&iso8601_from_millis(b)));
        let text = iso8601_from_millis(any_millis);
        if any_millis <= 0 {
            prop_assert_eq!(text, "1970-01-01T00:00:00.000Z");
        }
    }

    /// Every timestamp the grammar allows (`T`/`t`, any fraction, `Z`/`z` or an offset,
    /// a leap second, years 0000–9999) parses to its instant.
    #[test]
    fn prop_valid_timestamps_parse_to_their_instant(parts in parts()) {
        prop_assert_eq!(parse_iso8601_millis(&parts.text()), Some(parts.millis()), "{}", parts.text());
    }

    /// A field out of range (month, day for its month, hour, minute, second, offset hours or
    /// minutes), a non-digit in a number, a wrong separator or zone, an empty fraction, a
    /// cut, or anything before or after: never a timestamp.
    #[test]
    fn prop_broken_timestamps_are_refused(parts in parts(), with in breaks()) {
        if let Break::Separator(_, c) = with {
            prop_assume!(!c.eq_ignore_ascii_case(&'t'));
        }
        let text = broken(&parts, &with);
        // A separator replaced by itself breaks nothing.
        prop_assume!(text != parts.text());
        prop_assert_eq!(parse_iso8601_millis(&text), None, "{}", text);
    }

    /// Any text of any size (up to ~400 KiB): never a panic, and only ASCII is a timestamp.
    #[test]
    fn prop_arbitrary_text_never_panics(
        chunk in prop_oneof![
            "\\PC{0,40}",
            "[0-9\\-:T.Z+ ]{0,40}",
            any::<String>(),
            parts().prop_map(|p| p.text()),
        ],
        cut in any::<Index>(),
        repeat in prop_oneof![3 => 1usize..3, 1 => 1usize..10_000],
    ) {
        let text = chunk.repeat(repeat);
        let cut = text.char_indices().map(|(i, _)| i).nth(cut.index(text.chars().count() + 1)).unwrap_or(text.len());
        for candidate in [&text[..], &text[..cut]] {
            if parse_iso8601_millis(candidate).is_some() {
                prop_assert!(candidate.is_ascii());
            }
        }
    }
}
