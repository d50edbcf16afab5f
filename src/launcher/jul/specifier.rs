//! `java.util.Formatter`'s format specifiers, `%[index$][flags][width][.precision]conversion`
//! (`Formatter.parse` and `FormatSpecifierParser`), with the checks `FormatSpecifier` makes of
//! flags, widths and precisions for each conversion: which specifiers Java refuses before it
//! prints anything.

/// Why a format is not used as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Java refuses it (the message says why): `SimpleFormatter` uses the JDK's default format.
    Invalid(String),
    /// Java accepts it, but it needs what carbon-patcher cannot know.
    Unsupported(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Conv {
    Str,
    Bool,
    Hash,
    Time(char),
    /// `%%` (the only text conversion that takes a width).
    Percent,
}

const FLAGS: &str = "-#+ 0,(<";
const SIMPLE: &str = "bBsShHcCdoxXeEgGfaAn%";
const TIME: &str = "HIklMSLNpQszZsaAbBhCyYjmdeRTrDFc";

pub(super) fn invalid<T>(why: impl Into<String>) -> Result<T, Problem> {
    Err(Problem::Invalid(why.into()))
}

/// `Integer.parseInt` of a run of ASCII digits, for indexes, widths and precisions.
fn number(digits: &str) -> Option<usize> {
    digits
        .parse::<i32>()
        .ok()
        .and_then(|n| usize::try_from(n).ok())
}

pub(super) enum Index {
    Text,
    Previous,
    Ordinary,
    Explicit(usize),
}

pub(super) struct Parsed {
    pub(super) index: Index,
    pub(super) left: bool,
    pub(super) alternate: bool,
    pub(super) upper: bool,
    pub(super) width: Option<usize>,
    pub(super) precision: Option<usize>,
    pub(super) conv: Conv,
}

pub(super) enum RawSpec {
    Newline,
    Spec(Parsed),
}

/// One specifier after a `%` at `chars[at..]`: `%[index$][flags][width][.precision]conversion`
/// (`Formatter.FormatSpecifierParser`), with `FormatSpecifier`'s checks. Returns it and the
/// position after it.
pub(super) fn parse_spec(chars: &[char], at: usize) -> Result<(RawSpec, usize), Problem> {
    let Some(&first) = chars.get(at) else {
        return invalid("a '%' ends the format");
    };
    let digits_from = |from: usize| {
        let mut j = from;
        while chars.get(j).is_some_and(char::is_ascii_digit) {
            j += 1;
        }
        j
    };
    let text = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    let mut off = at;
    let mut index = None;
    if !SIMPLE.contains(first) {
        let end = digits_from(off);
        if end > off && chars.get(end) == Some(&'$') {
            let n = number(&text(off, end)).filter(|n| *n > 0);
            index = Some(n.ok_or_else(|| {
                Problem::Invalid(format!("bad argument index {}", text(off, end)))
            })?);
            off = end + 1;
        }
    }
    let flags_start = off;
    if !SIMPLE.contains(first) {
        while chars.get(off).is_some_and(|c| FLAGS.contains(*c)) {
            off += 1;
        }
    }
    let flags = text(flags_start, off);
    for (k, c) in flags.char_indices() {
        if flags[..k].contains(c) {
            return invalid(format!("duplicate flag '{c}'"));
        }
    }
    let width_end = digits_from(off);
    let width = if width_end > off {
        let w = number(&text(off, width_end));
        off = width_end;
        Some(w.ok_or_else(|| Problem::Invalid("width too large".to_string()))?)
    } else {
        None
    };
    let mut precision = None;
    if chars.get(off) == Some(&'.') {
        let end = digits_from(off + 1);
        if end == off + 1 {
            return invalid(format!("unknown conversion '{first}'"));
        }
        precision = Some(
            number(&text(off + 1, end))
                .ok_or_else(|| Problem::Invalid("precision too large".to_string()))?,
        );
        off = end;
    }
    let is_conv = |c: char| c.is_ascii_alphabetic() || c == '%';
    let c = *chars.get(off).unwrap_or(&'\0');
    let (dt, conv) = match chars.get(off + 1) {
        Some(&c1) if (c == 't' || c == 'T') && is_conv(c1) => (Some(c), c1),
        _ if is_conv(c) => (None, c),
        _ => return invalid(format!("unknown conversion '{first}'")),
    };
    let next = off + if dt.is_some() { 2 } else { 1 };
    let written = format!("%{}", text(at, next));
    let has = |f: char| flags.contains(f);
    let left = has('-');
    let previous = has('<');
    let bad = |list: &str| flags.chars().any(|f| list.contains(f));
    let conv = if let Some(t) = dt {
        if precision.is_some() || !TIME.contains(conv) || bad("#+ 0,(") || (left && width.is_none())
        {
            return invalid(format!("{written}: not a valid date/time specifier"));
        }
        return Ok((
            RawSpec::Spec(Parsed {
                index: pick(index, previous),
                left,
                alternate: false,
                upper: t == 'T',
                width,
                precision: None,
                conv: Conv::Time(conv),
            }),
            next,
        ));
    } else {
        conv
    };
    let upper = conv.is_ascii_uppercase();
    let spec = |c: Conv, index| Parsed {
        index,
        left,
        alternate: has('#'),
        upper,
        width,
        precision,
        conv: c,
    };
    match conv.to_ascii_lowercase() {
        'n' if conv == 'n' => {
            if width.is_some() || !flags.is_empty() || precision.is_some() {
                return invalid(format!("{written}: %n takes no flag, width or precision"));
            }
            Ok((RawSpec::Newline, next))
        }
        '%' => {
            if precision.is_some()
                || !(flags.is_empty() || flags == "-")
                || (left && width.is_none())
            {
                return invalid(format!("{written}: bad %%"));
            }
            Ok((RawSpec::Spec(spec(Conv::Percent, Index::Text)), next))
        }
        c @ ('b' | 'h' | 's') => {
            if (c != 's' && has('#')) || (left && width.is_none()) || bad("+ 0,(") {
                return invalid(format!("{written}: bad flags"));
            }
            let kind = match c {
                'b' => Conv::Bool,
                'h' => Conv::Hash,
                _ => Conv::Str,
            };
            Ok((RawSpec::Spec(spec(kind, pick(index, previous))), next))
        }
        // Character, integer and floating-point conversions (`%c %d %o %x %e %f %g %a`) fail
        // on every argument SimpleFormatter passes: a date-time or a String.
        c if "cdoxefga".contains(c) && SIMPLE.contains(conv) => {
            invalid(format!("{written}: cannot format a String or date-time"))
        }
        _ => invalid(format!("{written}: unknown conversion '{conv}'")),
    }
}

fn pick(index: Option<usize>, previous: bool) -> Index {
    match (previous, index) {
        (true, _) => Index::Previous,
        (false, Some(n)) => Index::Explicit(n),
        (false, None) => Index::Ordinary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<(Parsed, usize), Problem> {
        let chars: Vec<char> = text.chars().collect();
        match parse_spec(&chars, 1)? {
            (RawSpec::Spec(p), next) => Ok((p, next)),
            (RawSpec::Newline, _) => panic!("{text} is a newline"),
        }
    }

    #[test]
    fn parts_of_a_specifier() {
        let (p, next) = spec("%4$-10.3Sx").unwrap();
        assert!(matches!(p.index, Index::Explicit(4)));
        assert_eq!(
            (p.left, p.upper, p.width, p.precision, p.conv, next),
            (true, true, Some(10), Some(3), Conv::Str, 9)
        );
        let (p, next) = spec("%<Tp").unwrap();
        assert!(matches!(p.index, Index::Previous));
        assert_eq!((p.upper, p.conv, next), (true, Conv::Time('p'), 4));
        // One letter after '%' is a conversion of its own: the '5' is text.
        assert_eq!(spec("%s5").unwrap().1, 2);
        assert!(matches!(spec("%-5%").unwrap().0.index, Index::Text));
        assert!(matches!(
            parse_spec(&['%', 'n'], 1),
            Ok((RawSpec::Newline, 2))
        ));
    }

    #[test]
    fn refusals() {
        // A flag that repeats; '0' taken as a flag before the width; a '.' without digits.
        for bad in ["%--5s", "%05s", "%.s", "%tq", "%1$", "%"] {
            assert!(matches!(spec(bad), Err(Problem::Invalid(_))), "{bad}");
        }
    }
}
