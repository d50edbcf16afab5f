//! `logging-bridge.properties` as Tomcat JULI's `ClassLoaderLogManager` (8.5 onwards) and the
//! JDK's handlers read it, reduced to what decides where the launcher's records go.
//!
//! - `handlers`: comma-separated (not whitespace, unlike the JDK's LogManager), read without
//!   `${}` replacement; each name is trimmed; a leading digit makes the name up to its first `.`
//!   a prefix (`1patch.java.util.logging.FileHandler`): that handler's keys are looked up with
//!   the prefix first, then without. Every listed handler is started, reached or not.
//! - The root logger gets every handler, or, when `.handlers` is set, only those it names.
//! - `<logger>.handlers` gives a logger handlers of its own and then (unlike the JDK) stops its
//!   records from reaching the parents' handlers, unless `<logger>.useParentHandlers` is `true`;
//!   `useParentHandlers = false` alone is ignored (JULI only ever sets it to true).
//! - A logger's level is its own `<name>.level`, else its nearest ancestor's, else `.level`,
//!   else INFO; a value `Level.parse` refuses counts as unset.
//! - Handler keys as `FileHandler`/`ConsoleHandler.configure` read them (trimmed or not, and
//!   their defaults, exactly as `LogManager.get*Property` do).

use std::collections::BTreeMap;
use std::path::Path;

use super::encoding::Charset;
use super::format::{Format, Record};
pub use super::handler::{FileSettings, Filter, Handler, Kind};
use super::handler::{Reader, CONSOLE_HANDLER, FILE_HANDLER};
use super::level::{java_trim, Level};
use super::properties::Properties;

/// The launcher's two loggers, in a Carbon kernel and in Micro Integrator.
pub const LAUNCHER_LOGGERS: [&str; 4] = [
    "org.wso2.carbon.server.util.PatchUtils",
    "org.wso2.carbon.server.extensions.PatchInstaller",
    "org.wso2.micro.integrator.server.util.PatchUtils",
    "org.wso2.micro.integrator.server.extensions.PatchInstaller",
];

/// The stock `logging-bridge.properties` of kernels 4.5–4.12 (comments left out).
pub const STOCK_TEXT: &str = "\
handlers=java.util.logging.FileHandler, java.util.logging.ConsoleHandler\n\
\n\
.level= INFO\n\
\n\
java.util.logging.FileHandler.level = FINE\n\
java.util.logging.FileHandler.pattern = repository/logs/patches.log\n\
java.util.logging.FileHandler.limit = 50000\n\
java.util.logging.FileHandler.count = 1\n\
java.util.logging.FileHandler.append = true\n\
java.util.logging.FileHandler.filter = org.wso2.carbon.bootstrap.logging.filters.CarbonLogFilter\n\
java.util.logging.FileHandler.formatter = java.util.logging.SimpleFormatter\n\
java.util.logging.SimpleFormatter.format = [%1$tY-%1$tm-%1$td %1$tk:%1$tM:%1$tS,%1$tL]  %4$s {%2$s} - %5$s %6$s %n\n\
\n\
java.util.logging.ConsoleHandler.level = INFO\n\
java.util.logging.ConsoleHandler.filter = org.wso2.carbon.bootstrap.logging.filters.CarbonLogFilter\n\
\n\
org.wso2.carbon.server.util.PatchUtils.level = FINE\n\
";

/// A logger's effective level and the handlers its records reach, in publishing order (a
/// handler reached twice publishes twice, as in Java).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggerRoute {
    pub level: Level,
    pub handlers: Vec<usize>,
}

/// The followed handlers and, for each logger asked for, its route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub handlers: Vec<Handler>,
    pub loggers: BTreeMap<String, LoggerRoute>,
}

/// Records laid out for their handlers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Each FileHandler (by index in [`Config::handlers`], all of them, in order) and its lines.
    pub files: Vec<(usize, Vec<String>)>,
    /// What the console handlers write to standard error, encoded.
    pub console: Vec<u8>,
}

/// Splits a handler list at commas, trimmed, empty names dropped (`StringTokenizer` + `trim`).
fn names(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(java_trim).filter(|n| !n.is_empty())
}

impl Config {
    /// Reads `path` as the launcher's log manager does, resolving `loggers`. Never fails: a
    /// file that cannot be read makes JULI fall back to the JDK's own `logging.properties`, and
    /// so do we (with a warning).
    pub fn load(
        path: &Path,
        loggers: &[&str],
        system: &dyn Fn(&str) -> Option<String>,
    ) -> (Config, Vec<String>) {
        let label = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => Config::parse(&bytes, &label, loggers, system),
            Err(e) => {
                let (config, mut warnings) = Config::parse(
                    JDK_LOGGING_PROPERTIES.as_bytes(),
                    "the JDK's logging.properties",
                    loggers,
                    system,
                );
                warnings.insert(0, format!("{label}: cannot read ({e}); like the launcher's log manager, carbon-patcher uses the JDK's default logging.properties instead: the console only, at INFO, and no patches.log"));
                (config, warnings)
            }
        }
    }

    /// [`Config::load`] on the file's bytes; `file` names it in warnings.
    pub fn parse(
        bytes: &[u8],
        file: &str,
        loggers: &[&str],
        system: &dyn Fn(&str) -> Option<String>,
    ) -> (Config, Vec<String>) {
        let (props, mut warnings) = match Properties::load(bytes) {
            Ok(p) => (p, Vec::new()),
            // The exception escapes before JULI starts any handler: the launcher logs nothing.
            Err(m) => (Properties::default(), vec![format!(
                "{file}: line {}: malformed \\uXXXX escape: java.util.Properties stops there and the launcher's log manager starts no handler, so it logs nothing at all, and neither does carbon-patcher",
                m.line
            )]),
        };
        let mut r = Reader {
            props: &props,
            system,
            file,
            warnings: Vec::new(),
        };
        let mut handlers = Vec::new();
        let mut by_name = BTreeMap::new();
        // Read raw: JULI takes `handlers` (and tests `.handlers`) straight from the properties.
        for name in props.get("handlers").map(names).into_iter().flatten() {
            if let Some(h) = r.handler(name) {
                // A name listed twice starts two handlers; lookups by name find the last.
                by_name.insert(name.to_string(), handlers.len());
                handlers.push(h);
            }
        }
        let root: Vec<usize> = match props.get(".handlers") {
            None => (0..handlers.len()).collect(),
            Some(_) => {
                let list = r.get("", ".handlers").map(|(_, v)| v).unwrap_or_default();
                names(&list)
                    .filter_map(|n| by_name.get(n).copied())
                    .collect()
            }
        };
        let loggers = loggers
            .iter()
            .map(|l| (l.to_string(), r.route(l, &root, &by_name)))
            .collect();
        warnings.append(&mut r.warnings);
        // Handlers read the same keys (the format, most often): say each thing once.
        let mut seen = std::collections::BTreeSet::new();
        warnings.retain(|w| seen.insert(w.clone()));
        (Config { handlers, loggers }, warnings)
    }

    /// The stock `logging-bridge.properties` of kernels 4.5–4.12 (section 10 of the spec),
    /// resolved for [`LAUNCHER_LOGGERS`].
    pub fn stock() -> Config {
        Config::stock_with(Filter::CARBON, LAUNCHER_LOGGERS[0])
    }

    /// Micro Integrator's stock file: the same but for its filter and its `PatchUtils` level.
    pub fn stock_micro_integrator() -> Config {
        Config::stock_with(Filter::MICRO_INTEGRATOR, LAUNCHER_LOGGERS[2])
    }

    fn stock_with(filter: Filter, fine_logger: &str) -> Config {
        let file = FileSettings {
            pattern: "repository/logs/patches.log".to_string(),
            limit: 50_000,
            count: 1,
            append: true,
            max_locks: 100,
            encoding: Charset::Utf8,
        };
        let handler = |name: &str, level, kind| Handler {
            name: name.to_string(),
            level,
            filter,
            format: Format::stock(),
            kind,
        };
        let handlers = vec![
            handler(FILE_HANDLER, Level::FINE, Kind::File(file)),
            handler(
                CONSOLE_HANDLER,
                Level::INFO,
                Kind::Console {
                    encoding: Charset::Utf8,
                },
            ),
        ];
        let loggers = LAUNCHER_LOGGERS
            .iter()
            .map(|l| {
                let level = if *l == fine_logger {
                    Level::FINE
                } else {
                    Level::INFO
                };
                let route = LoggerRoute {
                    level,
                    handlers: vec![0, 1],
                };
                (l.to_string(), route)
            })
            .collect();
        Config { handlers, loggers }
    }

    /// `Logger.log(level, ..)` on `logger`: the handlers that publish the record, in order.
    /// Only loggers resolved at load are known; any other reaches no handler.
    pub fn route(&self, logger: &str, level: Level) -> Vec<usize> {
        let Some(route) = self.loggers.get(logger) else {
            return Vec::new();
        };
        if !level.passes(route.level) {
            return Vec::new();
        }
        (route.handlers.iter().copied())
            .filter(|&h| self.handlers[h].takes(logger, level))
            .collect()
    }

    /// Formats `records` for every handler that publishes them: the lines of each FileHandler
    /// and the console's bytes, record by record as Java publishes them.
    pub fn render(&self, records: &[Record]) -> Rendered {
        let mut files: Vec<(usize, Vec<String>)> = (self.handlers.iter().enumerate())
            .filter(|(_, h)| matches!(h.kind, Kind::File(_)))
            .map(|(i, _)| (i, Vec::new()))
            .collect();
        let mut console = Vec::new();
        for r in records {
            for h in self.route(r.logger, r.level) {
                let handler = &self.handlers[h];
                let text = handler.format.format(r);
                match &handler.kind {
                    Kind::Console { encoding } => console.extend(encoding.encode(&text)),
                    Kind::File(_) => {
                        if let Some((_, lines)) = files.iter_mut().find(|(i, _)| *i == h) {
                            lines.push(text);
                        }
                    }
                }
            }
        }
        Rendered { files, console }
    }
}

impl Reader<'_> {
    /// `ClassLoaderLogManager.addLogger` for `logger` and its ancestors, then `Logger.log`'s walk
    /// up the parents.
    fn route(
        &mut self,
        logger: &str,
        root: &[usize],
        by_name: &BTreeMap<String, usize>,
    ) -> LoggerRoute {
        let chain: Vec<&str> =
            std::iter::successors(Some(logger), |n| n.rfind('.').map(|i| &n[..i])).collect();
        let mut level = None;
        for name in chain.iter().copied().chain([""]) {
            let key = format!("{name}.level");
            if let Some((k, v)) = self.get("", &key) {
                match Level::parse(java_trim(&v)) {
                    Some(l) => {
                        level = Some(l);
                        break;
                    }
                    None => self.warn(
                        &k,
                        &v,
                        "not a level; the logger takes its parent's level, as the launcher does",
                    ),
                }
            }
        }
        let mut handlers = Vec::new();
        for name in chain {
            let use_parent = self.get("", &format!("{name}.useParentHandlers"));
            let says_true = use_parent
                .as_ref()
                .is_some_and(|(_, v)| v.eq_ignore_ascii_case("true"));
            match self.get("", &format!("{name}.handlers")) {
                Some((_, list)) => {
                    handlers.extend(names(&list).filter_map(|n| by_name.get(n).copied()));
                    if !says_true {
                        return LoggerRoute {
                            level: level.unwrap_or(Level::INFO),
                            handlers,
                        };
                    }
                }
                None => {
                    if let (Some((k, v)), false) = (use_parent, says_true) {
                        self.warn(&k, &v, "ignored: JULI only honours true (and stops at a logger's own handlers without it), so records still reach the parent's handlers, as in the launcher");
                    }
                }
            }
        }
        handlers.extend_from_slice(root);
        LoggerRoute {
            level: level.unwrap_or(Level::INFO),
            handlers,
        }
    }
}

/// The `logging.properties` shipped in the JDK's `conf` (Java 9+) or `lib` (Java 8), as far as
/// handlers go.
const JDK_LOGGING_PROPERTIES: &str = "handlers= java.util.logging.ConsoleHandler\n.level= INFO\n\
java.util.logging.ConsoleHandler.level = INFO\n\
java.util.logging.ConsoleHandler.formatter = java.util.logging.SimpleFormatter\n";

#[cfg(test)]
mod tests {
    use super::super::handler::{CARBON_FILTER, MI_FILTER};
    use super::*;
    use chrono::{Local, TimeZone};

    const PATCH_UTILS: &str = "org.wso2.carbon.server.util.PatchUtils";
    const INSTALLER: &str = "org.wso2.carbon.server.extensions.PatchInstaller";

    fn no_system(_: &str) -> Option<String> {
        None
    }

    fn parse(text: &str) -> (Config, Vec<String>) {
        Config::parse(
            text.as_bytes(),
            "logging-bridge.properties",
            &LAUNCHER_LOGGERS,
            &no_system,
        )
    }

    /// A config whose only warnings are the expected ones.
    fn parse_warning(text: &str, expected: &[&str]) -> Config {
        let (c, w) = parse(text);
        assert_eq!(w.len(), expected.len(), "{w:#?}");
        for (w, e) in w.iter().zip(expected) {
            assert!(
                w.starts_with("logging-bridge.properties: ") && w.contains(e),
                "{w:?} lacks {e:?}"
            );
        }
        c
    }

    const HANDLERS: &str =
        "handlers=java.util.logging.FileHandler, java.util.logging.ConsoleHandler\n\
        java.util.logging.FileHandler.pattern = repository/logs/patches.log\n\
        java.util.logging.FileHandler.formatter = java.util.logging.SimpleFormatter\n";

    #[test]
    fn the_stock_files_give_the_stock_configs() {
        assert_eq!(parse(STOCK_TEXT), (Config::stock(), vec![]));
        let mi = STOCK_TEXT.replace(CARBON_FILTER, MI_FILTER).replace(
            "org.wso2.carbon.server.util.PatchUtils.level",
            "org.wso2.micro.integrator.server.util.PatchUtils.level",
        );
        assert_eq!(parse(&mi), (Config::stock_micro_integrator(), vec![]));
    }

    #[test]
    fn stock_routes_as_section_10_says() {
        let c = Config::stock();
        assert_eq!(c.route(PATCH_UTILS, Level::FINE), vec![0]);
        assert_eq!(c.route(PATCH_UTILS, Level::INFO), vec![0, 1]);
        assert_eq!(c.route(INSTALLER, Level::FINE), Vec::<usize>::new());
        assert_eq!(c.route(INSTALLER, Level::WARNING), vec![0, 1]);
        // CarbonLogFilter turns Micro Integrator's loggers away, and the other way round.
        assert_eq!(
            c.route(LAUNCHER_LOGGERS[3], Level::SEVERE),
            Vec::<usize>::new()
        );
        let mi = Config::stock_micro_integrator();
        assert_eq!(mi.route(LAUNCHER_LOGGERS[2], Level::FINE), vec![0]);
        assert_eq!(mi.route(PATCH_UTILS, Level::SEVERE), Vec::<usize>::new());
        assert_eq!(c.route("not.resolved", Level::SEVERE), Vec::<usize>::new());
    }

    #[test]
    fn render_gives_each_handler_its_lines() {
        let t = Local.with_ymd_and_hms(2026, 11, 29, 9, 5, 3).unwrap()
            + chrono::Duration::milliseconds(737);
        let record = |logger, level, method, message| Record {
            time: t,
            logger,
            level,
            class: Some(logger),
            method: Some(method),
            message,
            thrown: None,
        };
        let r = Config::stock().render(&[
            record(
                PATCH_UTILS,
                Level::FINE,
                "processPatches",
                "Checking for patch changes ...",
            ),
            record(INSTALLER, Level::INFO, "perform", "Patch changes detected"),
        ]);
        let fine = "[2026-11-29 9:05:03,737]  FINE {org.wso2.carbon.server.util.PatchUtils processPatches} - Checking for patch changes ...  \n";
        let info = "[2026-11-29 9:05:03,737]  INFO {org.wso2.carbon.server.extensions.PatchInstaller perform} - Patch changes detected  \n";
        assert_eq!(r.files, vec![(0, vec![fine.to_string(), info.to_string()])]);
        assert_eq!(r.console, info.as_bytes());
    }

    #[test]
    fn console_bytes_in_publishing_order_and_encoding() {
        let c = parse_warning(
            &format!(
                "handlers=java.util.logging.ConsoleHandler\n\
                 java.util.logging.ConsoleHandler.encoding = ISO-8859-1\n\
                 java.util.logging.ConsoleHandler.level = FINE\n\
                 java.util.logging.SimpleFormatter.format = %4$s %5$s%n\n\
                 {PATCH_UTILS}.handlers = java.util.logging.ConsoleHandler\n\
                 {PATCH_UTILS}.useParentHandlers = true\n.level = FINE\n"
            ),
            &[],
        );
        let record = |logger, level, message| Record {
            time: Local::now(),
            logger,
            level,
            class: None,
            method: None,
            message,
            thrown: None,
        };
        let r = c.render(&[
            record(PATCH_UTILS, Level::FINE, "d\u{e9}j\u{e0} \u{20ac}"),
            record(INSTALLER, Level::INFO, "once"),
        ]);
        // Each record goes to every handler before the next record; the console got PatchUtils'
        // record twice (its own handler, then the root's), in ISO-8859-1.
        assert_eq!(
            r.console,
            b"FINE d\xe9j\xe0 ?\nFINE d\xe9j\xe0 ?\nINFO once\n"
        );
        assert!(r.files.is_empty());
    }

    // The routing below is what Tomcat 9.0.70's ClassLoaderLogManager did with the same files.

    #[test]
    fn root_handlers_restricted_by_dot_handlers() {
        let c = parse_warning(&format!("{HANDLERS}.handlers = java.util.logging.ConsoleHandler\n{PATCH_UTILS}.level=FINE\n"), &[]);
        // The FileHandler still starts (its file is created) but no logger reaches it.
        assert_eq!(c.handlers.len(), 2);
        assert_eq!(c.route(PATCH_UTILS, Level::FINE), Vec::<usize>::new());
        assert_eq!(c.route(PATCH_UTILS, Level::INFO), vec![1]);
        assert_eq!(
            parse("handlers=java.util.logging.ConsoleHandler\n.handlers=\n")
                .0
                .route(INSTALLER, Level::SEVERE),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn a_loggers_own_handlers_stop_at_it_unless_use_parent_handlers_is_true() {
        let own = format!("{HANDLERS}{PATCH_UTILS}.handlers = java.util.logging.ConsoleHandler\n{PATCH_UTILS}.level=FINE\n");
        let c = parse_warning(&own, &[]);
        assert_eq!(c.route(PATCH_UTILS, Level::INFO), vec![1]);
        assert_eq!(c.route(INSTALLER, Level::INFO), vec![0, 1]);
        let c = parse_warning(
            &format!("{own}{PATCH_UTILS}.useParentHandlers = TRUE\n"),
            &[],
        );
        // Published twice to the console: once as the logger's, once as the root's.
        assert_eq!(c.route(PATCH_UTILS, Level::INFO), vec![1, 0, 1]);
        assert_eq!(c.route(PATCH_UTILS, Level::FINE), vec![0]);
    }

    #[test]
    fn use_parent_handlers_false_alone_is_ignored() {
        let c = parse_warning(
            &format!("{HANDLERS}{PATCH_UTILS}.useParentHandlers=false\norg.wso2.carbon.server.level=FINE\n"),
            &["PatchUtils.useParentHandlers = \"false\": ignored"],
        );
        assert_eq!(c.route(PATCH_UTILS, Level::FINE), vec![0]);
        assert_eq!(c.loggers[INSTALLER].level, Level::FINE);
    }

    #[test]
    fn handlers_are_named_with_their_prefix() {
        let c = parse_warning(
            &format!(
                "handlers=1patch.java.util.logging.FileHandler, java.util.logging.FileHandler\n\
             1patch.java.util.logging.FileHandler.pattern = one.log\n\
             java.util.logging.FileHandler.pattern = patches.log\n\
             java.util.logging.FileHandler.formatter = java.util.logging.SimpleFormatter\n\
             1patch.java.util.logging.FileHandler.level = INFO\n\
             .handlers = 1patch.java.util.logging.FileHandler\n\
             {PATCH_UTILS}.handlers = java.util.logging.FileHandler\n\
             {PATCH_UTILS}.useParentHandlers = true\n{PATCH_UTILS}.level = FINE\n"
            ),
            &[],
        );
        assert_eq!(c.route(PATCH_UTILS, Level::FINE), vec![1]);
        assert_eq!(c.route(PATCH_UTILS, Level::INFO), vec![1, 0]);
        assert_eq!(c.route(INSTALLER, Level::INFO), vec![0]);
    }

    #[test]
    fn handlers_this_cannot_follow_are_left_out() {
        let c = parse_warning(
            "handlers=java.util.logging.FileHandler java.util.logging.ConsoleHandler\n",
            &["(handler names are separated by commas only)"],
        );
        assert!(c.handlers.is_empty());
        let c = parse_warning(
            "handlers=org.apache.juli.FileHandler,,java.util.logging.ConsoleHandler\n\
             org.wso2.carbon.server.util.PatchUtils.handlers = org.apache.juli.FileHandler\n",
            &["\"org.apache.juli.FileHandler\": carbon-patcher writes only as"],
        );
        assert_eq!(c.handlers.len(), 1);
        assert_eq!(c.route(PATCH_UTILS, Level::SEVERE), Vec::<usize>::new());
        assert_eq!(c.route(INSTALLER, Level::SEVERE), vec![0]);
    }

    #[test]
    fn levels_java_refuses_are_unset() {
        let c = parse_warning(
            "handlers=java.util.logging.ConsoleHandler\n\
             java.util.logging.ConsoleHandler.level = fine\n\
             org.wso2.carbon.server.util.PatchUtils.level=${lvl}\n\
             org.wso2.carbon.server.level= FINER \n.level=WARNING\n",
            &[
                "ConsoleHandler.level = \"fine\": not a level; INFO is used",
                "PatchUtils.level = \"${lvl}\": not a level; the logger takes its parent's",
            ],
        );
        assert_eq!(c.handlers[0].level, Level::INFO);
        assert_eq!(c.loggers[PATCH_UTILS].level, Level::FINER);
        assert_eq!(c.loggers[LAUNCHER_LOGGERS[2]].level, Level::WARNING);
        let c = parse_warning("handlers=java.util.logging.ConsoleHandler\njava.util.logging.ConsoleHandler.level=500\n", &[]);
        assert_eq!(
            (c.handlers[0].level, c.loggers[PATCH_UTILS].level),
            (Level::FINE, Level::INFO)
        );
    }

    #[test]
    fn a_malformed_escape_or_a_missing_file() {
        let c = parse_warning(
            &format!("{HANDLERS}bad=\\u00G1\n"),
            &["line 4: malformed \\uXXXX escape"],
        );
        assert!(c.handlers.is_empty());
        assert_eq!(c.route(PATCH_UTILS, Level::SEVERE), Vec::<usize>::new());
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("logging-bridge.properties");
        let (c, w) = Config::load(&missing, &LAUNCHER_LOGGERS, &no_system);
        assert!(w.len() == 1 && w[0].contains("cannot read"), "{w:?}");
        assert_eq!(c.handlers.len(), 1);
        assert!(matches!(c.handlers[0].kind, Kind::Console { .. }));
        assert_eq!(c.handlers[0].format, Format::jdk_default());
        assert_eq!(c.route(PATCH_UTILS, Level::INFO), vec![0]);
        std::fs::write(&missing, STOCK_TEXT).unwrap();
        assert_eq!(
            Config::load(&missing, &LAUNCHER_LOGGERS, &no_system),
            (Config::stock(), vec![])
        );
    }
}
