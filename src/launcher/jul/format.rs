//! `java.util.logging.SimpleFormatter`: `String.format(format, time, source, logger, level,
//! message, thrown)` with `java.util.Formatter`'s rules, in an English locale.
//!
//! `SimpleFormatter` first tries its format on `(ZonedDateTime.now(), "", "", "", "", "")` and
//! falls back to the JDK's default format if that throws (`SimpleConsoleLogger.getSimpleFormat`).
//! Those argument types are fixed, so [`Format::parse`] decides statically what Java decides by
//! running it: [`Problem::Invalid`] for every format Java refuses (an unknown conversion, a bad
//! flag, a missing argument, `%d` or `%c` on a String or date-time: always), and
//! [`Problem::Unsupported`] for the few Java accepts that we cannot reproduce: the zone's name
//! (`%tZ`, `%tc`) and the date-time's own `toString`/`hashCode` (`%1$s`, `%1$h`), which need the
//! JVM's zone id.

use chrono::{DateTime, Local};

use super::datetime::time;
pub use super::specifier::Problem;
use super::specifier::{invalid, parse_spec, Conv, Index, RawSpec};

use super::level::Level;

/// `SimpleConsoleLogger.Formatting.DEFAULT_FORMAT`: what `SimpleFormatter` uses without a format
/// property, or with one Java refuses.
pub const JDK_DEFAULT_FORMAT: &str =
    "%1$tb %1$td, %1$tY %1$tl:%1$tM:%1$tS %1$Tp %2$s%n%4$s: %5$s%6$s%n";

/// The format of the stock `logging-bridge.properties` of kernels 4.5–4.12 and Micro Integrator.
pub const STOCK_FORMAT: &str =
    "[%1$tY-%1$tm-%1$td %1$tk:%1$tM:%1$tS,%1$tL]  %4$s {%2$s} - %5$s %6$s %n";

/// One `java.util.logging.LogRecord`, as much of it as `SimpleFormatter` prints.
#[derive(Clone, Debug)]
pub struct Record<'a> {
    /// The record's instant in the JVM's zone (`ZonedDateTime.ofInstant(.., systemDefault())`).
    pub time: DateTime<Local>,
    pub logger: &'a str,
    pub level: Level,
    /// The source the JDK infers from the caller's frame: class, and method if known.
    pub class: Option<&'a str>,
    pub method: Option<&'a str>,
    pub message: &'a str,
    /// `printStackTrace` output of the logged exception, if any.
    pub thrown: Option<&'a str>,
}

impl Record<'_> {
    /// `%2$s`: `class + " " + method`, `class` alone, or the logger's name.
    fn source(&self) -> String {
        match (self.class, self.method) {
            (Some(c), Some(m)) => format!("{c} {m}"),
            (Some(c), None) => c.to_string(),
            (None, _) => self.logger.to_string(),
        }
    }

    /// `%6$s`: empty, or a line separator and the stack trace (`pw.println(); printStackTrace`).
    fn thrown_text(&self) -> String {
        self.thrown.map_or_else(String::new, |t| format!("\n{t}"))
    }
}

/// A parsed format, ready to lay out records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    text: String,
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Spec(Spec),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Spec {
    /// 0-based argument: 0 is the time, 1..=5 source, logger, level, message, thrown.
    arg: usize,
    left: bool,
    upper: bool,
    width: Option<usize>,
    precision: Option<usize>,
    conv: Conv,
}

impl Format {
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `Formatter.parse` plus the checks of `FormatSpecifier` and of printing each argument.
    pub fn parse(text: &str) -> Result<Format, Problem> {
        let mut pieces = Vec::new();
        let mut unsupported = None;
        // Formatter.format's `last` (last argument referenced) and `lasto` (last ordinary).
        let (mut last, mut lasto): (Option<usize>, Option<usize>) = (None, None);
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        let mut fixed = String::new();
        while i < chars.len() {
            if chars[i] != '%' {
                fixed.push(chars[i]);
                i += 1;
                continue;
            }
            let start = i;
            let (spec, next) = parse_spec(&chars, i + 1)?;
            i = next;
            let written: String = chars[start..i].iter().collect();
            let raw = match spec {
                RawSpec::Newline => {
                    fixed.push('\n');
                    continue;
                }
                RawSpec::Spec(s) => s,
            };
            let arg =
                match raw.index {
                    Index::Text => None,
                    Index::Previous => Some(last.ok_or_else(|| {
                        Problem::Invalid(format!("{written}: no previous argument"))
                    })?),
                    Index::Ordinary => {
                        let n = lasto.map_or(0, |n| n + 1);
                        lasto = Some(n);
                        Some(n)
                    }
                    Index::Explicit(n) => Some(n - 1),
                };
            if let Some(a) = arg {
                if a > 5 {
                    return invalid(format!("{written}: there are only 6 arguments"));
                }
                last = Some(a);
            }
            let arg = arg.unwrap_or(0);
            match (raw.conv, arg) {
                (Conv::Time(_), 1..) => {
                    return invalid(format!("{written}: a date/time conversion of a String"))
                }
                (Conv::Str, _) if raw.alternate => {
                    return invalid(format!("{written}: '#' needs a Formattable argument"))
                }
                (Conv::Time('Z' | 'c'), 0) => {
                    unsupported.get_or_insert(format!("{written}: the time zone's name"));
                }
                (Conv::Str | Conv::Hash, 0) => {
                    unsupported.get_or_insert(format!("{written}: the JVM's ZonedDateTime text"));
                }
                _ => {}
            }
            if !fixed.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut fixed)));
            }
            pieces.push(Piece::Spec(Spec {
                arg,
                left: raw.left,
                upper: raw.upper,
                width: raw.width,
                precision: raw.precision,
                conv: raw.conv,
            }));
        }
        if !fixed.is_empty() {
            pieces.push(Piece::Text(fixed));
        }
        match unsupported {
            Some(why) => Err(Problem::Unsupported(why)),
            None => Ok(Format {
                text: text.to_string(),
                pieces,
            }),
        }
    }

    /// The JDK's default format, which always parses.
    pub fn jdk_default() -> Format {
        Format::parse(JDK_DEFAULT_FORMAT).expect("the JDK default format is supported")
    }

    /// The stock format, which always parses.
    pub fn stock() -> Format {
        Format::parse(STOCK_FORMAT).expect("the stock format is supported")
    }

    /// `SimpleFormatter.format(record)`.
    pub fn format(&self, r: &Record) -> String {
        let strings = [
            String::new(),
            r.source(),
            r.logger.to_string(),
            r.level.name(),
            r.message.to_string(),
            r.thrown_text(),
        ];
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Spec(s) => {
                    let text = match s.conv {
                        // Every argument is non-null and none is a Boolean.
                        Conv::Bool => "true".to_string(),
                        Conv::Str => strings[s.arg].clone(),
                        Conv::Hash => format!("{:x}", java_hash(&strings[s.arg])),
                        Conv::Percent => "%".to_string(),
                        Conv::Time(c) => {
                            let t = time(&r.time, c);
                            out.push_str(&justify(s, upper(s, t)));
                            continue;
                        }
                    };
                    out.push_str(&justify(s, upper(s, cut(&text, s.precision))));
                }
            }
        }
        out
    }
}

/// `String.hashCode`: over UTF-16 units, wrapping; printed by `Integer.toHexString` as unsigned.
fn java_hash(s: &str) -> u32 {
    s.encode_utf16()
        .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u))) as u32
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `s.substring(0, precision)` in UTF-16 units; a pair cut in half leaves a lone surrogate,
/// which Java's encoders write as `?`.
fn cut(s: &str, precision: Option<usize>) -> String {
    let Some(p) = precision else {
        return s.to_string();
    };
    let mut out = String::new();
    let mut n = 0;
    for c in s.chars() {
        let w = c.len_utf16();
        if n + w > p {
            if n < p {
                out.push('?');
            }
            break;
        }
        out.push(c);
        n += w;
    }
    out
}

fn upper(s: &Spec, text: String) -> String {
    if s.upper {
        text.to_uppercase()
    } else {
        text
    }
}

/// `appendJustified`: pads with spaces to the width, counted in UTF-16 units.
fn justify(s: &Spec, text: String) -> String {
    let Some(w) = s.width else { return text };
    let pad = " ".repeat(w.saturating_sub(utf16_len(&text)));
    if s.left {
        text + &pad
    } else {
        pad + &text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Timelike};

    /// 2026-11-29 09:05:03.737123456 local time, a Sunday.
    fn at() -> DateTime<Local> {
        Local
            .with_ymd_and_hms(2026, 11, 29, 9, 5, 3)
            .unwrap()
            .with_nanosecond(737_123_456)
            .unwrap()
    }

    fn record(t: DateTime<Local>) -> Record<'static> {
        Record {
            time: t,
            logger: "org.wso2.carbon.server.util.PatchUtils",
            level: Level::FINE,
            class: Some("org.wso2.carbon.server.util.PatchUtils"),
            method: Some("processPatches"),
            message: "Checking for patch changes ...",
            thrown: None,
        }
    }

    fn out(fmt: &str) -> String {
        Format::parse(fmt).unwrap().format(&record(at()))
    }

    // The expected strings were printed by String.format on OpenJDK 17 and Temurin 25 for the
    // same instant (in Europe/Paris) and arguments.

    #[test]
    fn stock_line_is_byte_exact() {
        assert_eq!(
            out(STOCK_FORMAT),
            "[2026-11-29 9:05:03,737]  FINE {org.wso2.carbon.server.util.PatchUtils processPatches} - Checking for patch changes ...  \n"
        );
        assert_eq!(
            out(JDK_DEFAULT_FORMAT),
            "Nov 29, 2026 9:05:03 AM org.wso2.carbon.server.util.PatchUtils processPatches\nFINE: Checking for patch changes ...\n"
        );
    }

    #[test]
    fn general_conversions_indexes_and_justification() {
        assert_eq!(
            out("%2$s|%2$S|%%|%b|%B|%n"),
            "org.wso2.carbon.server.util.PatchUtils processPatches|ORG.WSO2.CARBON.SERVER.UTIL.PATCHUTILS PROCESSPATCHES|%|true|TRUE|\n"
        );
        assert_eq!(
            out("%4$-10s|%4$10s|%4$.2s|%4$-10.3S|%5$.0s|"),
            "FINE      |      FINE|FI|FIN       ||"
        );
        assert_eq!(out("%2$h %2$H"), "a5941e01 A5941E01");
        assert_eq!(
            out("%5$S%5$s"),
            "CHECKING FOR PATCH CHANGES ...Checking for patch changes ..."
        );
        assert_eq!(out("%-5%|%5%|"), "%    |    %|");
        assert_eq!(out("%1$n"), "\n");
        // `<` is the last argument referenced; an ordinary index counts on its own.
        let f = Format::parse("%3$s %<s %b %s").unwrap();
        assert_eq!(
            f.format(&record(at())),
            "org.wso2.carbon.server.util.PatchUtils org.wso2.carbon.server.util.PatchUtils true org.wso2.carbon.server.util.PatchUtils processPatches"
        );
    }

    #[test]
    fn date_time_width_and_case() {
        assert_eq!(
            out("%1$TB %1$Tb %1$TA %1$Ta %1$Tp"),
            "NOVEMBER NOV SUNDAY SUN AM"
        );
        assert_eq!(
            out("%1$-10tk|%1$10tY|%1$-3tL|"),
            "9         |      2026|737|"
        );
        assert_eq!(out("%1$tl%1$tL%1$Tl"), "97379");
    }

    #[test]
    fn source_and_thrown() {
        let mut r = record(at());
        r.class = None;
        r.thrown = Some("java.io.IOException: x\n\tat A.b(A.java:1)\n");
        let f = Format::parse("%2$s|%6$s").unwrap();
        assert_eq!(
            f.format(&r),
            "org.wso2.carbon.server.util.PatchUtils|\njava.io.IOException: x\n\tat A.b(A.java:1)\n"
        );
        r.class = Some("C");
        r.method = None;
        assert_eq!(Format::parse("%2$s").unwrap().format(&r), "C");
    }

    #[test]
    fn precision_and_width_count_utf16_units() {
        let mut r = record(at());
        r.message = "\u{1f600}ab";
        let f = Format::parse("[%5$.1s][%5$.3s][%5$5s]").unwrap();
        assert_eq!(f.format(&r), "[?][\u{1f600}a][ \u{1f600}ab]");
    }

    #[test]
    fn what_java_refuses_is_invalid() {
        // Each of these made String.format throw an IllegalArgumentException on OpenJDK 17.
        for f in [
            "%d",
            "%1$d",
            "%4$d",
            "%4$c",
            "%7$s",
            "%<s",
            "%0$s",
            "%-s",
            "%05s",
            "%#s",
            "%+s",
            "%,s",
            "%(s",
            "% s",
            "%1$.2tY",
            "%1$#tY",
            "%1$0tY",
            "%--5s",
            "%q",
            "%",
            "abc%",
            "%t",
            "%tq",
            "%T",
            "%1$",
            "%1$$s",
            "%1$<s %s",
            "%<1$s",
            "%s %s %s %s %s %s %s",
            "%99999999999$s",
            "%099999999999s",
            "%4$99999999999s",
            "%-%",
            "%<%",
            "%.5n",
            "%.5%",
            "%10n",
            "%4$tY",
            "%2$tk",
            "%#b",
            "%1$x",
            "%.s",
        ] {
            assert!(
                matches!(Format::parse(f), Err(Problem::Invalid(_))),
                "{f:?}: {:?}",
                Format::parse(f)
            );
        }
    }

    #[test]
    fn what_java_accepts_but_we_cannot_follow_is_unsupported() {
        for f in ["%1$tZ", "%1$tc", "%1$s", "%s", "%1$h", "%1$S"] {
            assert!(
                matches!(Format::parse(f), Err(Problem::Unsupported(_))),
                "{f:?}"
            );
        }
        // Invalid wins over unsupported, as Java throws whatever else the format holds.
        assert!(matches!(
            Format::parse("%1$tZ %d"),
            Err(Problem::Invalid(_))
        ));
        // An ordinary index counts from the first argument, the time, whatever explicit
        // indexes came before: Java prints its toString here.
        assert!(matches!(
            Format::parse("%3$s %s"),
            Err(Problem::Unsupported(_))
        ));
        // A text conversion's index is never checked (Java printed a newline for it).
        assert_eq!(out("%9$n"), "\n");
    }
}
