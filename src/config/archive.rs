//! An archive's own configuration is untrusted input: what it may set.

use super::DEFAULT_PATH;
use crate::cli::TestArgs;
use crate::settings::{ConfigError, rows_of, shorten};
use std::ops::Range;
use std::path::Path;
use std::sync::LazyLock;

/// What an archive's own `.config/isolate.toml` may set in a profile: which
/// tests run, how often and when the run stops; the tests' limits (their
/// cgroup's, their time, faults in their own network); and budgets: the
/// settings whose row in the table says `archive: true`. An archive is
/// untrusted input, so this is an allow-list: every other key (the
/// sandbox's shape, host paths the runner reads or writes, the terminal,
/// parallelism, and any key added later) is refused unless the user
/// vouches for the file (`--trust-archive-config`) or gives their own
/// (`--config-file`).
static ARCHIVE_PROFILE_KEYS: LazyLock<Vec<String>> = LazyLock::new(|| allowed(false));

/// What an archive's configuration may set in an override (as above).
static ARCHIVE_OVERRIDE_KEYS: LazyLock<Vec<String>> = LazyLock::new(|| allowed(true));

fn allowed(in_override: bool) -> Vec<String> {
    let mut keys = vec![match in_override {
        true => "filter".to_string(),
        false => "overrides".to_string(),
    }];
    for r in rows_of::<TestArgs>() {
        if r.archive && (!in_override || r.in_override()) {
            keys.push(r.key());
            keys.extend(r.alias.map(String::from));
        }
    }
    keys
}

/// Refuses the configuration file of an unpacked archive's workspace if
/// it sets anything but `ARCHIVE_PROFILE_KEYS` and
/// `ARCHIVE_OVERRIDE_KEYS`. No file: nothing to refuse.
pub fn check_archive_config(workspace_root: &Path) -> Result<(), ConfigError> {
    let path = workspace_root.join(DEFAULT_PATH);
    match super::read_text(&path) {
        Ok(text) => check_archive_text(&text, &path),
        // Missing, or unreadable (which loading it says).
        Err(_) => Ok(()),
    }
}

pub(super) fn check_archive_text(text: &str, path: &Path) -> Result<(), ConfigError> {
    use toml::de::{DeTable, DeValue};
    // As the parser reads it: without a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // A syntax or type error is the parser's to point at.
    let Ok(doc) = DeTable::parse(text) else {
        return Ok(());
    };
    let mut refused: Vec<(String, Range<usize>)> = Vec::new();
    for (key, value) in doc.get_ref() {
        // Test groups only share the -j slots out: a test of the archive
        // may name one (`test-group` is an archive key), so it may define it.
        if key.get_ref() == "test-groups" {
            continue;
        }
        let DeValue::Table(profiles) = value.get_ref() else {
            refused.push((shorten(key.get_ref()), key.span()));
            continue;
        };
        if key.get_ref() != "profile" {
            refused.push((shorten(key.get_ref()), key.span()));
            continue;
        }
        for (name, profile) in profiles {
            let DeValue::Table(keys) = profile.get_ref() else {
                continue;
            };
            let name = shorten(name.get_ref());
            for (k, v) in keys {
                let k_name: &str = k.get_ref();
                if !ARCHIVE_PROFILE_KEYS.iter().any(|a| a == k_name) {
                    refused.push((format!("profile.{name}.{}", shorten(k_name)), k.span()));
                    continue;
                }
                let DeValue::Array(list) = v.get_ref() else {
                    continue;
                };
                for o in list {
                    let DeValue::Table(o) = o.get_ref() else {
                        continue;
                    };
                    for (ok, _) in o {
                        let ok_name: &str = ok.get_ref();
                        if !ARCHIVE_OVERRIDE_KEYS.iter().any(|a| a == ok_name) {
                            refused.push((
                                format!("profile.{name}.overrides.{}", shorten(ok_name)),
                                ok.span(),
                            ));
                        }
                    }
                }
            }
        }
    }
    refused.sort_by_key(|(_, span)| span.start);
    let Some((_, first)) = refused.first().cloned() else {
        return Ok(());
    };
    let keys: Vec<String> = refused
        .iter()
        .map(|(k, span)| {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("{k} (line {line})")
        })
        .collect();
    Err(ConfigError::at(
        path,
        text,
        first,
        format!(
            "the archive's configuration may not set {}: an archive is untrusted input, so its configuration may only select tests and set limits and budgets; pass --trust-archive-config to use it as it is, or --config-file PATH to use your own",
            keys.join(", ")
        ),
    ))
}
