//! One handler of `handlers`, read as its Java class reads its keys: `FileHandler.configure`
//! and `ConsoleHandler`'s constructor through `LogManager.get{String,Int,Long,Boolean,Level,
//! Filter,Formatter}Property` (each with its own trimming and default), with JULI's prefix
//! lookup and `${}` replacement, and `SimpleFormatter`'s choice of format.

use super::encoding::Charset;
use super::format::{Format, Problem};
use super::level::{java_trim, parse_java_int, parse_java_long, Level};
use super::properties::{replace, Properties};

pub(super) const FILE_HANDLER: &str = "java.util.logging.FileHandler";
pub(super) const CONSOLE_HANDLER: &str = "java.util.logging.ConsoleHandler";
const SIMPLE_FORMATTER: &str = "java.util.logging.SimpleFormatter";
pub(super) const FORMAT_KEY: &str = "java.util.logging.SimpleFormatter.format";
pub(super) const CARBON_FILTER: &str = "org.wso2.carbon.bootstrap.logging.filters.CarbonLogFilter";
pub(super) const MI_FILTER: &str =
    "org.wso2.micro.integrator.bootstrap.logging.filters.MicroIntegratorLogFilter";

/// What a handler's `filter` does with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// No filter: every record passes.
    None,
    /// `CarbonLogFilter` / `MicroIntegratorLogFilter`: the logger's name contains one of these.
    NameContains(&'static [&'static str]),
}

impl Filter {
    pub(super) const CARBON: Filter = Filter::NameContains(&[
        "org.wso2.carbon.server",
        "org.wso2.carbon.core.init.CarbonServerManager",
    ]);
    pub(super) const MICRO_INTEGRATOR: Filter = Filter::NameContains(&[
        "org.wso2.micro.integrator.server",
        "org.wso2.micro.core.init",
    ]);

    pub fn passes(self, logger: &str) -> bool {
        match self {
            Filter::None => true,
            Filter::NameContains(parts) => parts.iter().any(|p| logger.contains(p)),
        }
    }
}

/// A `java.util.logging.FileHandler`'s settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSettings {
    /// `pattern`, relative to the JVM's working directory (the carbon home) unless absolute.
    pub pattern: String,
    /// `limit` in bytes; 0: no limit.
    pub limit: u64,
    /// `count`: how many generations, at least 1.
    pub count: u32,
    pub append: bool,
    /// `maxLocks`: how many `%u` values are tried for a free lock.
    pub max_locks: u32,
    pub encoding: Charset,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    File(FileSettings),
    /// `java.util.logging.ConsoleHandler`: standard error.
    Console {
        encoding: Charset,
    },
}

/// One handler the launcher starts and carbon-patcher follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handler {
    /// As listed in `handlers`, prefix included.
    pub name: String,
    pub level: Level,
    pub filter: Filter,
    pub format: Format,
    pub kind: Kind,
}

impl Handler {
    /// `Handler.isLoggable` for a record of `logger` at `level`.
    pub fn takes(&self, logger: &str, level: Level) -> bool {
        level.passes(self.level) && self.filter.passes(logger)
    }
}

/// Lookups with a handler's prefix and `${}` replacement, collecting warnings.
pub(super) struct Reader<'a> {
    pub(super) props: &'a Properties,
    pub(super) system: &'a dyn Fn(&str) -> Option<String>,
    pub(super) file: &'a str,
    pub(super) warnings: Vec<String>,
}

impl Reader<'_> {
    /// `ClassLoaderLogManager.getProperty`: the prefixed key, then the plain one, replaced.
    /// Returns the key found too, for warnings.
    pub(super) fn get(&self, prefix: &str, key: &str) -> Option<(String, String)> {
        let found = [format!("{prefix}{key}"), key.to_string()]
            .into_iter()
            .take(if prefix.is_empty() { 1 } else { 2 })
            .find_map(|k| self.props.get(&k).map(|v| (k, v.to_string())))?;
        Some((found.0, replace(&found.1, self.system)))
    }

    pub(super) fn warn(&mut self, key: &str, value: &str, what: &str) {
        self.warnings
            .push(format!("{}: {key} = {value:?}: {what}", self.file));
    }

    fn level(&mut self, prefix: &str, key: &str, default: Level, name: &str) -> Level {
        let Some((k, v)) = self.get(prefix, key) else {
            return default;
        };
        Level::parse(java_trim(&v)).unwrap_or_else(|| {
            self.warn(
                &k,
                &v,
                &format!("not a level; {name} is used, as Java does"),
            );
            default
        })
    }

    fn number<T: Copy + std::fmt::Display>(
        &mut self,
        prefix: &str,
        key: &str,
        parse: impl Fn(&str) -> Option<T>,
        ok: impl Fn(T) -> bool,
        default: T,
    ) -> T {
        let Some((k, v)) = self.get(prefix, key) else {
            return default;
        };
        match parse(java_trim(&v)).filter(|n| ok(*n)) {
            Some(n) => n,
            None => {
                self.warn(
                    &k,
                    &v,
                    &format!("not usable; {default} is used, as Java does"),
                );
                default
            }
        }
    }

    fn encoding(&mut self, prefix: &str, class: &str) -> Charset {
        let Some((k, v)) = self.get(prefix, &format!("{class}.encoding")) else {
            return Charset::Utf8;
        };
        Charset::from_java_name(java_trim(&v)).unwrap_or_else(|| {
            self.warn(&k, &v, "carbon-patcher writes only UTF-8, ISO-8859-1 and US-ASCII; UTF-8 (the launcher's default) is used");
            Charset::Utf8
        })
    }

    fn filter(&mut self, prefix: &str, class: &str) -> Filter {
        // `getFilterProperty` loads the value as written, untrimmed.
        match self.get(prefix, &format!("{class}.filter")) {
            None => Filter::None,
            Some((_, v)) if v == CARBON_FILTER => Filter::CARBON,
            Some((_, v)) if v == MI_FILTER => Filter::MICRO_INTEGRATOR,
            Some((k, v)) => {
                self.warn(&k, &v, "carbon-patcher cannot run this filter; every record passes, as with no filter (and as the stock filter passes the launcher's records)");
                Filter::None
            }
        }
    }

    /// The handler's formatter: `SimpleFormatter` with its format, as `SimpleFormatter` finds
    /// it (the system property, else the logging property) and checks it.
    fn formatter(&mut self, prefix: &str, class: &str, default_simple: bool) -> Format {
        let instead =
            "java.util.logging.SimpleFormatter is used instead, with its format from this file";
        match self.get(prefix, &format!("{class}.formatter")) {
            Some((_, v)) if v == SIMPLE_FORMATTER => {}
            None if default_simple => {}
            None => self.warnings.push(format!(
                "{}: {prefix}{class}.formatter is not set, so the launcher writes java.util.logging.XMLFormatter's XML, which carbon-patcher does not write; {instead}",
                self.file
            )),
            Some((k, v)) => {
                self.warn(&k, &v, &format!("carbon-patcher writes no other formatter's layout; {instead}"))
            }
        }
        let (key, text) = match (self.system)(FORMAT_KEY) {
            Some(v) => (format!("-D{FORMAT_KEY}"), v),
            None => match self.get(prefix, FORMAT_KEY) {
                Some(found) => found,
                None => return Format::jdk_default(),
            },
        };
        match Format::parse(&text) {
            Ok(f) => f,
            Err(Problem::Invalid(why)) => {
                self.warn(&key, &text, &format!("java.util.Formatter refuses it ({why}), so the launcher uses the JDK's default format, and so does carbon-patcher"));
                Format::jdk_default()
            }
            Err(Problem::Unsupported(why)) => {
                self.warn(
                    &key,
                    &text,
                    &format!("carbon-patcher cannot print {why}; the stock format is used"),
                );
                Format::stock()
            }
        }
    }

    /// `FileHandler.configure` / `ConsoleHandler`'s constructor for the handler `name`.
    pub(super) fn handler(&mut self, name: &str) -> Option<Handler> {
        // A leading digit: the name up to its first '.' is the prefix.
        let (prefix, class) = match name.find('.') {
            Some(dot) if name.starts_with(|c: char| c.is_ascii_digit()) => name.split_at(dot + 1),
            _ => ("", name),
        };
        let key = |k: &str| format!("{class}.{k}");
        let (level, kind) = match class {
            FILE_HANDLER => {
                let (pattern_key, pattern) = self
                    .get(prefix, &key("pattern"))
                    .map(|(k, v)| (k, java_trim(&v).to_string()))
                    .unwrap_or_else(|| (String::new(), "%h/java%u.log".to_string()));
                if pattern.is_empty() {
                    self.warn(&pattern_key, "", "an empty pattern stops the launcher's FileHandler from starting; it writes nothing, nor does carbon-patcher");
                    return None;
                }
                let file = FileSettings {
                    pattern,
                    limit: self.number(prefix, &key("limit"), parse_java_long, |n| n >= 0, 0)
                        as u64,
                    count: self.number(prefix, &key("count"), parse_java_int, |n| n > 0, 1) as u32,
                    append: self.boolean(prefix, &key("append"), false),
                    max_locks: self.number(prefix, &key("maxLocks"), parse_java_int, |n| n > 0, 100)
                        as u32,
                    encoding: self.encoding(prefix, class),
                };
                (
                    self.level(prefix, &key("level"), Level::ALL, "ALL"),
                    Kind::File(file),
                )
            }
            CONSOLE_HANDLER => {
                let encoding = self.encoding(prefix, class);
                (
                    self.level(prefix, &key("level"), Level::INFO, "INFO"),
                    Kind::Console { encoding },
                )
            }
            _ => {
                let hint = if class.contains(|c: char| c <= ' ') {
                    " (handler names are separated by commas only)"
                } else {
                    ""
                };
                self.warnings.push(format!(
                    "{}: handlers: {name:?}{hint}: carbon-patcher writes only as java.util.logging.FileHandler and ConsoleHandler do; this handler is left out, and what the launcher would write through it is not written",
                    self.file
                ));
                return None;
            }
        };
        Some(Handler {
            name: name.to_string(),
            level,
            filter: self.filter(prefix, class),
            format: self.formatter(prefix, class, class == CONSOLE_HANDLER),
            kind,
        })
    }

    /// `LogManager.getBooleanProperty`: lowercased but untrimmed `true`/`1`/`false`/`0`.
    fn boolean(&mut self, prefix: &str, key: &str, default: bool) -> bool {
        let Some((k, v)) = self.get(prefix, key) else {
            return default;
        };
        match v.to_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                self.warn(&k, &v, &format!("not a boolean to Java (which does not trim it); {default} is used, as Java does"));
                default
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_system(_: &str) -> Option<String> {
        None
    }

    /// The handler `name` as read from `text`, and the warnings reading it gave.
    fn read_with(
        text: &str,
        name: &str,
        system: &dyn Fn(&str) -> Option<String>,
    ) -> (Option<Handler>, Vec<String>) {
        let props = Properties::load(text.as_bytes()).unwrap();
        let mut r = Reader {
            props: &props,
            system,
            file: "f",
            warnings: Vec::new(),
        };
        let h = r.handler(name);
        (h, r.warnings)
    }

    /// [`read_with`] with no system properties, expecting a handler and these warnings.
    fn read(text: &str, name: &str, expected: &[&str]) -> Handler {
        let (h, w) = read_with(text, name, &no_system);
        assert_eq!(w.len(), expected.len(), "{w:#?}");
        for (w, e) in w.iter().zip(expected) {
            assert!(w.starts_with("f: ") && w.contains(e), "{w:?} lacks {e:?}");
        }
        h.expect("a handler")
    }

    // Values as FileHandler / ConsoleHandler on OpenJDK 17 under Tomcat 9.0.70's JULI took them.

    #[test]
    fn prefixed_handlers_read_their_prefixed_keys_first() {
        let text = "1patch.java.util.logging.FileHandler.pattern = repository/logs/one.log\n\
             java.util.logging.FileHandler.pattern = repository/logs/patches.log\n\
             java.util.logging.FileHandler.level = FINE\n\
             1patch.java.util.logging.FileHandler.level = INFO\n\
             java.util.logging.FileHandler.formatter = java.util.logging.SimpleFormatter\n\
             java.util.logging.SimpleFormatter.format = [%1$tk] %4$s {%3$s} - %5$s%n\n\
             1patch.java.util.logging.SimpleFormatter.format = ONE %4$s %5$s%n\n";
        let one = read(text, "1patch.java.util.logging.FileHandler", &[]);
        let plain = read(text, FILE_HANDLER, &[]);
        assert_eq!(one.name, "1patch.java.util.logging.FileHandler");
        assert!(matches!(&one.kind, Kind::File(f) if f.pattern == "repository/logs/one.log"));
        assert!(matches!(&plain.kind, Kind::File(f) if f.pattern == "repository/logs/patches.log"));
        assert_eq!((one.level, plain.level), (Level::INFO, Level::FINE));
        assert_eq!(one.format.text(), "ONE %4$s %5$s%n");
        assert_eq!(plain.format.text(), "[%1$tk] %4$s {%3$s} - %5$s%n");
        // A digit with no dot makes no prefix: the whole name is the class.
        assert!(read_with("", "1patch", &no_system).0.is_none());
    }

    #[test]
    fn file_settings_as_java_reads_them() {
        let sys = |k: &str| (k == "carbon.home").then(|| "/opt/wso2".to_string());
        let text = "java.util.logging.FileHandler.pattern = ${carbon.home}/logs/${nope}.log \n\
            java.util.logging.FileHandler.formatter = java.util.logging.SimpleFormatter\n\
            java.util.logging.FileHandler.limit = 5e4\njava.util.logging.FileHandler.count = 0\n\
            java.util.logging.FileHandler.append = true \njava.util.logging.FileHandler.encoding = ISO8859_1\n\
            java.util.logging.FileHandler.maxLocks = -3\n";
        let (h, w) = read_with(text, FILE_HANDLER, &sys);
        let h = h.unwrap();
        let want = FileSettings {
            pattern: "/opt/wso2/logs/${nope}.log".to_string(),
            limit: 0,
            count: 1,
            append: false,
            max_locks: 100,
            encoding: Charset::Latin1,
        };
        assert_eq!(h.kind, Kind::File(want));
        assert_eq!((h.level, h.filter), (Level::ALL, Filter::None));
        assert_eq!(w.len(), 4, "{w:#?}");
        assert!(w[2].contains("append = \"true \": not a boolean"), "{w:#?}");
        // The defaults: the JDK's pattern.
        let h = read(
            "java.util.logging.FileHandler.formatter = java.util.logging.SimpleFormatter\n",
            FILE_HANDLER,
            &[],
        );
        assert!(
            matches!(&h.kind, Kind::File(f) if f.pattern == "%h/java%u.log" && f.limit == 0 && f.count == 1 && !f.append)
        );
        let (h, w) = read_with(
            "java.util.logging.FileHandler.pattern = \n",
            FILE_HANDLER,
            &no_system,
        );
        assert!(h.is_none() && w[0].contains("an empty pattern"), "{w:?}");
    }

    #[test]
    fn filters_and_formatters() {
        let text = "java.util.logging.FileHandler.pattern = p.log\n\
             java.util.logging.FileHandler.filter = org.wso2.carbon.bootstrap.logging.filters.CarbonLogFilter \n\
             java.util.logging.ConsoleHandler.filter = org.wso2.micro.integrator.bootstrap.logging.filters.MicroIntegratorLogFilter\n\
             java.util.logging.ConsoleHandler.formatter = java.util.logging.XMLFormatter\n\
             java.util.logging.ConsoleHandler.encoding = windows-1252\n";
        let file = read(text, FILE_HANDLER, &[
            "FileHandler.filter = \"org.wso2.carbon.bootstrap.logging.filters.CarbonLogFilter \": carbon-patcher cannot run this filter",
            "FileHandler.formatter is not set, so the launcher writes java.util.logging.XMLFormatter",
        ]);
        let console = read(
            text,
            CONSOLE_HANDLER,
            &[
                "ConsoleHandler.encoding = \"windows-1252\"",
                "ConsoleHandler.formatter = \"java.util.logging.XMLFormatter\"",
            ],
        );
        assert_eq!(file.filter, Filter::None);
        assert_eq!(console.filter, Filter::MICRO_INTEGRATOR);
        assert_eq!(
            console.kind,
            Kind::Console {
                encoding: Charset::Utf8
            }
        );
        // No format property: the JDK's default format.
        assert_eq!(console.format, Format::jdk_default());
        assert!(Filter::CARBON.passes("org.wso2.carbon.core.init.CarbonServerManager"));
        assert!(!Filter::MICRO_INTEGRATOR.passes("org.wso2.carbon.server.util.PatchUtils"));
    }

    #[test]
    fn formats_java_refuses_or_we_cannot_print() {
        let with = |f: &str| format!("java.util.logging.SimpleFormatter.format = {f}\n");
        let h = read(
            &with("%d %5$s%n"),
            CONSOLE_HANDLER,
            &["java.util.Formatter refuses it"],
        );
        assert_eq!(h.format, Format::jdk_default());
        let h = read(
            &with("%1$tZ %5$s%n"),
            CONSOLE_HANDLER,
            &["carbon-patcher cannot print %1$tZ: the time zone's name; the stock format is used"],
        );
        assert_eq!(h.format, Format::stock());
        // A -D system property wins over the file, as in SimpleFormatter.
        let sys = |k: &str| (k == FORMAT_KEY).then(|| "%5$s%n".to_string());
        let (h, w) = read_with(&with("%d"), CONSOLE_HANDLER, &sys);
        assert_eq!((h.unwrap().format.text(), w), ("%5$s%n", vec![]));
    }
}
