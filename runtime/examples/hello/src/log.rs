//! The log on stderr: each `tracing` event of the framework as one line, `TIME LEVEL target: message key=value…`
//! (the UTC time as RFC 3339 with microseconds), up to the level `MILLENNIUM_LOG` names, the level coloured on a
//! terminal without `NO_COLOR`: the lines `tracing_subscriber::fmt` wrote.
//!
//! Not `tracing_subscriber::fmt` itself: its span registry and formatting machinery were 50 KiB of this 950 KiB
//! binary (stripped, `runtime/bench/run.sh`), for a framework that emits a few flat events and no spans. Spans are
//! accepted and ignored.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Writes events up to `max` to stderr, from now on, for the whole process.
pub fn init(max: Level, color: bool) {
    // Fails only when a subscriber is set already, and then that one logs.
    let _ = tracing::subscriber::set_global_default(StderrLog { max, color });
}

struct StderrLog {
    max: Level,
    color: bool,
}

impl Subscriber for StderrLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(self.max))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let level = *event.metadata().level();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = timestamp(SystemTime::now());
        line.push(' ');
        if self.color {
            let color = match level {
                Level::ERROR => 31,
                Level::WARN => 33,
                Level::INFO => 32,
                Level::DEBUG => 34,
                Level::TRACE => 35,
            };
            let _ = write!(line, "\x1b[{color}m{level:>5}\x1b[0m");
        } else {
            let _ = write!(line, "{level:>5}");
        }
        let _ = writeln!(line, " {}: {}{}", event.metadata().target(), fields.message, fields.rest);
        // One write per line, so that lines from several threads do not interleave.
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// `2024-05-01T12:00:00.000000Z`.
fn timestamp(now: SystemTime) -> String {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let (hour, minute, second) = (seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    let micros = since_epoch.subsec_micros();
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z")
}

/// The Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`, for days since the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Counted in 400-year eras from 0000-03-01, so that the leap day ends a year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    (year_of_era + era * 400 + u64::from(month <= 2), month, day)
}

/// An event's `message`, and its other fields as ` key=value`.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = match field.name() {
            "message" => write!(self.message, "{value:?}"),
            name => write!(self.rest, " {name}={value:?}"),
        };
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timestamps_are_rfc_3339_utc_with_microseconds() {
        let at =
            |seconds: u64, micros: u64| timestamp(UNIX_EPOCH + Duration::from_micros(seconds * 1_000_000 + micros));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        // `date -u -d @1709210096`: the leap day of 2024.
        assert_eq!(at(1_709_210_096, 42), "2024-02-29T12:34:56.000042Z");
        assert_eq!(at(951_868_799, 999_999), "2000-02-29T23:59:59.999999Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
    }
}
