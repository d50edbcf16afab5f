//! `FileHandler.generate`: a FileHandler's file names from its `pattern`.

use std::path::{Path, PathBuf};

/// `FileHandler.generate(pattern, count, generation, unique)`: the file name, relative to the
/// JVM's working directory unless absolute. `%t` (`java.io.tmpdir`, else `user.home`) and `%h`
/// (`user.home`) replace whatever came before them; `%g`, `%u` and `%%` expand in place (the
/// letters in either case); without `%g` and with `count` > 1, `.<generation>` is appended, and
/// without `%u`, `.<unique>` when `unique` > 0. Empty path elements are dropped, as
/// `Paths.get` does.
pub fn generate(
    pattern: &str,
    count: u32,
    generation: u32,
    unique: u32,
    system: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, String> {
    let join = |result: Option<PathBuf>, word: &str| -> Option<PathBuf> {
        if word.is_empty() {
            return result;
        }
        Some(result.map_or_else(|| PathBuf::from(word), |r| r.join(word)))
    };
    let mut result: Option<PathBuf> = None;
    let mut word = String::new();
    let (mut saw_g, mut saw_u) = (false, false);
    for (n, elem) in pattern.split('/').filter(|e| !e.is_empty()).enumerate() {
        if n > 0 {
            result = join(result, &word);
        }
        word.clear();
        let mut chars = elem.chars().peekable();
        while let Some(ch) = chars.next() {
            let next = chars.peek().map(char::to_ascii_lowercase);
            if ch == '%' {
                let dir = |key: &str| {
                    system(key).ok_or(format!(
                        "{pattern}: %{} needs {key}, which is not known",
                        next.unwrap_or(' ')
                    ))
                };
                match next {
                    Some('t') => {
                        result = Some(PathBuf::from(
                            dir("java.io.tmpdir").or_else(|_| dir("user.home"))?,
                        ));
                        word.clear();
                    }
                    Some('h') => {
                        result = Some(PathBuf::from(dir("user.home")?));
                        word.clear();
                    }
                    Some('g') => {
                        word.push_str(&generation.to_string());
                        saw_g = true;
                    }
                    Some('u') => {
                        word.push_str(&unique.to_string());
                        saw_u = true;
                    }
                    Some('%') => word.push('%'),
                    _ => {
                        word.push('%');
                        continue;
                    }
                }
                chars.next();
                continue;
            }
            word.push(ch);
        }
    }
    if count > 1 && !saw_g {
        word.push_str(&format!(".{generation}"));
    }
    if unique > 0 && !saw_u {
        word.push_str(&format!(".{unique}"));
    }
    let result = join(result, &word).ok_or(format!("{pattern}: names no file"))?;
    Ok(if pattern.starts_with('/') {
        Path::new("/").join(result)
    } else {
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system(k: &str) -> Option<String> {
        match k {
            "user.home" => Some("/home/wso2".to_string()),
            "java.io.tmpdir" => Some("/opt/wso2/scratch".to_string()),
            _ => None,
        }
    }

    #[test]
    fn generate_as_java() {
        // FileHandler.generate on OpenJDK 17, with user.home=/home/wso2, java.io.tmpdir=/opt/wso2/scratch.
        let g = |p: &str, count, generation, unique| {
            generate(p, count, generation, unique, &system).unwrap()
        };
        let p = "repository/logs/patches.log";
        assert_eq!(g(p, 1, 0, 0), Path::new(p));
        assert_eq!(g(p, 3, 2, 0), Path::new("repository/logs/patches.log.2"));
        assert_eq!(g(p, 3, 0, 1), Path::new("repository/logs/patches.log.0.1"));
        assert_eq!(g(p, 1, 0, 2), Path::new("repository/logs/patches.log.2"));
        assert_eq!(
            g("%t/x%g-%u.log", 3, 1, 2),
            Path::new("/opt/wso2/scratch/x1-2.log")
        );
        assert_eq!(
            g("a/%tb/c.log", 1, 0, 0),
            Path::new("/opt/wso2/scratch/b/c.log")
        );
        assert_eq!(
            g("%h/java%u.log", 1, 0, 0),
            Path::new("/home/wso2/java0.log")
        );
        assert_eq!(g("/abs//dir/%%x%q%", 1, 0, 0), Path::new("/abs/dir/%x%q%"));
        assert_eq!(g("%T/X%G%U", 2, 1, 1), Path::new("/opt/wso2/scratch/X11"));
        assert_eq!(g("logs/", 2, 1, 0), Path::new("logs.1"));
        assert_eq!(g("a/%h", 1, 0, 0), Path::new("/home/wso2"));
        assert_eq!(g("./a/../b.log", 1, 0, 0), Path::new("./a/../b.log"));
        assert_eq!(g("%u/%g/x", 1, 0, 0), Path::new("0/0/x"));
        assert!(generate("%h/x", 1, 0, 0, &|_| None).is_err());
    }
}
