//! Sharding a run across machines: `--partition` becomes a [`Partition`]
//! (explicit `hash:K/N`, `count:K/N`..., or `auto`, read from the CI's
//! variables), and
//! [`select`] says which of the selected tests fall in this machine's share.
//!
//! Pure logic: the environment comes in as a function and earlier timings as
//! a map, because every shard must compute the identical assignment on its
//! own, without talking to the others.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;

/// The most shares `--partition` accepts. Far beyond any CI's parallelism; a
/// larger N is almost certainly a typo, and the bound keeps the 0-based to
/// 1-based conversion of CI indices free of overflow.
pub const MAX_TOTAL: u32 = 10_000;

/// `--partition` as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    Hash,
    /// nextest's `count:K/N`: round robin within each binary.
    Count,
    /// nextest's `slice:K/N`: round robin across all binaries.
    Slice,
    Duration,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Hash => "hash",
            Scheme::Count => "count",
            Scheme::Slice => "slice",
            Scheme::Duration => "duration",
        })
    }
}

/// One share of a run: the `index`-th (1-based, as in nextest) of `total`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub scheme: Scheme,
    /// K, 1-based.
    pub index: u32,
    /// N.
    pub total: u32,
}

/// Resolved K/N, so the report says exactly which share ran even when the
/// command line said `auto`.
impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.scheme, self.index, self.total)
    }
}

/// Our own variables, checked before any CI's so a user can always override
/// what detection would find.
const GENERIC_INDEX: &str = "CARGO_ISOLATE_PARTITION_INDEX";
const GENERIC_TOTAL: &str = "CARGO_ISOLATE_PARTITION_TOTAL";
/// A Kubernetes Indexed Job exports only the index; the completion count is
/// in the Job spec, so the total has to come from us.
const K8S_INDEX: &str = "JOB_COMPLETION_INDEX";

/// A CI that exports both its job's index and the job count.
struct CiVars {
    name: &'static str,
    index: &'static str,
    total: &'static str,
    zero_based: bool,
}

const CI_SOURCES: [CiVars; 3] = [
    CiVars {
        name: "GitLab",
        index: "CI_NODE_INDEX",
        total: "CI_NODE_TOTAL",
        zero_based: false,
    },
    CiVars {
        name: "Buildkite",
        index: "BUILDKITE_PARALLEL_JOB",
        total: "BUILDKITE_PARALLEL_JOB_COUNT",
        zero_based: true,
    },
    CiVars {
        name: "CircleCI",
        index: "CIRCLE_NODE_INDEX",
        total: "CIRCLE_NODE_TOTAL",
        zero_based: true,
    },
];

/// Parses `hash:K/N`, `count:K/N`, `slice:K/N`, `duration:K/N` (1 <= K <= N
/// <= 10000) and `auto`, `hash:auto`, `count:auto`, `slice:auto`,
/// `duration:auto` (bare `auto` is hash),
/// where K and N come from the CI's variables read through `env`:
/// CARGO_ISOLATE_PARTITION_INDEX (1-based) / CARGO_ISOLATE_PARTITION_TOTAL
/// first, then GitLab CI_NODE_INDEX (1-based) / CI_NODE_TOTAL, Buildkite
/// BUILDKITE_PARALLEL_JOB (0-based) / BUILDKITE_PARALLEL_JOB_COUNT, CircleCI
/// CIRCLE_NODE_INDEX (0-based) / CIRCLE_NODE_TOTAL, and a Kubernetes Indexed
/// Job's JOB_COMPLETION_INDEX (0-based) with the total from `total_override`
/// (`--partition-total N`) or CARGO_ISOLATE_PARTITION_TOTAL.
///
/// Surrounding whitespace, in the spec and in variables, is ignored; an empty
/// variable counts as unset. `total_override`, when given, must agree with any
/// total the spec or the CI states.
pub fn parse(
    spec: &str,
    total_override: Option<u32>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Partition, String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err("--partition needs a value, e.g. hash:1/3 or auto".to_owned());
    }
    let fail = |msg: String| format!("--partition {spec}: {msg}");
    if spec == "auto" {
        let (index, total) = from_env(spec, &Scheme::Hash, total_override, env)?;
        return Ok(Partition {
            scheme: Scheme::Hash,
            index,
            total,
        });
    }
    let (scheme_text, rest) = match spec.split_once(':') {
        Some((scheme, rest)) => (scheme.trim(), Some(rest.trim())),
        None => (spec, None),
    };
    let scheme = match scheme_text {
        "hash" => Scheme::Hash,
        "count" => Scheme::Count,
        "slice" => Scheme::Slice,
        "duration" => Scheme::Duration,
        "auto" => {
            return Err(fail(
                "auto takes no K/N: give auto alone, or e.g. hash:1/3".to_owned(),
            ));
        }
        _ if rest.is_none() => {
            return Err(fail(
                "expected SCHEME:K/N such as hash:1/3 (schemes: hash, count, slice, duration), or auto"
                    .to_owned(),
            ));
        }
        "" => {
            return Err(fail(
                "no scheme before `:`: use hash, count, slice or duration, e.g. hash:1/3"
                    .to_owned(),
            ));
        }
        other => {
            return Err(fail(format!(
                "unknown scheme `{other}`: use hash, count, slice or duration, e.g. hash:1/3"
            )));
        }
    };
    let (index, total) = match rest {
        None => {
            return Err(fail(format!(
                "expected {scheme}:K/N or {scheme}:auto, e.g. {scheme}:1/3"
            )));
        }
        Some("auto") => from_env(spec, &scheme, total_override, env)?,
        Some(counts) => {
            let (index, total) = explicit(&scheme, counts).map_err(fail)?;
            if let Some(flag) = total_override
                && flag != total
            {
                return Err(fail(format!(
                    "--partition-total {flag} disagrees with N={total}; drop --partition-total"
                )));
            }
            (index, total)
        }
    };
    Ok(Partition {
        scheme,
        index,
        total,
    })
}

/// Why a count did not parse: the two call for different advice.
enum CountError {
    NotNumber,
    TooLarge,
}

/// Digits only: `u32::from_str` would also take `+3`, which no CI writes and
/// which would make `hash:+1/3` mean something.
fn parse_count(text: &str) -> Result<u32, CountError> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CountError::NotNumber);
    }
    text.parse().map_err(|_| CountError::TooLarge)
}

/// `K/N` after `scheme:`.
fn explicit(scheme: &Scheme, counts: &str) -> Result<(u32, u32), String> {
    let Some((k, n)) = counts.split_once('/') else {
        return Err(format!(
            "expected K/N after `{scheme}:`, e.g. {scheme}:1/3 for the first of three shares"
        ));
    };
    let not_number = || format!("K and N must be whole numbers, e.g. {scheme}:1/3");
    let total = match parse_count(n) {
        Ok(0) => {
            return Err(format!(
                "N (the number of shares) must be at least 1, e.g. {scheme}:1/3"
            ));
        }
        Ok(n) if n <= MAX_TOTAL => n,
        Ok(_) | Err(CountError::TooLarge) => {
            return Err(format!("N is at most {MAX_TOTAL} shares"));
        }
        Err(CountError::NotNumber) => return Err(not_number()),
    };
    let index = match parse_count(k) {
        Ok(k) => k,
        // Beyond u32 is certainly beyond N: say so rather than "too large".
        Err(CountError::TooLarge) => u32::MAX,
        Err(CountError::NotNumber) => return Err(not_number()),
    };
    if index == 0 {
        return Err(format!(
            "K counts from 1, as in nextest: {}",
            valid_range(scheme, total)
        ));
    }
    if index > total {
        return Err(format!(
            "K is larger than N (there are only {total} shares): {}",
            valid_range(scheme, total)
        ));
    }
    Ok((index, total))
}

fn valid_range(scheme: &Scheme, total: u32) -> String {
    if total == 1 {
        format!("use {scheme}:1/1")
    } else {
        format!("use {scheme}:1/{total} to {scheme}:{total}/{total}")
    }
}

/// K and N for `auto`, from the first source whose variables are set.
fn from_env(
    spec: &str,
    scheme: &Scheme,
    total_override: Option<u32>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(u32, u32), String> {
    let fail = |msg: String| format!("--partition {spec}: {msg}");
    let var = |name: &str| {
        env(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    if let Some(flag) = total_override
        && !(1..=MAX_TOTAL).contains(&flag)
    {
        return Err(fail(format!(
            "--partition-total {flag}: the number of shares must be 1 to {MAX_TOTAL}"
        )));
    }

    if let Some(index) = var(GENERIC_INDEX) {
        let (total, total_desc) = match (total_override, var(GENERIC_TOTAL)) {
            (Some(flag), _) => (flag, format!("--partition-total {flag}")),
            (None, Some(text)) => {
                let total = read_total(GENERIC_TOTAL, &text).map_err(fail)?;
                (total, format!("{GENERIC_TOTAL}={total}"))
            }
            (None, None) => {
                return Err(fail(format!(
                    "{GENERIC_INDEX} is set but not the total: set {GENERIC_TOTAL} \
                     or give --partition-total N"
                )));
            }
        };
        let index = read_index(GENERIC_INDEX, &index, false, total, &total_desc).map_err(fail)?;
        return Ok((index, total));
    }

    for ci in &CI_SOURCES {
        let (index, total) = (var(ci.index), var(ci.total));
        if index.is_none() && total.is_none() {
            continue;
        }
        let Some(total) = total else {
            return Err(fail(format!(
                "{} is set ({}) but not {}: set it, or give --partition {scheme}:K/N",
                ci.index, ci.name, ci.total
            )));
        };
        let total = read_total(ci.total, &total).map_err(fail)?;
        if let Some(flag) = total_override
            && flag != total
        {
            return Err(fail(format!(
                "--partition-total {flag} disagrees with {}={total} ({}); drop --partition-total",
                ci.total, ci.name
            )));
        }
        let total_desc = format!("{}={total}", ci.total);
        let index = match index {
            Some(index) => {
                read_index(ci.index, &index, ci.zero_based, total, &total_desc).map_err(fail)?
            }
            // GitLab exports CI_NODE_TOTAL=1 and no CI_NODE_INDEX in a job
            // without `parallel:`: that is a run of one share, not a mistake.
            None if total == 1 => 1,
            None => {
                return Err(fail(format!(
                    "{total_desc} is set ({}) but not {}: set it, or give --partition {scheme}:K/N",
                    ci.name, ci.index
                )));
            }
        };
        return Ok((index, total));
    }

    if let Some(index) = var(K8S_INDEX) {
        let (total, total_desc) = match (total_override, var(GENERIC_TOTAL)) {
            (Some(flag), _) => (flag, format!("--partition-total {flag}")),
            (None, Some(text)) => {
                let total = read_total(GENERIC_TOTAL, &text).map_err(fail)?;
                (total, format!("{GENERIC_TOTAL}={total}"))
            }
            (None, None) => {
                return Err(fail(format!(
                    "{K8S_INDEX} is set (a Kubernetes Indexed Job) but not the total: give \
                     --partition-total N (the Job's completions) or set {GENERIC_TOTAL}"
                )));
            }
        };
        let index = read_index(K8S_INDEX, &index, true, total, &total_desc).map_err(fail)?;
        return Ok((index, total));
    }

    let looked_for = std::iter::once(format!("{GENERIC_INDEX}/{GENERIC_TOTAL}"))
        .chain(
            CI_SOURCES
                .iter()
                .map(|ci| format!("{}/{} ({})", ci.index, ci.total, ci.name)),
        )
        .chain(std::iter::once(format!(
            "{K8S_INDEX} (Kubernetes Indexed Job)"
        )))
        .collect::<Vec<_>>()
        .join(", ");
    Err(fail(format!(
        "no CI partition variables found (looked for {looked_for}); give --partition {scheme}:K/N"
    )))
}

fn read_total(var: &str, text: &str) -> Result<u32, String> {
    match parse_count(text) {
        Ok(total) if (1..=MAX_TOTAL).contains(&total) => Ok(total),
        Ok(_) | Err(CountError::TooLarge) => Err(format!(
            "{var}={text}: the number of shares must be 1 to {MAX_TOTAL}"
        )),
        Err(CountError::NotNumber) => Err(format!("{var}={text} is not a whole number")),
    }
}

/// The CI's index as our 1-based K; `total` is already in 1..=MAX_TOTAL.
fn read_index(
    var: &str,
    text: &str,
    zero_based: bool,
    total: u32,
    total_desc: &str,
) -> Result<u32, String> {
    let (first, last) = if zero_based {
        (0, total - 1)
    } else {
        (1, total)
    };
    match parse_count(text) {
        Ok(index) if (first..=last).contains(&index) => Ok(index + u32::from(zero_based)),
        Ok(_) | Err(CountError::TooLarge) => Err(format!(
            "{var}={text} is out of range: it counts from {first}, so it must be \
             {first} to {last} ({total_desc})"
        )),
        Err(CountError::NotNumber) => Err(format!("{var}={text} is not a whole number")),
    }
}

/// Which of `ids` (the selected tests, in the run's order, unique) belong to
/// this share, as a `Vec<bool>` of the same length.
///
/// - Hash: a stable hash of the id, `hash % N == K - 1`; a test's share never
///   depends on the other tests.
/// - Count: the i-th id of each binary goes to share `i % N` (nextest's
///   `count:`, counted per binary: one binary's tests do not shift
///   another's). The binary is the id's first word (`<binary id> <name>`).
/// - Slice: the i-th id goes to share `i % N` (nextest's `slice:`, across
///   all binaries).
/// - Duration: tests with a timing in `timings` (milliseconds) are balanced
///   longest-first onto the least-loaded share; the others are spread as Hash.
///
/// A partition that names no real share (N = 0, K = 0 or K > N, which
/// [`parse`] never returns) selects nothing.
pub fn select(p: &Partition, ids: &[&str], timings: &HashMap<String, f64>) -> Vec<bool> {
    if p.total == 0 || p.index == 0 || p.index > p.total {
        return vec![false; ids.len()];
    }
    let mine = p.index - 1;
    match p.scheme {
        Scheme::Hash => ids
            .iter()
            .map(|id| hash_share(id, p.total) == mine)
            .collect(),
        Scheme::Count => {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            ids.iter()
                .map(|id| {
                    let binary = id.split_once(' ').map_or(*id, |(b, _)| b);
                    let n = seen.entry(binary).or_default();
                    let i = *n;
                    *n += 1;
                    i % p.total as usize == mine as usize
                })
                .collect()
        }
        Scheme::Slice => (0..ids.len())
            .map(|i| i % p.total as usize == mine as usize)
            .collect(),
        Scheme::Duration => duration_shares(ids, p.total, timings)
            .into_iter()
            .map(|share| share == mine)
            .collect(),
    }
}

/// FNV-1a (64-bit) over the id's UTF-8 bytes, then MurmurHash3's fmix64.
///
/// Fixed, published algorithms rather than std's `DefaultHasher`, whose output
/// may change between Rust releases: shards built by different toolchains must
/// agree. The finaliser matters because FNV-1a's low bits depend only on the
/// low bits of the input bytes (the last step multiplies by an odd prime), so
/// plain FNV-1a `% 2` would be the parity of the bytes.
fn stable_hash(id: &str) -> u64 {
    fmix64(fnv1a64(id.as_bytes()))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// 0-based share of `id` under Hash; `total` >= 1.
fn hash_share(id: &str, total: u32) -> u32 {
    // The remainder is below `total`, so it fits.
    (stable_hash(id) % u64::from(total)) as u32
}

/// 0-based share of every id under Duration; `total` >= 1.
fn duration_shares(ids: &[&str], total: u32, timings: &HashMap<String, f64>) -> Vec<u32> {
    let mut shares = vec![0; ids.len()];
    let mut timed = Vec::new();
    for (pos, id) in ids.iter().enumerate() {
        match timings.get(*id).copied().filter(|ms| is_valid_ms(*ms)) {
            Some(ms) => timed.push((ms, *id, pos)),
            None => shares[pos] = hash_share(id, total),
        }
    }
    // Sorting by id (not by position) makes the assignment independent of the
    // order of `ids` and of the map; the position only separates duplicates.
    timed.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.cmp(b.1))
            .then(a.2.cmp(&b.2))
    });
    // Loads are sums of non-negative finite numbers (at worst +inf), and for
    // those the bit patterns order like the values, so the heap can hold
    // plain integers: smallest load first, then lowest share.
    let mut loads: BinaryHeap<Reverse<(u64, u32)>> = (0..total)
        .map(|share| Reverse((0.0f64.to_bits(), share)))
        .collect();
    for (ms, _, pos) in timed {
        if let Some(Reverse((load, share))) = loads.pop() {
            shares[pos] = share;
            // `+ 0.0` turns a -0.0 timing into 0.0 so the bits stay ordered.
            let load = f64::from_bits(load) + (ms + 0.0);
            loads.push(Reverse((load.to_bits(), share)));
        }
    }
    shares
}

fn is_valid_ms(ms: f64) -> bool {
    ms.is_finite() && ms >= 0.0
}

/// Each test's `duration_ms` from a report (read with the strict loader:
/// a malformed one never gets here); unmeasured and negative durations are
/// left out. A test recorded more than once (a merged report's duplicate)
/// takes its longest time.
pub fn timings_of(tests: &[crate::model::TestRecord]) -> HashMap<String, f64> {
    let mut timings = HashMap::new();
    for t in tests {
        let Some(ms) = t.duration_ms.filter(|ms| is_valid_ms(*ms)) else {
            continue;
        };
        timings
            .entry(t.id.clone())
            .and_modify(|best: &mut f64| *best = best.max(ms))
            .or_insert(ms);
    }
    timings
}

/// What a run was asked to run, for its report: every shard of one run
/// must be asked the same (`report merge` checks), whatever share it takes.
/// `filter` is the libtest-style selection as resolved (arguments after
/// `--` included); `typed_filtersets` the `-E` given on the command line,
/// `filtersets` those in force (the profile's default filter when none
/// was given); `selected` the ids of every selected test, before the share.
pub fn selection_info(
    filter: &crate::plan::Filter,
    typed_filtersets: &[String],
    filtersets: &[String],
    cargo: &crate::cli::CargoArgs,
    archive_sha256: Option<&str>,
    selected: &[&str],
) -> crate::model::report::SelectionInfo {
    use clap::ValueEnum;
    let default_filter = match typed_filtersets.is_empty() {
        true => filtersets.first().cloned(),
        false => None,
    };
    let run_ignored = filter
        .run_ignored
        .and_then(|r| r.to_possible_value())
        .map_or("default".to_string(), |v| v.get_name().to_string());
    crate::model::report::SelectionInfo {
        filters: filter.names.clone(),
        exact: filter.exact,
        skip: filter.skip.clone(),
        filtersets: typed_filtersets.to_vec(),
        default_filter,
        run_ignored,
        cargo: build_selection(&cargo.to_cargo_args()),
        archive_sha256: archive_sha256.map(String::from),
        tests: selected
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        tests_sha256: crate::model::report::SelectionInfo::digest(selected.iter().copied()),
    }
}

/// cargo's flags less those that do not change what is built (where it
/// goes, how the lock file and network are used): shards on different
/// machines may differ on those.
fn build_selection(cargo_args: &[String]) -> Vec<String> {
    const WITH_VALUE: &[&str] = &["--target-dir", "--manifest-path"];
    const ALONE: &[&str] = &["--locked", "--offline", "--frozen"];
    let mut out = Vec::new();
    let mut it = cargo_args.iter();
    while let Some(a) = it.next() {
        if WITH_VALUE.contains(&a.as_str()) {
            it.next();
        } else if !ALONE.contains(&a.as_str()) {
            out.push(a.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn part(scheme: Scheme, index: u32, total: u32) -> Partition {
        Partition {
            scheme,
            index,
            total,
        }
    }

    fn parse_err(spec: &str) -> String {
        parse(spec, None, &no_env).expect_err(spec)
    }

    fn auto(
        spec: &str,
        total_override: Option<u32>,
        pairs: &[(&str, &str)],
    ) -> Result<Partition, String> {
        parse(spec, total_override, &env_of(pairs))
    }

    #[test]
    fn explicit_forms_parse() {
        for (spec, want) in [
            ("hash:1/3", part(Scheme::Hash, 1, 3)),
            ("slice:2/2", part(Scheme::Slice, 2, 2)),
            ("count:2/3", part(Scheme::Count, 2, 3)),
            ("duration:3/3", part(Scheme::Duration, 3, 3)),
            ("hash:1/1", part(Scheme::Hash, 1, 1)),
            ("slice:10000/10000", part(Scheme::Slice, 10_000, 10_000)),
            ("hash:01/003", part(Scheme::Hash, 1, 3)),
            ("  hash:2/3\n", part(Scheme::Hash, 2, 3)),
            ("duration : 2 / 3", part(Scheme::Duration, 2, 3)),
        ] {
            assert_eq!(parse(spec, None, &no_env), Ok(want), "{spec:?}");
        }
        // An agreeing --partition-total is harmless.
        assert_eq!(
            parse("hash:2/3", Some(3), &no_env),
            Ok(part(Scheme::Hash, 2, 3))
        );
    }

    #[test]
    fn display_is_the_resolved_spec_and_parses_back() {
        assert_eq!(part(Scheme::Hash, 2, 3).to_string(), "hash:2/3");
        assert_eq!(part(Scheme::Slice, 1, 1).to_string(), "slice:1/1");
        assert_eq!(part(Scheme::Duration, 7, 9).to_string(), "duration:7/9");
        let resolved = auto(
            "auto",
            None,
            &[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "5")],
        )
        .unwrap();
        assert_eq!(resolved.to_string(), "hash:2/5");
        for p in [
            part(Scheme::Hash, 2, 3),
            part(Scheme::Duration, 10_000, 10_000),
        ] {
            assert_eq!(parse(&p.to_string(), None, &no_env), Ok(p));
        }
    }

    #[test]
    fn k_zero_says_k_counts_from_one() {
        assert_eq!(
            parse_err("hash:0/3"),
            "--partition hash:0/3: K counts from 1, as in nextest: use hash:1/3 to hash:3/3"
        );
        assert_eq!(
            parse_err("slice:0/1"),
            "--partition slice:0/1: K counts from 1, as in nextest: use slice:1/1"
        );
    }

    #[test]
    fn malformed_specs_say_what_to_write() {
        for (spec, expected) in [
            (
                "hash:4/3",
                "K is larger than N (there are only 3 shares): use hash:1/3 to hash:3/3",
            ),
            ("hash:99999999999999999999/3", "K is larger than N"),
            (
                "hash:1/0",
                "N (the number of shares) must be at least 1, e.g. hash:1/3",
            ),
            ("hash:0/0", "N (the number of shares) must be at least 1"),
            ("hash:1/10001", "N is at most 10000 shares"),
            ("hash:1/99999999999999999999", "N is at most 10000 shares"),
            ("hash:a/b", "K and N must be whole numbers, e.g. hash:1/3"),
            ("slice:1/b", "K and N must be whole numbers, e.g. slice:1/3"),
            ("hash:-1/3", "K and N must be whole numbers"),
            ("hash:+1/3", "K and N must be whole numbers"),
            ("hash:1 2/3", "K and N must be whole numbers"),
            ("hash:1/2/3", "K and N must be whole numbers"),
            ("hash:1.5/3", "K and N must be whole numbers"),
            ("hash:/3", "K and N must be whole numbers"),
            (
                "foo:1/2",
                "unknown scheme `foo`: use hash, count, slice or duration, e.g. hash:1/3",
            ),
            ("HASH:1/2", "unknown scheme `HASH`"),
            (
                ":1/2",
                "no scheme before `:`: use hash, count, slice or duration, e.g. hash:1/3",
            ),
            ("1/3", "expected SCHEME:K/N such as hash:1/3"),
            ("hash", "expected hash:K/N or hash:auto, e.g. hash:1/3"),
            ("duration", "expected duration:K/N or duration:auto"),
            ("hash:1", "expected K/N after `hash:`, e.g. hash:1/3"),
            ("hash:", "expected K/N after `hash:`"),
            (
                "auto:1/3",
                "auto takes no K/N: give auto alone, or e.g. hash:1/3",
            ),
            ("auto:auto", "auto takes no K/N"),
        ] {
            let err = parse_err(spec);
            assert!(
                err.starts_with(&format!("--partition {spec}: ")),
                "{spec:?}: {err}"
            );
            assert!(err.contains(expected), "{spec:?}: {err}");
        }
        assert_eq!(
            parse_err(""),
            "--partition needs a value, e.g. hash:1/3 or auto"
        );
        assert_eq!(
            parse_err(" \t"),
            "--partition needs a value, e.g. hash:1/3 or auto"
        );
    }

    #[test]
    fn total_override_must_agree_with_an_explicit_n() {
        assert_eq!(
            parse("hash:1/3", Some(4), &no_env).unwrap_err(),
            "--partition hash:1/3: --partition-total 4 disagrees with N=3; drop --partition-total"
        );
    }

    #[test]
    fn auto_forms_choose_the_scheme() {
        let gitlab = [("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "3")];
        assert_eq!(auto("auto", None, &gitlab), Ok(part(Scheme::Hash, 2, 3)));
        assert_eq!(
            auto("hash:auto", None, &gitlab),
            Ok(part(Scheme::Hash, 2, 3))
        );
        assert_eq!(
            auto("slice:auto", None, &gitlab),
            Ok(part(Scheme::Slice, 2, 3))
        );
        assert_eq!(
            auto("duration:auto", None, &gitlab),
            Ok(part(Scheme::Duration, 2, 3))
        );
        assert_eq!(
            auto(" slice : auto ", None, &gitlab),
            Ok(part(Scheme::Slice, 2, 3))
        );
    }

    #[test]
    fn gitlab_is_one_based() {
        let at = |index: &str| {
            auto(
                "auto",
                None,
                &[("CI_NODE_INDEX", index), ("CI_NODE_TOTAL", "3")],
            )
        };
        assert_eq!(at("1"), Ok(part(Scheme::Hash, 1, 3)));
        assert_eq!(at("3"), Ok(part(Scheme::Hash, 3, 3)));
        assert_eq!(
            at("0").unwrap_err(),
            "--partition auto: CI_NODE_INDEX=0 is out of range: it counts from 1, \
             so it must be 1 to 3 (CI_NODE_TOTAL=3)"
        );
        assert!(at("4").unwrap_err().contains("must be 1 to 3"));
        // Values with stray whitespace, as a YAML file may leave them.
        assert_eq!(at(" 2\n"), Ok(part(Scheme::Hash, 2, 3)));
    }

    #[test]
    fn gitlab_without_parallel_is_one_share() {
        assert_eq!(
            auto("auto", None, &[("CI_NODE_TOTAL", "1")]),
            Ok(part(Scheme::Hash, 1, 1))
        );
        let err = auto("auto", None, &[("CI_NODE_TOTAL", "3")]).unwrap_err();
        assert!(
            err.contains("CI_NODE_TOTAL=3 is set (GitLab) but not CI_NODE_INDEX"),
            "{err}"
        );
        assert!(err.contains("give --partition hash:K/N"), "{err}");
    }

    #[test]
    fn buildkite_is_zero_based() {
        let at = |index: &str| {
            auto(
                "slice:auto",
                None,
                &[
                    ("BUILDKITE_PARALLEL_JOB", index),
                    ("BUILDKITE_PARALLEL_JOB_COUNT", "3"),
                ],
            )
        };
        assert_eq!(at("0"), Ok(part(Scheme::Slice, 1, 3)));
        assert_eq!(at("2"), Ok(part(Scheme::Slice, 3, 3)));
        assert_eq!(
            at("3").unwrap_err(),
            "--partition slice:auto: BUILDKITE_PARALLEL_JOB=3 is out of range: it counts from 0, \
             so it must be 0 to 2 (BUILDKITE_PARALLEL_JOB_COUNT=3)"
        );
        // The largest u32 must not overflow on the way to 1-based.
        assert!(at("4294967295").unwrap_err().contains("out of range"));
        assert!(at("4294967296").unwrap_err().contains("out of range"));
        let err = auto("auto", None, &[("BUILDKITE_PARALLEL_JOB", "1")]).unwrap_err();
        assert!(
            err.contains(
                "BUILDKITE_PARALLEL_JOB is set (Buildkite) but not BUILDKITE_PARALLEL_JOB_COUNT"
            ),
            "{err}"
        );
    }

    #[test]
    fn circleci_is_zero_based() {
        let at = |index: &str| {
            auto(
                "auto",
                None,
                &[("CIRCLE_NODE_INDEX", index), ("CIRCLE_NODE_TOTAL", "4")],
            )
        };
        assert_eq!(at("0"), Ok(part(Scheme::Hash, 1, 4)));
        assert_eq!(at("3"), Ok(part(Scheme::Hash, 4, 4)));
        assert!(
            at("4")
                .unwrap_err()
                .contains("must be 0 to 3 (CIRCLE_NODE_TOTAL=4)")
        );
        // CircleCI always exports both, 0 of 1 without parallelism.
        assert_eq!(
            auto(
                "auto",
                None,
                &[("CIRCLE_NODE_INDEX", "0"), ("CIRCLE_NODE_TOTAL", "1")]
            ),
            Ok(part(Scheme::Hash, 1, 1))
        );
    }

    #[test]
    fn kubernetes_index_needs_a_total() {
        let k8s = [("JOB_COMPLETION_INDEX", "4")];
        assert_eq!(auto("auto", Some(5), &k8s), Ok(part(Scheme::Hash, 5, 5)));
        let with_env = [
            ("JOB_COMPLETION_INDEX", "0"),
            ("CARGO_ISOLATE_PARTITION_TOTAL", "5"),
        ];
        assert_eq!(auto("auto", None, &with_env), Ok(part(Scheme::Hash, 1, 5)));
        // The flag outranks our own variable, as clap's `env` would.
        assert_eq!(
            auto("auto", Some(8), &with_env),
            Ok(part(Scheme::Hash, 1, 8))
        );
        assert_eq!(
            auto("auto", None, &k8s).unwrap_err(),
            "--partition auto: JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but not \
             the total: give --partition-total N (the Job's completions) or set \
             CARGO_ISOLATE_PARTITION_TOTAL"
        );
        assert!(
            auto("auto", Some(4), &k8s)
                .unwrap_err()
                .contains("JOB_COMPLETION_INDEX=4 is out of range: it counts from 0, so it must be 0 to 3 (--partition-total 4)")
        );
    }

    #[test]
    fn generic_variables_come_first() {
        let both = [
            ("CARGO_ISOLATE_PARTITION_INDEX", "2"),
            ("CARGO_ISOLATE_PARTITION_TOTAL", "4"),
            ("CI_NODE_INDEX", "1"),
            ("CI_NODE_TOTAL", "3"),
            ("JOB_COMPLETION_INDEX", "0"),
        ];
        assert_eq!(auto("auto", None, &both), Ok(part(Scheme::Hash, 2, 4)));
        // 1-based.
        let zero = [
            ("CARGO_ISOLATE_PARTITION_INDEX", "0"),
            ("CARGO_ISOLATE_PARTITION_TOTAL", "4"),
        ];
        assert!(
            auto("auto", None, &zero)
                .unwrap_err()
                .contains("must be 1 to 4")
        );
        assert_eq!(
            auto("auto", Some(2), &[("CARGO_ISOLATE_PARTITION_INDEX", "2")]),
            Ok(part(Scheme::Hash, 2, 2))
        );
        assert!(
            auto("auto", None, &[("CARGO_ISOLATE_PARTITION_INDEX", "2")])
                .unwrap_err()
                .contains("set CARGO_ISOLATE_PARTITION_TOTAL or give --partition-total N")
        );
        // A total alone belongs to the Kubernetes case and selects nothing by itself.
        assert!(
            auto("auto", None, &[("CARGO_ISOLATE_PARTITION_TOTAL", "4")])
                .unwrap_err()
                .contains("no CI partition variables found")
        );
    }

    #[test]
    fn no_variables_lists_what_was_looked_for() {
        let err = parse("auto", None, &no_env).unwrap_err();
        assert_eq!(
            err,
            "--partition auto: no CI partition variables found (looked for \
             CARGO_ISOLATE_PARTITION_INDEX/CARGO_ISOLATE_PARTITION_TOTAL, \
             CI_NODE_INDEX/CI_NODE_TOTAL (GitLab), \
             BUILDKITE_PARALLEL_JOB/BUILDKITE_PARALLEL_JOB_COUNT (Buildkite), \
             CIRCLE_NODE_INDEX/CIRCLE_NODE_TOTAL (CircleCI), \
             JOB_COMPLETION_INDEX (Kubernetes Indexed Job)); give --partition hash:K/N"
        );
        let err = parse("duration:auto", None, &no_env).unwrap_err();
        assert!(err.ends_with("give --partition duration:K/N"), "{err}");
        // Empty variables count as unset.
        let err = auto(
            "auto",
            None,
            &[("CI_NODE_INDEX", ""), ("CI_NODE_TOTAL", " ")],
        )
        .unwrap_err();
        assert!(err.contains("no CI partition variables found"), "{err}");
    }

    #[test]
    fn bad_ci_values_name_the_variable() {
        for (pairs, expected) in [
            (
                &[("CI_NODE_INDEX", "abc"), ("CI_NODE_TOTAL", "3")][..],
                "CI_NODE_INDEX=abc is not a whole number",
            ),
            (
                &[("CI_NODE_INDEX", "1"), ("CI_NODE_TOTAL", "0")],
                "CI_NODE_TOTAL=0: the number of shares must be 1 to 10000",
            ),
            (
                &[("CI_NODE_INDEX", "1"), ("CI_NODE_TOTAL", "20000")],
                "CI_NODE_TOTAL=20000: the number of shares must be 1 to 10000",
            ),
            (
                &[
                    ("CIRCLE_NODE_INDEX", "0"),
                    ("CIRCLE_NODE_TOTAL", "99999999999999999999"),
                ],
                "CIRCLE_NODE_TOTAL=99999999999999999999: the number of shares must be 1 to 10000",
            ),
            (
                &[("CIRCLE_NODE_INDEX", "-1"), ("CIRCLE_NODE_TOTAL", "2")],
                "CIRCLE_NODE_INDEX=-1 is not a whole number",
            ),
            (
                &[
                    ("CARGO_ISOLATE_PARTITION_INDEX", "1"),
                    ("CARGO_ISOLATE_PARTITION_TOTAL", "x"),
                ],
                "CARGO_ISOLATE_PARTITION_TOTAL=x is not a whole number",
            ),
        ] {
            let err = auto("auto", None, pairs).unwrap_err();
            assert!(err.contains(expected), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn total_override_must_agree_with_the_ci() {
        let gitlab = [("CI_NODE_INDEX", "1"), ("CI_NODE_TOTAL", "3")];
        assert_eq!(auto("auto", Some(3), &gitlab), Ok(part(Scheme::Hash, 1, 3)));
        assert_eq!(
            auto("auto", Some(4), &gitlab).unwrap_err(),
            "--partition auto: --partition-total 4 disagrees with CI_NODE_TOTAL=3 (GitLab); \
             drop --partition-total"
        );
        for bad in [0, 10_001, u32::MAX] {
            let err = auto("auto", Some(bad), &[("JOB_COMPLETION_INDEX", "0")]).unwrap_err();
            assert!(
                err.contains("the number of shares must be 1 to 10000"),
                "{err}"
            );
        }
    }

    #[test]
    fn parse_never_panics() {
        let pieces = [
            "",
            "hash",
            "auto",
            ":",
            "/",
            "0",
            "1",
            "4294967296",
            " ",
            "-",
            "é",
        ];
        let weird_env = env_of(&[
            ("CI_NODE_INDEX", "é"),
            ("CI_NODE_TOTAL", "18446744073709551616"),
        ]);
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in pieces {
                        let spec = format!("{a}{b}{c}{d}");
                        for total in [None, Some(0), Some(1), Some(u32::MAX)] {
                            let _ = parse(&spec, total, &no_env);
                            let _ = parse(&spec, total, &weird_env);
                        }
                    }
                }
            }
        }
    }

    fn ids(count: usize) -> Vec<String> {
        (0..count)
            .map(|i| format!("pkg::bin/name tests::case_{i}"))
            .collect()
    }

    fn refs(ids: &[String]) -> Vec<&str> {
        ids.iter().map(String::as_str).collect()
    }

    /// The ids `p` selects.
    fn chosen<'a>(p: &Partition, ids: &[&'a str], timings: &HashMap<String, f64>) -> Vec<&'a str> {
        let picks = select(p, ids, timings);
        assert_eq!(picks.len(), ids.len());
        ids.iter()
            .zip(picks)
            .filter_map(|(id, picked)| picked.then_some(*id))
            .collect()
    }

    #[test]
    fn shares_are_disjoint_and_cover_every_test() {
        let all = ids(300);
        // Timings for two ids in three, with repeats and zeros, so Duration
        // mixes greedy and hashed placement and meets ties.
        let timings: HashMap<String, f64> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(i, id)| (id.clone(), ((i * 37) % 50) as f64))
            .collect();
        for scheme in [Scheme::Hash, Scheme::Count, Scheme::Slice, Scheme::Duration] {
            for total in 1..=7 {
                for count in 0..300 {
                    let ids = refs(&all[..count]);
                    let mut owners = vec![0u32; count];
                    for index in 1..=total {
                        let p = part(scheme.clone(), index, total);
                        for (owner, picked) in owners.iter_mut().zip(select(&p, &ids, &timings)) {
                            *owner += u32::from(picked);
                        }
                    }
                    assert!(
                        owners.iter().all(|&n| n == 1),
                        "{scheme}, N={total}, {count} ids: {owners:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn hash_does_not_move_tests_when_others_are_added() {
        let all = ids(300);
        let few = refs(&all[..100]);
        // More tests, and in another order.
        let mut many = refs(&all);
        many.reverse();
        let none = HashMap::new();
        for total in 1..=7 {
            for index in 1..=total {
                let p = part(Scheme::Hash, index, total);
                let before = chosen(&p, &few, &none);
                let after = chosen(&p, &many, &none);
                for id in &few {
                    assert_eq!(before.contains(id), after.contains(id), "{id} in {p}");
                }
            }
        }
    }

    #[test]
    fn hash_is_pinned() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        // Golden values: changing them reshuffles every sharded CI run.
        let id = "my_crate::bin/cli tests::parses_args";
        assert_eq!(stable_hash(id), GOLDEN_HASH);
        assert_eq!(hash_share(id, 3), GOLDEN_SHARE_OF_3);
        assert_eq!(hash_share(id, 7), GOLDEN_SHARE_OF_7);
        let picks: Vec<bool> = (1..=3)
            .map(|k| select(&part(Scheme::Hash, k, 3), &[id], &HashMap::new())[0])
            .collect();
        let mut want = vec![false; 3];
        want[GOLDEN_SHARE_OF_3 as usize] = true;
        assert_eq!(picks, want);
    }
    const GOLDEN_HASH: u64 = 0xa3d2_59ac_7a3e_cc84;
    const GOLDEN_SHARE_OF_3: u32 = 2;
    const GOLDEN_SHARE_OF_7: u32 = 3;

    #[test]
    fn hash_spreads_evenly() {
        // Not a statistical test, just a guard against a degenerate hash or
        // reduction, such as one that sends most tests to one share.
        let all = ids(3000);
        let ids = refs(&all);
        for total in [2, 3, 4, 8] {
            for index in 1..=total {
                let n = chosen(&part(Scheme::Hash, index, total), &ids, &HashMap::new()).len();
                let fair = 3000 / total as usize;
                assert!(
                    n.abs_diff(fair) < fair / 5,
                    "share {index}/{total}: {n} of 3000"
                );
            }
        }
    }

    #[test]
    fn a_selection_records_what_chose_the_tests_not_where_they_were_built() {
        let filter = crate::plan::Filter::new(
            &["parse".to_string()],
            false,
            &[],
            crate::cli::RunIgnored::Default,
            &["--include-ignored".into(), "--skip".into(), "slow".into()],
        );
        let cargo = crate::cli::CargoArgs {
            workspace: true,
            locked: true,
            features: vec!["x".into()],
            target_dir: Some("/ci/target".into()),
            ..Default::default()
        };
        let default = ["test(/a/)".to_string()];
        let s = selection_info(&filter, &[], &default, &cargo, Some("aa"), &["b", "a", "b"]);
        assert_eq!(s.filters, ["parse"]);
        assert_eq!(s.skip, ["slow"]);
        assert_eq!(s.run_ignored, "all");
        assert_eq!(s.default_filter.as_deref(), Some("test(/a/)"));
        assert!(s.filtersets.is_empty());
        assert_eq!(s.cargo, ["--workspace", "--features", "x"]);
        assert_eq!(s.tests, 2);
        assert_eq!(
            s.tests_sha256,
            crate::model::report::SelectionInfo::digest(["a", "b"])
        );
        // -E given: the expressions as typed, no default filter.
        let typed = ["test(b)".to_string()];
        let s = selection_info(&filter, &typed, &typed, &cargo, None, &[]);
        assert_eq!((s.filtersets, s.default_filter), (typed.to_vec(), None));
    }

    /// nextest's `count:`: round robin within each binary, so that one
    /// binary's tests never shift another's shares.
    #[test]
    fn count_deals_round_robin_within_each_binary() {
        let ids = [
            "app a1",
            "app a2",
            "app a3",
            "app::cli c1",
            "lib",
            "app::cli c2",
            "app a4",
        ];
        let none = HashMap::new();
        assert_eq!(
            chosen(&part(Scheme::Count, 1, 2), &ids, &none),
            ["app a1", "app a3", "app::cli c1", "lib"]
        );
        assert_eq!(
            chosen(&part(Scheme::Count, 2, 2), &ids, &none),
            ["app a2", "app::cli c2", "app a4"]
        );
        // Slice counts across binaries instead.
        assert_eq!(
            chosen(&part(Scheme::Slice, 1, 2), &ids, &none),
            ["app a1", "app a3", "lib", "app a4"]
        );
        assert_eq!(
            parse(
                "count:auto",
                None,
                &env_of(&[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "2")])
            ),
            Ok(part(Scheme::Count, 2, 2))
        );
    }

    #[test]
    fn slice_deals_round_robin() {
        let ids = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
        let none = HashMap::new();
        assert_eq!(
            chosen(&part(Scheme::Slice, 1, 3), &ids, &none),
            ["a", "d", "g", "j"]
        );
        assert_eq!(
            chosen(&part(Scheme::Slice, 2, 3), &ids, &none),
            ["b", "e", "h"]
        );
        assert_eq!(
            chosen(&part(Scheme::Slice, 3, 3), &ids, &none),
            ["c", "f", "i"]
        );
        assert_eq!(chosen(&part(Scheme::Slice, 1, 1), &ids, &none), ids);
        assert_eq!(chosen(&part(Scheme::Slice, 2, 20), &ids, &none), ["b"]);
        assert!(chosen(&part(Scheme::Slice, 11, 20), &ids, &none).is_empty());
    }

    /// The ids named `slow_*` were chosen so that Hash puts two of them in
    /// one share of three (checked below, so the claim cannot go stale).
    fn slow_and_fast() -> (Vec<String>, HashMap<String, f64>) {
        let mut ids = Vec::new();
        let mut timings = HashMap::new();
        for i in 0..3 {
            let id = format!("pkg::bin/name tests::slow_{i}");
            timings.insert(id.clone(), 1000.0);
            ids.push(id);
        }
        for i in 0..30 {
            let id = format!("pkg::bin/name tests::fast_{i}");
            timings.insert(id.clone(), 10.0);
            ids.push(id);
        }
        (ids, timings)
    }

    /// Each share's total time under `scheme` over three shares.
    fn share_totals(scheme: &Scheme, ids: &[&str], timings: &HashMap<String, f64>) -> Vec<f64> {
        (1..=3)
            .map(|k| {
                chosen(&part(scheme.clone(), k, 3), ids, timings)
                    .iter()
                    .map(|id| timings[*id])
                    .sum()
            })
            .collect()
    }

    #[test]
    fn duration_balances_where_hash_does_not() {
        let (all, timings) = slow_and_fast();
        let ids = refs(&all);
        let fair = timings.values().sum::<f64>() / 3.0;
        let duration = share_totals(&Scheme::Duration, &ids, &timings);
        let hash = share_totals(&Scheme::Hash, &ids, &timings);
        let max = |totals: &[f64]| totals.iter().copied().fold(0.0, f64::max);
        assert!(
            max(&duration) <= fair * 1.2,
            "duration: {duration:?}, fair {fair}"
        );
        assert!(max(&hash) > fair * 1.2, "hash: {hash:?}, fair {fair}");
        // Longest first: one slow test per share.
        for k in 1..=3 {
            let share = chosen(&part(Scheme::Duration, k, 3), &ids, &timings);
            assert_eq!(share.iter().filter(|id| id.contains("slow")).count(), 1);
        }
    }

    #[test]
    fn duration_breaks_ties_by_id_then_lowest_share() {
        let ids = ["d", "b", "a", "c"];
        let timings: HashMap<String, f64> = ids.iter().map(|id| ((*id).to_owned(), 10.0)).collect();
        // Sorted a, b, c, d; each to the least-loaded share, lowest on ties.
        assert_eq!(
            chosen(&part(Scheme::Duration, 1, 2), &ids, &timings),
            ["a", "c"]
        );
        assert_eq!(
            chosen(&part(Scheme::Duration, 2, 2), &ids, &timings),
            ["d", "b"]
        );
        // Longest-processing-time-first on unequal times: 7 | 5, then 4 joins
        // 5, then 3 joins 7, then 3 joins 9.
        let ids = ["t3a", "t7", "t4", "t5", "t3b"];
        let timings: HashMap<String, f64> = [
            ("t7", 7.0),
            ("t5", 5.0),
            ("t4", 4.0),
            ("t3a", 3.0),
            ("t3b", 3.0),
        ]
        .into_iter()
        .map(|(id, ms)| (id.to_owned(), ms))
        .collect();
        assert_eq!(
            chosen(&part(Scheme::Duration, 1, 2), &ids, &timings),
            ["t3a", "t7"]
        );
        assert_eq!(
            chosen(&part(Scheme::Duration, 2, 2), &ids, &timings),
            ["t4", "t5", "t3b"]
        );
    }

    #[test]
    fn duration_spreads_untimed_tests_by_hash() {
        let all = ids(200);
        let ids = refs(&all);
        // Time only every fourth test, and give some junk timings that must
        // count as missing.
        let mut timings: HashMap<String, f64> = all
            .iter()
            .step_by(4)
            .map(|id| (id.clone(), 100.0))
            .collect();
        for (i, junk) in [f64::NAN, -1.0, f64::INFINITY, f64::NEG_INFINITY]
            .into_iter()
            .enumerate()
        {
            timings.insert(all[4 * i + 1].clone(), junk);
        }
        for total in 1..=5 {
            for index in 1..=total {
                let duration = select(&part(Scheme::Duration, index, total), &ids, &timings);
                let hash = select(&part(Scheme::Hash, index, total), &ids, &HashMap::new());
                for (i, id) in ids.iter().enumerate() {
                    if i % 4 != 0 {
                        assert_eq!(duration[i], hash[i], "{id} in {index}/{total}");
                    }
                }
            }
        }
    }

    #[test]
    fn duration_is_deterministic() {
        let (all, timings) = slow_and_fast();
        let ids = refs(&all);
        // The same map built in the opposite order (and with its own random
        // hasher state), and the ids in another order: same shares.
        let rebuilt: HashMap<String, f64> = all
            .iter()
            .rev()
            .map(|id| (id.clone(), timings[id]))
            .collect();
        let mut reversed = ids.clone();
        reversed.reverse();
        for k in 1..=3 {
            let p = part(Scheme::Duration, k, 3);
            let first = chosen(&p, &ids, &timings);
            assert_eq!(chosen(&p, &ids, &timings), first);
            assert_eq!(chosen(&p, &ids, &rebuilt), first);
            let mut other_order = chosen(&p, &reversed, &rebuilt);
            other_order.reverse();
            assert_eq!(other_order, first);
        }
    }

    #[test]
    fn a_partition_naming_no_share_selects_nothing() {
        let ids = ["a", "b", "c"];
        let timings = HashMap::from([("a".to_owned(), 1.0)]);
        for scheme in [Scheme::Hash, Scheme::Count, Scheme::Slice, Scheme::Duration] {
            for (index, total) in [(1, 0), (0, 0), (0, 3), (4, 3), (u32::MAX, 3)] {
                assert_eq!(
                    select(&part(scheme.clone(), index, total), &ids, &timings),
                    [false; 3]
                );
            }
        }
        // Huge N with a handful of tests is fine too.
        let p = part(Scheme::Duration, 10_000, 10_000);
        assert_eq!(select(&p, &ids, &timings).len(), 3);
    }

    #[test]
    fn timings_come_from_a_report() {
        let rec = |id: &str, ms: Option<f64>| {
            let mut t = crate::model::TestRecord::new(id.into(), "p", "p", "lib", None);
            t.duration_ms = ms;
            t
        };
        let tests = [
            rec("a", Some(12.5)),
            rec("b", None),
            rec("d", Some(30.0)),
            rec("a", Some(40.0)),
            rec("a", Some(20.0)),
            rec("e", Some(-3.0)),
            rec("f", Some(0.0)),
        ];
        let want = HashMap::from([
            ("a".to_owned(), 40.0),
            ("d".to_owned(), 30.0),
            ("f".to_owned(), 0.0),
        ]);
        assert_eq!(timings_of(&tests), want);
        assert_eq!(timings_of(&[]), HashMap::new());
    }
}
