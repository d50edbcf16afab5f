//! `java.util.logging.Level`: the nine standard levels, and `Level.parse` (which JULI applies to
//! `<logger>.level`) / `Level.findLevel` (which `LogManager.getLevelProperty` applies to a
//! handler's `.level`): both accept a standard name, exactly as written, or an integer.

/// A level's integer value, which is all that filtering compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(pub i32);

impl Level {
    pub const OFF: Level = Level(i32::MAX);
    pub const SEVERE: Level = Level(1000);
    pub const WARNING: Level = Level(900);
    pub const INFO: Level = Level(800);
    pub const CONFIG: Level = Level(700);
    pub const FINE: Level = Level(500);
    pub const FINER: Level = Level(400);
    pub const FINEST: Level = Level(300);
    pub const ALL: Level = Level(i32::MIN);

    const STANDARD: [(&'static str, Level); 9] = [
        ("OFF", Level::OFF),
        ("SEVERE", Level::SEVERE),
        ("WARNING", Level::WARNING),
        ("INFO", Level::INFO),
        ("CONFIG", Level::CONFIG),
        ("FINE", Level::FINE),
        ("FINER", Level::FINER),
        ("FINEST", Level::FINEST),
        ("ALL", Level::ALL),
    ];

    /// `Level.parse(name)`: a standard name (case-sensitive: `fine` is refused), else a Java
    /// `int` (`+500` and `0500` are FINE; `501` is a level of its own). The last resort, the
    /// locale's translated names, equals the English names in an English locale. No trimming:
    /// callers trim as their Java counterpart does.
    pub fn parse(name: &str) -> Option<Level> {
        if let Some((_, l)) = Self::STANDARD.iter().find(|(n, _)| *n == name) {
            return Some(*l);
        }
        parse_java_int(name).map(Level)
    }

    /// `getLocalizedLevelName()` in an English locale, as `SimpleFormatter`'s `%4$s` prints it:
    /// the standard name, or for another value the digits it was made from.
    pub fn name(self) -> String {
        Self::STANDARD
            .iter()
            .find(|(_, l)| *l == self)
            .map_or_else(|| self.0.to_string(), |(n, _)| n.to_string())
    }

    /// `Handler.isLoggable` / `Logger.isLoggable`: a record passes a threshold when it is at or
    /// above it, and never when the threshold is OFF.
    pub fn passes(self, threshold: Level) -> bool {
        self >= threshold && threshold != Level::OFF
    }
}

/// `Integer.parseInt`: an optional sign, ASCII digits, within `i32`.
pub(super) fn parse_java_int(s: &str) -> Option<i32> {
    parse_java_long(s).and_then(|v| i32::try_from(v).ok())
}

/// `Long.parseLong`: an optional `+`/`-`, then at least one ASCII digit, within `i64`.
pub(super) fn parse_java_long(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Rust's parser takes the same sign and digits, and refuses the same overflows.
    s.parse::<i64>().ok()
}

/// `String.trim()`: strips every char up to U+0020 at both ends (not Unicode whitespace).
pub(super) fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_level_parse_does() {
        // Expected values printed by Level.parse on OpenJDK 17.
        assert_eq!(Level::parse("FINE"), Some(Level::FINE));
        assert_eq!(Level::parse("+500"), Some(Level::FINE));
        assert_eq!(Level::parse("0500"), Some(Level::FINE));
        assert_eq!(Level::parse("1000"), Some(Level::SEVERE));
        assert_eq!(Level::parse("2147483647"), Some(Level::OFF));
        assert_eq!(Level::parse("-2147483648"), Some(Level::ALL));
        assert_eq!(Level::parse("501"), Some(Level(501)));
        for bad in [
            "fine",
            "Fine",
            " FINE",
            "SEVERE ",
            "0x1F4",
            "",
            "2147483648",
            "+",
            "5 0",
        ] {
            assert_eq!(Level::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn names_and_thresholds() {
        assert_eq!(Level::WARNING.name(), "WARNING");
        assert_eq!(Level(501).name(), "501");
        assert!(Level::FINE.passes(Level::FINE));
        assert!(!Level::FINE.passes(Level::INFO));
        assert!(Level::SEVERE.passes(Level::ALL));
        assert!(!Level::SEVERE.passes(Level::OFF));
        assert!(!Level::OFF.passes(Level::OFF));
    }

    #[test]
    fn java_trim_and_numbers() {
        assert_eq!(java_trim("\u{1} x\t\n"), "x");
        assert_eq!(java_trim("\u{a0}x"), "\u{a0}x");
        assert_eq!(parse_java_long("50000"), Some(50000));
        assert_eq!(parse_java_long("-1"), Some(-1));
        assert_eq!(parse_java_long("5e4"), None);
        assert_eq!(parse_java_int("3000000000"), None);
    }
}
