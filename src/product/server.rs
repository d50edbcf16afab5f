//! Is a Carbon server running on this product home? `<carbon home>/wso2carbon.pid` names the
//! JVM (Carbon's launcher writes it at start); the pid only counts when that process is alive and
//! really is this home's server, i.e. its command line carries `-Dcarbon.home=<this home>`. A
//! stale pid file (server gone, pid reused by something else) is not a running server.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const PID_FILE: &str = "wso2carbon.pid";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    NotRunning,
    Running { pid: u32 },
}

impl Server {
    pub fn is_running(&self) -> bool {
        matches!(self, Server::Running { .. })
    }
}

/// Resolves symbolic links where it can, so `/opt/wso2` and a link to it compare equal.
fn canonical(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Whether the NUL-separated command line `cmdline` starts a server for `home`.
pub fn cmdline_is_server_of(cmdline: &[u8], home: &Path) -> bool {
    let want = canonical(home);
    cmdline
        .split(|&b| b == 0)
        .filter_map(|arg| arg.strip_prefix(b"-Dcarbon.home="))
        .filter_map(|v| std::str::from_utf8(v).ok())
        .any(|v| canonical(Path::new(v.trim_matches('"'))) == want)
}

/// Looks at `<home>/wso2carbon.pid` and `/proc/<pid>/cmdline`.
pub fn detect(home: &Path) -> Server {
    let Ok(text) = fs::read_to_string(home.join(PID_FILE)) else {
        return Server::NotRunning;
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return Server::NotRunning;
    };
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) if cmdline_is_server_of(&cmdline, home) => Server::Running { pid },
        _ => Server::NotRunning,
    }
}

/// When process `pid` started, from `/proc/<pid>/stat` (clock ticks after boot) and the boot
/// time in `/proc/stat`. Whole seconds at best: the boot time is.
pub fn started(pid: u32) -> Option<SystemTime> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its last `)`.
    let after = &stat[stat.rfind(')')? + 1..];
    let ticks: u64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let boot: u64 = fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return None;
    }
    let after_boot = Duration::from_secs_f64(ticks as f64 / hz as f64);
    Some(UNIX_EPOCH + Duration::from_secs(boot) + after_boot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_this_homes_jvm_only() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("wso2am");
        fs::create_dir(&home).unwrap();
        let args = |h: &Path| {
            format!(
                "java\0-Xmx1g\0-Dcarbon.home={}\0org.wso2.carbon.bootstrap.Bootstrap\0",
                h.display()
            )
        };
        assert!(cmdline_is_server_of(args(&home).as_bytes(), &home));
        assert!(cmdline_is_server_of(
            args(&home.join("../wso2am")).as_bytes(),
            &home
        ));
        assert!(!cmdline_is_server_of(
            args(&dir.path().join("other")).as_bytes(),
            &home
        ));
        assert!(!cmdline_is_server_of(b"sleep\x00100\x00", &home));
    }

    #[test]
    fn pid_file_states() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(detect(dir.path()), Server::NotRunning);
        fs::write(dir.path().join(PID_FILE), "not a pid").unwrap();
        assert_eq!(detect(dir.path()), Server::NotRunning);
        // Our own pid is alive but is not a Carbon JVM for this home: stale.
        fs::write(dir.path().join(PID_FILE), std::process::id().to_string()).unwrap();
        assert_eq!(detect(dir.path()), Server::NotRunning);
        // A child whose command line carries this home's -Dcarbon.home is a running server.
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "sleep 30; :",
                &format!("-Dcarbon.home={}", dir.path().display()),
            ])
            .spawn()
            .unwrap();
        fs::write(dir.path().join(PID_FILE), format!("{}\n", child.id())).unwrap();
        // Until the child has exec'd, /proc shows the parent's command line.
        let t = std::time::Instant::now();
        while !detect(dir.path()).is_running() && t.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(detect(dir.path()), Server::Running { pid: child.id() });
        let started = started(child.id()).expect("a start time");
        let age = SystemTime::now()
            .duration_since(started)
            .unwrap_or_default();
        // Boot time has whole seconds only.
        assert!(age < Duration::from_secs(10), "started {age:?} ago");
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(detect(dir.path()), Server::NotRunning);
    }
}
