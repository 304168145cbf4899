//! From the file as written to plain settings: every key is checked by
//! the check its row names (most run the parser of its flag), and a
//! failure becomes a [`ConfigError`] at the value's place; filters are
//! parsed here. The chosen profile is layered over `[profile.default]`,
//! setting by setting; its overrides come before the default profile's.

use super::file::{FileToml, OverrideToml, ProfileToml};
use super::resolved::{Override, RunSettings};
use super::{Config, DEFAULT_PROFILE};
use crate::cli::TestArgs;
use crate::settings::check::{self, Base, Ctx, Cx, Owner};
use crate::settings::{ConfigError, Settings, quoted};
use std::path::Path;

/// Parses and resolves `text` (the file at `path`) for `profile_name`;
/// relative paths are relative to `base`.
pub fn parse(
    text: &str,
    path: &Path,
    profile_name: &str,
    base: &Base,
) -> Result<Config, ConfigError> {
    // Editors do not show a byte-order mark, nor count it as a column.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let ctx = Ctx { path, text, base };
    let file: FileToml = toml::from_str(text).map_err(|e| match e.span() {
        Some(span) => ctx.at(span, e.message()),
        None => ctx.whole(e.message()),
    })?;
    let default = file
        .profile
        .get(DEFAULT_PROFILE)
        .cloned()
        .unwrap_or_default();
    let chosen = match file.profile.get(profile_name) {
        Some(p) => p.clone(),
        None if profile_name == DEFAULT_PROFILE => ProfileToml::default(),
        None => {
            let known: Vec<String> = file.profile.keys().map(|k| quoted(k)).collect();
            return Err(ctx.whole(format!(
                "no profile {} (the file has: {})",
                quoted(profile_name),
                known.join(", ")
            )));
        }
    };
    let base_settings = resolve_profile(&ctx, &default, DEFAULT_PROFILE)?;
    let mine = if profile_name == DEFAULT_PROFILE {
        RunSettings::default()
    } else {
        resolve_profile(&ctx, &chosen, profile_name)?
    };
    // The chosen profile's overrides come first, then default's.
    let mut overrides = Vec::new();
    if profile_name != DEFAULT_PROFILE {
        overrides.extend(resolve_overrides(&ctx, &chosen.overrides, profile_name)?);
    }
    overrides.extend(resolve_overrides(
        &ctx,
        &default.overrides,
        DEFAULT_PROFILE,
    )?);
    let test_groups = test_groups(&ctx, &file)?;
    let mut layers = Vec::new();
    if profile_name != DEFAULT_PROFILE {
        layers.push((format!("profile.{profile_name}"), mine.clone()));
    }
    layers.push((format!("profile.{DEFAULT_PROFILE}"), base_settings.clone()));
    Ok(Config {
        source: Some(path.to_path_buf()),
        profile: profile_name.to_string(),
        layers,
        run: TestArgs::layer(mine, base_settings),
        overrides,
        test_groups,
    })
}

/// `[test-groups.<name>]`: each group's `max-threads`, at least 1; and
/// every override's `test-group` one of them.
fn test_groups(
    ctx: &Ctx<'_>,
    file: &super::file::FileToml,
) -> Result<std::collections::BTreeMap<String, usize>, ConfigError> {
    let mut groups = std::collections::BTreeMap::new();
    for (name, group) in &file.test_groups {
        crate::cli::parse_group_name(name.get_ref())
            .map_err(|m| ctx.at(name.span(), format!("invalid test group: {m}")))?;
        let max = *group.max_threads.get_ref();
        if max < 1 {
            return Err(ctx.at(
                group.max_threads.span(),
                "invalid value for 'max-threads': must be at least 1",
            ));
        }
        groups.insert(name.get_ref().clone(), max as usize);
    }
    for profile in file.profile.values() {
        for o in &profile.overrides {
            if let Some(g) = &o.keys.test_group
                && !groups.contains_key(g.get_ref())
            {
                let known: Vec<String> = groups.keys().map(|k| quoted(k)).collect();
                return Err(ctx.at(
                    g.span(),
                    format!(
                        "no test group {} (define it as [test-groups.{}] with max-threads; the file has: {})",
                        quoted(g.get_ref()),
                        g.get_ref(),
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    ),
                ));
            }
        }
    }
    Ok(groups)
}

fn resolve_profile(ctx: &Ctx<'_>, p: &ProfileToml, name: &str) -> Result<RunSettings, ConfigError> {
    let owner = Owner::Profile(name.to_string());
    TestArgs::resolve(&p.keys, &Cx::new(ctx, &owner))
}

fn resolve_overrides(
    ctx: &Ctx<'_>,
    list: &[OverrideToml],
    profile: &str,
) -> Result<Vec<Override>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, o)| {
            let filter = check::filterset(ctx, &o.filter, "filter")?;
            let owner = Owner::Override {
                profile: profile.to_string(),
                index: i + 1,
                filter: o.filter.get_ref().clone(),
            };
            let layer = TestArgs::resolve(&o.keys, &Cx::new(ctx, &owner))?;
            Ok(Override {
                layer: format!("profile.{profile} override {}", i + 1),
                filter,
                settings: TestArgs::per_test(&layer, true),
            })
        })
        .collect()
}
