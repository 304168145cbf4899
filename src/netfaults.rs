//! The `--net-*` values as text: parsers for the command line and the
//! config file (clap value parsers, `fn(&str) -> Result<T, String>`, each
//! error showing a valid example) and the printers that write them back
//! for a replay command line. Pure; every printed value parses back to the
//! same number. The faults themselves are made in `sandbox::netfault`.
//!
//! Units follow tc(8): rates in bit/kbit/mbit/gbit/tbit (bits per second)
//! or bps/kbps/mbps/gbps/tbps (bytes per second), SI prefixes, a bare
//! number meaning bits per second; durations in us, ms or s.

use std::collections::BTreeSet;

/// The longest delay or jitter: far beyond any test's patience, and well
/// inside netem's 32-bit tick fields.
pub const MAX_DELAY_US: u32 = 60_000_000;

const LOSS_HINT: &str = "expected a share of packets to drop, e.g. 5% or 0.5%";
const PORTS_HINT: &str = "expected ports from 1 to 65535 separated by commas, e.g. 80,443";
const RATE_HINT: &str = "expected a rate, e.g. 1mbit, 500kbit or 10mbps (bytes per second)";
const DURATION_HINT: &str = "expected a duration, e.g. 50ms, 250us or 1.5s";

/// "5%", "0.5%", or "5" (percent all the same): more than 0, at most
/// 100. Returns parts per million; finer than 1 ppm (0.0001%) is rounded.
pub fn parse_loss(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let num = t.strip_suffix('%').unwrap_or(t).trim();
    if num.starts_with('-') {
        return Err("must be more than 0%, e.g. 5%".into());
    }
    let too_large = || "must be at most 100%, e.g. 5%".to_string();
    match decimal_times(num, 10_000) {
        Err(DecimalError::NotANumber) => Err(LOSS_HINT.into()),
        Err(DecimalError::TooLarge) => Err(too_large()),
        Ok(0) if has_nonzero_digit(num) => Err(
            "too small: the smallest loss is 0.0001% (one packet in a million), e.g. 0.5%".into(),
        ),
        Ok(0) => Err("must be more than 0%, e.g. 5%".into()),
        Ok(ppm) if ppm > 1_000_000 => Err(too_large()),
        Ok(ppm) => Ok(ppm as u32),
    }
}

/// Parts per million as a percentage `parse_loss` reads back: 50000 is
/// "5%", 5000 "0.5%", 1 "0.0001%".
pub fn format_loss(ppm: u32) -> String {
    let whole = ppm / 10_000;
    let frac = ppm % 10_000;
    if frac == 0 {
        format!("{whole}%")
    } else {
        let digits = format!("{frac:04}");
        format!("{whole}.{}%", digits.trim_end_matches('0'))
    }
}

/// "80,443", spaces allowed around each: ports from 1 to 65535, sorted,
/// each once, at least one.
pub fn parse_ports(s: &str) -> Result<Vec<u16>, String> {
    let mut ports = BTreeSet::new();
    for item in s.split(',') {
        let t = item.trim();
        if t.is_empty() {
            return Err(match s.trim().is_empty() {
                true => PORTS_HINT.to_string(),
                false => format!("an empty port in {s:?}: {PORTS_HINT}"),
            });
        }
        if !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{t:?} is not a port number: {PORTS_HINT}"));
        }
        match t.parse::<u16>() {
            Ok(0) => return Err(format!("port 0 is not a port: {PORTS_HINT}")),
            Ok(p) => {
                ports.insert(p);
            }
            Err(_) => return Err(format!("port {t} is out of range: {PORTS_HINT}")),
        }
    }
    Ok(ports.into_iter().collect())
}

const RANGES_HINT: &str =
    "expected ports or port ranges from 1 to 65535 separated by commas, e.g. 80,1000-2000";

/// `--net-ports`: "80,1000-2000", spaces allowed around each item: ports
/// and inclusive ranges from 1 to 65535, sorted, overlapping and adjacent
/// ones merged, at least one.
pub fn parse_port_ranges(s: &str) -> Result<Vec<(u16, u16)>, String> {
    let mut ranges = Vec::new();
    for item in s.split(',') {
        let t = item.trim();
        if t.is_empty() {
            return Err(match s.trim().is_empty() {
                true => RANGES_HINT.to_string(),
                false => format!("an empty item in {s:?}: {RANGES_HINT}"),
            });
        }
        let (first, last) = match t.split_once('-') {
            Some((a, b)) => (range_end(a.trim())?, range_end(b.trim())?),
            None => (range_end(t)?, range_end(t)?),
        };
        if first > last {
            return Err(format!(
                "{t:?} runs backwards: write the lower port first, e.g. {last}-{first}"
            ));
        }
        ranges.push((first, last));
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
    for (first, last) in ranges {
        match merged.last_mut() {
            Some(prev) if u32::from(first) <= u32::from(prev.1) + 1 => prev.1 = prev.1.max(last),
            _ => merged.push((first, last)),
        }
    }
    Ok(merged)
}

fn range_end(t: &str) -> Result<u16, String> {
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{t:?} is not a port number: {RANGES_HINT}"));
    }
    match t.parse::<u16>() {
        Ok(0) => Err(format!("port 0 is not a port: {RANGES_HINT}")),
        Ok(p) => Ok(p),
        Err(_) => Err(format!("port {t} is out of range: {RANGES_HINT}")),
    }
}

/// Ranges as `parse_port_ranges` reads them back: "80,1000-2000".
pub fn format_port_ranges(ranges: &[(u16, u16)]) -> String {
    ranges
        .iter()
        .map(|&(a, b)| match a == b {
            true => a.to_string(),
            false => format!("{a}-{b}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// "1mbit", "500kbit", "10mbps", "1.5gbit", case-insensitive: bits per
/// second, at least 8 (the kernel counts whole bytes per second).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let (num, unit) = split_unit(s);
    let bits_per_unit: u64 = match unit.as_str() {
        "" | "bit" => 1,
        "kbit" => 1_000,
        "mbit" => 1_000_000,
        "gbit" => 1_000_000_000,
        "tbit" => 1_000_000_000_000,
        "kibit" => 1 << 10,
        "mibit" => 1 << 20,
        "gibit" => 1 << 30,
        "tibit" => 1 << 40,
        "bps" => 8,
        "kbps" => 8_000,
        "mbps" => 8_000_000,
        "gbps" => 8_000_000_000,
        "tbps" => 8_000_000_000_000,
        "kibps" => 8 << 10,
        "mibps" => 8 << 20,
        "gibps" => 8 << 30,
        "tibps" => 8 << 40,
        _ if num.is_empty() => return Err(RATE_HINT.into()),
        _ => {
            return Err(format!(
                "unknown unit {unit:?}: use bit, kbit, mbit, gbit (bits per second) or bps, kbps, mbps, gbps (bytes per second), e.g. 1mbit"
            ));
        }
    };
    if num.starts_with('-') {
        return Err("must be more than 0, e.g. 1mbit".into());
    }
    let too_large = || "too large: must be less than 2^64 bits per second".to_string();
    match decimal_times(num, bits_per_unit) {
        Err(DecimalError::NotANumber) => Err(RATE_HINT.into()),
        Err(DecimalError::TooLarge) => Err(too_large()),
        Ok(0) if !has_nonzero_digit(num) => Err("must be more than 0, e.g. 1mbit".into()),
        Ok(bps) if bps < 8 => Err("must be at least 8bit (one byte per second), e.g. 1mbit".into()),
        Ok(bps) => u64::try_from(bps).map_err(|_| too_large()),
    }
}

/// Bits per second in the largest SI unit that holds it exactly:
/// 1000000 is "1mbit", 1500000 "1500kbit".
pub fn format_rate(bps: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000, "tbit"),
        (1_000_000_000, "gbit"),
        (1_000_000, "mbit"),
        (1_000, "kbit"),
    ];
    match UNITS
        .iter()
        .find(|(n, _)| bps > 0 && bps.is_multiple_of(*n))
    {
        Some((n, name)) => format!("{}{name}", bps / n),
        None => format!("{bps}bit"),
    }
}

/// `--net-delay`: a duration of at least 1us (see [`parse_jitter_us`]).
pub fn parse_delay_us(s: &str) -> Result<u32, String> {
    match parse_duration_us(s)? {
        0 if has_nonzero_digit(s) => Err("too small: must be at least 1us, e.g. 50ms".into()),
        0 => Err("must be more than 0, e.g. 50ms".into()),
        us => Ok(us),
    }
}

/// `--net-jitter`: a duration, zero allowed.
pub fn parse_jitter_us(s: &str) -> Result<u32, String> {
    parse_duration_us(s)
}

/// "50ms", "250us", "1.5s" (also tc's usec/msec/sec spellings; a bare 0):
/// microseconds, rounded, at most [`MAX_DELAY_US`].
fn parse_duration_us(s: &str) -> Result<u32, String> {
    let (num, unit) = split_unit(s);
    let us_per_unit: u64 = match unit.as_str() {
        "us" | "µs" | "usec" | "usecs" => 1,
        "ms" | "msec" | "msecs" => 1_000,
        "s" | "sec" | "secs" => 1_000_000,
        "" if !num.is_empty() && !has_nonzero_digit(num) => 1,
        "" if !num.is_empty() => {
            return Err(format!("{num} needs a unit: {DURATION_HINT}"));
        }
        _ if num.is_empty() => return Err(DURATION_HINT.into()),
        _ => {
            return Err(format!("unknown unit {unit:?}: use us, ms or s, e.g. 50ms"));
        }
    };
    if num.starts_with('-') {
        return Err(format!("must not be negative: {DURATION_HINT}"));
    }
    let too_long = || "must be at most 60s".to_string();
    match decimal_times(num, us_per_unit) {
        Err(DecimalError::NotANumber) => Err(DURATION_HINT.into()),
        Err(DecimalError::TooLarge) => Err(too_long()),
        Ok(us) if us > u128::from(MAX_DELAY_US) => Err(too_long()),
        Ok(us) => Ok(us as u32),
    }
}

/// Microseconds in the largest unit that holds them exactly: 2000000 is
/// "2s", 50000 "50ms", 1500 "1500us", 0 "0us".
pub fn format_duration_us(us: u32) -> String {
    match us {
        0 => "0us".into(),
        _ if us.is_multiple_of(1_000_000) => format!("{}s", us / 1_000_000),
        _ if us.is_multiple_of(1_000) => format!("{}ms", us / 1_000),
        _ => format!("{us}us"),
    }
}

/// The number and the lowercased unit after it ("1.5 Mbit" is ("1.5",
/// "mbit")). A sign stays with the number, for the caller to refuse.
fn split_unit(s: &str) -> (&str, String) {
    let t = s.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(end);
    (num, unit.trim().to_lowercase())
}

fn has_nonzero_digit(s: &str) -> bool {
    s.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecimalError {
    NotANumber,
    TooLarge,
}

/// A plain non-negative decimal ("5", "0.25", ".5", "5.") times `scale`,
/// rounded half up, in exact integer arithmetic: no float can turn "0.1%"
/// into 999 ppm. No sign, exponent, inf or NaN.
fn decimal_times(num: &str, scale: u64) -> Result<u128, DecimalError> {
    // Digits past these do not change a result that fits in 64 bits.
    const MAX_FRACTION_DIGITS: usize = 18;
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits_only = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits_only(whole) || !digits_only(frac) {
        return Err(DecimalError::NotANumber);
    }
    let scale = u128::from(scale);
    let mut value: u128 = 0;
    for b in whole.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(b - b'0')))
            .ok_or(DecimalError::TooLarge)?;
    }
    value = value.checked_mul(scale).ok_or(DecimalError::TooLarge)?;
    let frac = &frac[..frac.len().min(MAX_FRACTION_DIGITS)];
    if !frac.is_empty() {
        let numerator: u128 = frac
            .bytes()
            .fold(0, |acc, b| acc * 10 + u128::from(b - b'0'));
        let denominator = 10u128.pow(frac.len() as u32);
        // < 10^18 * 2^64 * 2: fits in 128 bits.
        let part = (numerator * scale * 2 + denominator) / (2 * denominator);
        value = value.checked_add(part).ok_or(DecimalError::TooLarge)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_a_percentage_in_parts_per_million() {
        assert_eq!(parse_loss("5%"), Ok(50_000));
        assert_eq!(parse_loss("5"), Ok(50_000));
        assert_eq!(parse_loss(" 0.5 % "), Ok(5_000));
        assert_eq!(parse_loss(".5%"), Ok(5_000));
        assert_eq!(parse_loss("0.1%"), Ok(1_000));
        assert_eq!(parse_loss("100%"), Ok(1_000_000));
        assert_eq!(parse_loss("0.0001%"), Ok(1));
        assert_eq!(parse_loss("0.00005%"), Ok(1)); // rounded half up
        assert_eq!(parse_loss("33.333333%"), Ok(333_333));
    }

    #[test]
    fn loss_out_of_range_or_not_a_number_is_refused_with_an_example() {
        for bad in [
            "0", "0%", "-5%", "100.01%", "101", "1e2", "NaN", "inf", "", "%", "5%%", "five",
            "0.00001%", "1.2.3",
        ] {
            let e = parse_loss(bad).unwrap_err();
            assert!(e.contains("e.g. "), "{bad:?}: {e}");
        }
        assert!(parse_loss("0.00001%").unwrap_err().starts_with("too small"));
        assert!(
            parse_loss("-1")
                .unwrap_err()
                .starts_with("must be more than 0%")
        );
        assert!(
            parse_loss("250%")
                .unwrap_err()
                .starts_with("must be at most 100%")
        );
        assert!(
            parse_loss("99999999999999999999999999999999999999999%")
                .unwrap_err()
                .starts_with("must be at most 100%")
        );
    }

    #[test]
    fn loss_round_trips_through_its_printer() {
        assert_eq!(format_loss(50_000), "5%");
        assert_eq!(format_loss(5_000), "0.5%");
        assert_eq!(format_loss(1), "0.0001%");
        assert_eq!(format_loss(123_450), "12.345%");
        assert_eq!(format_loss(1_000_000), "100%");
        for ppm in (1..=1_000_000)
            .step_by(997)
            .chain([1, 9, 10, 99_999, 1_000_000])
        {
            assert_eq!(parse_loss(&format_loss(ppm)), Ok(ppm), "{ppm}");
        }
    }

    #[test]
    fn ports_are_sorted_and_each_kept_once() {
        assert_eq!(parse_ports("80,443"), Ok(vec![80, 443]));
        assert_eq!(parse_ports(" 443 , 80,80 "), Ok(vec![80, 443]));
        assert_eq!(parse_ports("1,65535"), Ok(vec![1, 65535]));
    }

    #[test]
    fn bad_ports_are_refused_with_an_example() {
        for bad in [
            "",
            " ",
            "0",
            "65536",
            "80,",
            ",80",
            "80,,443",
            "http",
            "-1",
            "+80",
            "80;443",
            "99999999999999999999",
        ] {
            let e = parse_ports(bad).unwrap_err();
            assert!(e.contains("e.g. 80,443"), "{bad:?}: {e}");
        }
        assert!(
            parse_ports("65536")
                .unwrap_err()
                .starts_with("port 65536 is out of range")
        );
        assert!(
            parse_ports("0")
                .unwrap_err()
                .starts_with("port 0 is not a port")
        );
    }

    #[test]
    fn ports_round_trip_joined_by_commas() {
        let ports = parse_ports("8080,22,443,1").unwrap();
        let line = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(line, "1,22,443,8080");
        assert_eq!(parse_ports(&line), Ok(ports));
    }

    #[test]
    fn port_ranges_are_sorted_and_merged() {
        assert_eq!(parse_port_ranges("80"), Ok(vec![(80, 80)]));
        assert_eq!(
            parse_port_ranges(" 2000-3000 , 80,81, 1000 - 2000"),
            Ok(vec![(80, 81), (1000, 3000)])
        );
        assert_eq!(parse_port_ranges("1-65535,443"), Ok(vec![(1, 65535)]));
        assert_eq!(parse_port_ranges("65535,65534"), Ok(vec![(65534, 65535)]));
        for bad in [
            "",
            "0",
            "0-5",
            "5-",
            "-5",
            "2000-1000",
            "1-65536",
            "a-b",
            "80,,81",
            "1--2",
        ] {
            let e = parse_port_ranges(bad).unwrap_err();
            assert!(e.contains("e.g. "), "{bad:?}: {e}");
        }
        assert!(
            parse_port_ranges("2000-1000")
                .unwrap_err()
                .contains("runs backwards")
        );
    }

    #[test]
    fn port_ranges_round_trip_through_their_printer() {
        for line in ["80", "80,443", "1000-2000", "1-65535", "22,1000-2000,8080"] {
            let r = parse_port_ranges(line).unwrap();
            assert_eq!(format_port_ranges(&r), line);
            assert_eq!(parse_port_ranges(&format_port_ranges(&r)), Ok(r));
        }
    }

    #[test]
    fn rates_take_tc_units() {
        assert_eq!(parse_rate("1mbit"), Ok(1_000_000));
        assert_eq!(parse_rate("1Mbit"), Ok(1_000_000));
        assert_eq!(parse_rate("500kbit"), Ok(500_000));
        assert_eq!(parse_rate("1.5 gbit"), Ok(1_500_000_000));
        assert_eq!(parse_rate("10mbps"), Ok(80_000_000));
        assert_eq!(parse_rate("1kbps"), Ok(8_000));
        assert_eq!(parse_rate("8bps"), Ok(64));
        assert_eq!(parse_rate("1mibit"), Ok(1 << 20));
        assert_eq!(parse_rate("64000"), Ok(64_000)); // bare: bits, as tc
        assert_eq!(parse_rate("8bit"), Ok(8));
        assert_eq!(parse_rate("18446744073709551615bit"), Ok(u64::MAX));
    }

    #[test]
    fn bad_rates_are_refused_with_an_example() {
        for bad in [
            "",
            "mbit",
            "0",
            "0mbit",
            "-1mbit",
            "7bit",
            "1M",
            "1 megabit",
            "fast",
            "1e6",
            "NaN",
            "1..5mbit",
            "18446744073709551616bit",
            "99999999999tbps",
        ] {
            let e = parse_rate(bad).unwrap_err();
            assert!(
                e.contains("e.g. ") || e.starts_with("too large"),
                "{bad:?}: {e}"
            );
        }
        assert!(
            parse_rate("1M")
                .unwrap_err()
                .starts_with("unknown unit \"m\"")
        );
        assert!(
            parse_rate("99999999999tbps")
                .unwrap_err()
                .starts_with("too large")
        );
    }

    #[test]
    fn rates_round_trip_through_their_printer() {
        assert_eq!(format_rate(1_000_000), "1mbit");
        assert_eq!(format_rate(1_500_000), "1500kbit");
        assert_eq!(format_rate(8), "8bit");
        assert_eq!(format_rate(80_000_000), "80mbit");
        assert_eq!(format_rate(2_000_000_000_000), "2tbit");
        for bps in [
            8,
            9,
            1_000,
            1_048_576,
            123_456_789,
            8_000_000_000,
            u64::MAX,
            u64::MAX - 1,
        ] {
            assert_eq!(parse_rate(&format_rate(bps)), Ok(bps), "{bps}");
        }
    }

    #[test]
    fn durations_take_us_ms_and_s() {
        assert_eq!(parse_delay_us("50ms"), Ok(50_000));
        assert_eq!(parse_delay_us("250us"), Ok(250));
        assert_eq!(parse_delay_us("1.5s"), Ok(1_500_000));
        assert_eq!(parse_delay_us(" 2 MS "), Ok(2_000));
        assert_eq!(parse_delay_us("0.0015ms"), Ok(2)); // rounded
        assert_eq!(parse_delay_us("60s"), Ok(MAX_DELAY_US));
        assert_eq!(parse_jitter_us("0"), Ok(0));
        assert_eq!(parse_jitter_us("0ms"), Ok(0));
        assert_eq!(parse_jitter_us("10ms"), Ok(10_000));
    }

    #[test]
    fn bad_durations_are_refused_with_an_example() {
        for bad in [
            "",
            "ms",
            "50",
            "-5ms",
            "61s",
            "1m",
            "1h",
            "fast",
            "NaN",
            "1e3ms",
            "5.5.5ms",
            "99999999999999999999999999999999999999999s",
        ] {
            let e = parse_jitter_us(bad).unwrap_err();
            assert!(
                e.contains("e.g. ") || e.contains("at most 60s"),
                "{bad:?}: {e}"
            );
        }
        assert!(
            parse_delay_us("0")
                .unwrap_err()
                .starts_with("must be more than 0")
        );
        assert!(
            parse_delay_us("0.1us")
                .unwrap_err()
                .starts_with("too small")
        );
        assert!(
            parse_delay_us("61s")
                .unwrap_err()
                .starts_with("must be at most 60s")
        );
        assert!(
            parse_jitter_us("50")
                .unwrap_err()
                .starts_with("50 needs a unit")
        );
    }

    #[test]
    fn durations_round_trip_through_their_printer() {
        assert_eq!(format_duration_us(2_000_000), "2s");
        assert_eq!(format_duration_us(50_000), "50ms");
        assert_eq!(format_duration_us(1_500), "1500us");
        assert_eq!(format_duration_us(0), "0us");
        for us in (0..=MAX_DELAY_US)
            .step_by(999_983)
            .chain([1, 999, 1_000, 1_000_000])
        {
            assert_eq!(parse_jitter_us(&format_duration_us(us)), Ok(us), "{us}");
            if us > 0 {
                assert_eq!(parse_delay_us(&format_duration_us(us)), Ok(us), "{us}");
            }
        }
    }

    #[test]
    fn decimals_are_exact_and_bounded() {
        assert_eq!(decimal_times("0.1", 10_000), Ok(1_000));
        assert_eq!(decimal_times("5.", 2), Ok(10));
        assert_eq!(decimal_times(".25", 4), Ok(1));
        assert_eq!(decimal_times(".", 1), Err(DecimalError::NotANumber));
        assert_eq!(decimal_times("+1", 1), Err(DecimalError::NotANumber));
        assert_eq!(
            decimal_times(&"9".repeat(50), 1),
            Err(DecimalError::TooLarge)
        );
        // A very long fraction neither overflows nor panics; digits past
        // the 18th are not read.
        let nearly_two = decimal_times(&format!("1.{}", "9".repeat(100)), u64::MAX).unwrap();
        assert!(nearly_two <= 2 * u128::from(u64::MAX));
        assert!(nearly_two > 2 * u128::from(u64::MAX) - 100);
    }
}
