//! The conditions a hunt tries ([`Grid`]: axes and their values) and the
//! order it tries them in ([`Cell`]s): the baseline, then one condition at
//! a time, mildest first, then, when nothing failed alone, combinations.
//! Pure: parsing, ordering and ranking are unit-tested.

use crate::netfaults::{format_duration_us, format_loss, format_rate};
use std::fmt;

/// A kind of condition, in the order the default grid tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AxisName {
    /// CPU bandwidth of each sandbox (`--cpus`).
    Cpus,
    /// Packets dropped at random (`--net-loss`).
    Loss,
    /// Every packet delayed (`--net-delay`).
    Delay,
    /// Bandwidth of the sandbox's network (`--net-rate`).
    Rate,
    /// Copies of the test running at once (`-j` under a stress run).
    Jobs,
    /// `--seed`: CARGO_ISOLATE_SEED and the order of the selected tests.
    Seed,
}

impl AxisName {
    pub const ALL: [AxisName; 6] = [
        AxisName::Cpus,
        AxisName::Loss,
        AxisName::Delay,
        AxisName::Rate,
        AxisName::Jobs,
        AxisName::Seed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AxisName::Cpus => "cpus",
            AxisName::Loss => "loss",
            AxisName::Delay => "delay",
            AxisName::Rate => "rate",
            AxisName::Jobs => "jobs",
            AxisName::Seed => "seed",
        }
    }

    /// How the baseline's value is written in `--axis` (it is dropped:
    /// the baseline always runs).
    fn base_word(self) -> &'static str {
        match self {
            AxisName::Cpus | AxisName::Rate => "unlimited",
            AxisName::Loss | AxisName::Delay => "0",
            AxisName::Jobs => "1",
            AxisName::Seed => "none",
        }
    }
}

/// One condition: an axis and a value other than the baseline's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Cpus(f64),
    LossPpm(u32),
    DelayUs(u32),
    RateBps(u64),
    Jobs(usize),
    Seed(u64),
}

impl Value {
    pub fn axis(&self) -> AxisName {
        match self {
            Value::Cpus(_) => AxisName::Cpus,
            Value::LossPpm(_) => AxisName::Loss,
            Value::DelayUs(_) => AxisName::Delay,
            Value::RateBps(_) => AxisName::Rate,
            Value::Jobs(_) => AxisName::Jobs,
            Value::Seed(_) => AxisName::Seed,
        }
    }

    /// The value as the flag it becomes writes it (`5%`, `50ms`, `1mbit`).
    pub fn text(&self) -> String {
        match *self {
            Value::Cpus(c) => c.to_string(),
            Value::LossPpm(p) => format_loss(p),
            Value::DelayUs(us) => format_duration_us(us),
            Value::RateBps(bps) => format_rate(bps),
            Value::Jobs(n) => n.to_string(),
            Value::Seed(s) => s.to_string(),
        }
    }

    /// Orders an axis's values mildest first: less loss, delay and
    /// copies, more CPU and bandwidth. Seeds keep the order given.
    fn harshness(&self) -> f64 {
        match *self {
            Value::Cpus(c) => -c,
            Value::LossPpm(p) => f64::from(p),
            Value::DelayUs(us) => f64::from(us),
            Value::RateBps(bps) => -(bps as f64),
            Value::Jobs(n) => n as f64,
            Value::Seed(_) => 0.0,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.axis().as_str(), self.text())
    }
}

/// One `--axis NAME=V,V...`: its values, mildest first, without the
/// baseline's.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub name: AxisName,
    pub values: Vec<Value>,
}

/// `--axis cpus=1,0.1,0.02`, `loss=0,5%`, `delay=10ms,50ms`,
/// `rate=1mbit`, `jobs=2,4`, `seed=1,2,3`; each value parsed as its flag
/// parses it, the baseline's (`unlimited`, `0`, `1`, `none`) dropped.
pub fn parse_axis(s: &str) -> Result<Axis, String> {
    let names = || {
        AxisName::ALL
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some((name, values)) = s.split_once('=') else {
        return Err(format!(
            "expected NAME=VALUE[,VALUE...], e.g. cpus=0.5,0.1 (axes: {})",
            names()
        ));
    };
    let name = AxisName::ALL
        .into_iter()
        .find(|a| a.as_str() == name.trim())
        .ok_or_else(|| format!("unknown axis {:?}: use one of {}", name.trim(), names()))?;
    let mut out: Vec<Value> = Vec::new();
    for v in values.split(',').map(str::trim) {
        if v.is_empty() {
            return Err(format!("an empty value in {s:?}: e.g. cpus=0.5,0.1"));
        }
        let Some(value) = parse_value(name, v)
            .map_err(|e| format!("{name:?} value {v:?}: {e}", name = name.as_str()))?
        else {
            continue;
        };
        if !out.contains(&value) {
            out.push(value);
        }
    }
    // Stable: seeds, all equally harsh, keep their order.
    out.sort_by(|a, b| a.harshness().total_cmp(&b.harshness()));
    Ok(Axis { name, values: out })
}

/// One value; `None` for the baseline's.
fn parse_value(axis: AxisName, v: &str) -> Result<Option<Value>, String> {
    let base = v == axis.base_word()
        || match axis {
            AxisName::Loss => v.trim_end_matches('%').trim().parse::<f64>() == Ok(0.0),
            AxisName::Delay => crate::netfaults::parse_jitter_us(v) == Ok(0),
            _ => false,
        };
    if base {
        return Ok(None);
    }
    Ok(Some(match axis {
        AxisName::Cpus => Value::Cpus(crate::cli::parse_cpus(v)?),
        AxisName::Loss => Value::LossPpm(crate::netfaults::parse_loss(v)?),
        AxisName::Delay => Value::DelayUs(crate::netfaults::parse_delay_us(v)?),
        AxisName::Rate => Value::RateBps(crate::netfaults::parse_rate(v)?),
        AxisName::Jobs => match v.parse::<usize>() {
            Ok(n) if (1..=1024).contains(&n) => Value::Jobs(n),
            _ => return Err("expected a number of copies from 1 to 1024".into()),
        },
        AxisName::Seed => Value::Seed(
            v.parse()
                .map_err(|_| "expected a whole number (a --seed) or none".to_string())?,
        ),
    }))
}

/// The axes a hunt tries, in order, each value at most once.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub axes: Vec<Axis>,
}

impl Grid {
    /// Without `--axis`: CPU starvation, loss, delay, rate and parallel
    /// copies, a few steps each. Seeds only when asked: a seed changes
    /// nothing but CARGO_ISOLATE_SEED and the order of the tests.
    pub fn default_grid() -> Grid {
        let axis = |s: &str| parse_axis(s).expect("the default grid parses");
        Grid {
            axes: vec![
                axis("cpus=0.5,0.1,0.02"),
                axis("loss=1%,5%,20%"),
                axis("delay=10ms,50ms"),
                axis("rate=1mbit,100kbit"),
                axis("jobs=2,4"),
            ],
        }
    }

    /// The axes given, a later `--axis` of the same name replacing an
    /// earlier one; empty axes (only the baseline's value) dropped.
    pub fn of(given: &[Axis]) -> Grid {
        if given.is_empty() {
            return Grid::default_grid();
        }
        let mut axes: Vec<Axis> = Vec::new();
        for a in given {
            match axes.iter_mut().find(|have| have.name == a.name) {
                Some(have) => *have = a.clone(),
                None => axes.push(a.clone()),
            }
        }
        axes.retain(|a| !a.values.is_empty());
        Grid { axes }
    }

    /// Leaves an axis out (the host cannot make it); true if it was there.
    pub fn drop_axis(&mut self, name: AxisName) -> bool {
        let before = self.axes.len();
        self.axes.retain(|a| a.name != name);
        self.axes.len() != before
    }

    pub fn has(&self, name: AxisName) -> bool {
        self.axes.iter().any(|a| a.name == name)
    }

    /// The first phase: every value of every axis alone, axis by axis,
    /// mildest first.
    pub fn singles(&self) -> Vec<Cell> {
        self.axes
            .iter()
            .flat_map(|a| {
                a.values.iter().map(|v| Cell {
                    conditions: vec![*v],
                })
            })
            .collect()
    }

    /// The second phase, tried when no single condition failed: per axis
    /// its value that failed most (`failures` of each single cell; ties go
    /// to the harshest), then levels of growing size: every pair of axes
    /// (most failures first), then the top three, four... axes together.
    /// The hunt stops after the first level where a cell fails.
    pub fn combinations(&self, failures: &dyn Fn(&Value) -> u64) -> Vec<Vec<Cell>> {
        let mut picks: Vec<(Value, u64)> = self
            .axes
            .iter()
            .filter_map(|a| {
                // max_by_key keeps the last of equals: the harshest.
                let v = a.values.iter().max_by_key(|v| failures(v))?;
                Some((*v, failures(v)))
            })
            .collect();
        if picks.len() < 2 {
            return Vec::new();
        }
        let mut pairs: Vec<(u64, Cell)> = Vec::new();
        for i in 0..picks.len() {
            for j in i + 1..picks.len() {
                let cell = Cell {
                    conditions: vec![picks[i].0, picks[j].0],
                };
                pairs.push((picks[i].1 + picks[j].1, cell));
            }
        }
        pairs.sort_by_key(|p| std::cmp::Reverse(p.0));
        let mut levels = vec![pairs.into_iter().map(|(_, c)| c).collect::<Vec<_>>()];
        picks.sort_by_key(|p| std::cmp::Reverse(p.1));
        for k in 3..=picks.len() {
            let mut conditions: Vec<Value> = picks[..k].iter().map(|p| p.0).collect();
            conditions.sort_by_key(|v| self.position(v).0);
            levels.push(vec![Cell { conditions }]);
        }
        levels
    }

    /// Where a value sits: its axis's place in the grid and its own, from
    /// 1, among the axis's values (1 is the mildest).
    pub fn position(&self, v: &Value) -> (usize, usize) {
        for (i, a) in self.axes.iter().enumerate() {
            if let Some(j) = a.values.iter().position(|x| x == v) {
                return (i, j + 1);
            }
        }
        (usize::MAX, usize::MAX)
    }

    /// How small a failing cell is, smallest first: fewest conditions,
    /// then the mildest (the sum of each value's step on its axis).
    pub fn rank(&self, cell: &Cell) -> (usize, usize) {
        let steps = cell.conditions.iter().map(|v| self.position(v).1).sum();
        (cell.conditions.len(), steps)
    }
}

/// One set of conditions the selected tests run under; none: the baseline.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cell {
    pub conditions: Vec<Value>,
}

impl Cell {
    pub fn get(&self, axis: AxisName) -> Option<Value> {
        self.conditions.iter().copied().find(|v| v.axis() == axis)
    }

    /// `baseline`, or `cpus=0.1 + loss=5%`.
    pub fn label(&self) -> String {
        match self.conditions.is_empty() {
            true => "baseline".into(),
            false => self
                .conditions
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join(" + "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(cells: &[Cell]) -> Vec<String> {
        cells.iter().map(Cell::label).collect()
    }

    #[test]
    fn axes_parse_as_their_flags_sorted_mildest_first_without_the_baseline() {
        let a = parse_axis("cpus=0.02,unlimited,1,0.1,1").unwrap();
        assert_eq!(a.name, AxisName::Cpus);
        assert_eq!(
            a.values,
            [Value::Cpus(1.0), Value::Cpus(0.1), Value::Cpus(0.02)]
        );
        let l = parse_axis("loss=5%, 0, 1%,0%").unwrap();
        assert_eq!(l.values, [Value::LossPpm(10_000), Value::LossPpm(50_000)]);
        let d = parse_axis("delay=50ms,0ms,10ms").unwrap();
        assert_eq!(d.values, [Value::DelayUs(10_000), Value::DelayUs(50_000)]);
        let r = parse_axis("rate=100kbit,unlimited,1mbit").unwrap();
        assert_eq!(
            r.values,
            [Value::RateBps(1_000_000), Value::RateBps(100_000)]
        );
        assert_eq!(
            parse_axis("jobs=4,1,2").unwrap().values,
            [Value::Jobs(2), Value::Jobs(4)]
        );
        // Seeds keep the order given.
        assert_eq!(
            parse_axis("seed=9,none,3").unwrap().values,
            [Value::Seed(9), Value::Seed(3)]
        );
        assert_eq!(Value::LossPpm(5_000).to_string(), "loss=0.5%");
        assert_eq!(Value::DelayUs(50_000).to_string(), "delay=50ms");
        assert_eq!(Value::RateBps(1_000_000).to_string(), "rate=1mbit");
    }

    #[test]
    fn bad_axes_say_what_would_work() {
        for (bad, says) in [
            ("cpus", "expected NAME=VALUE"),
            ("cpu=1", "unknown axis \"cpu\": use one of cpus, loss"),
            ("cpus=0.001", "must be at least 0.01"),
            ("loss=200%", "at most 100%"),
            ("delay=5", "needs a unit"),
            ("jobs=0", "from 1 to 1024"),
            ("seed=-1", "whole number"),
            ("cpus=1,,2", "an empty value"),
            ("rate=fast", "expected a rate"),
        ] {
            let e = parse_axis(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_default_grid_tries_each_condition_alone_mildest_first() {
        let g = Grid::of(&[]);
        assert_eq!(
            labels(&g.singles()),
            [
                "cpus=0.5",
                "cpus=0.1",
                "cpus=0.02",
                "loss=1%",
                "loss=5%",
                "loss=20%",
                "delay=10ms",
                "delay=50ms",
                "rate=1mbit",
                "rate=100kbit",
                "jobs=2",
                "jobs=4",
            ]
        );
        assert!(!g.has(AxisName::Seed));
    }

    #[test]
    fn given_axes_replace_the_default_a_later_one_wins_and_empty_ones_go() {
        let given = [
            parse_axis("loss=5%").unwrap(),
            parse_axis("cpus=0.1").unwrap(),
            parse_axis("loss=1%,20%").unwrap(),
            parse_axis("jobs=1").unwrap(),
        ];
        let mut g = Grid::of(&given);
        assert_eq!(labels(&g.singles()), ["loss=1%", "loss=20%", "cpus=0.1"]);
        assert!(g.drop_axis(AxisName::Loss));
        assert!(!g.drop_axis(AxisName::Delay));
        assert_eq!(labels(&g.singles()), ["cpus=0.1"]);
    }

    #[test]
    fn combinations_take_each_axis_most_failing_value_pairs_first() {
        let g = Grid::of(&[
            parse_axis("cpus=0.5,0.1").unwrap(),
            parse_axis("loss=1%,5%").unwrap(),
            parse_axis("jobs=2,4").unwrap(),
        ]);
        // loss=1% failed twice, jobs=2 once, nothing else: ties go to the
        // harshest (cpus=0.1).
        let failures = |v: &Value| match v {
            Value::LossPpm(10_000) => 2,
            Value::Jobs(2) => 1,
            _ => 0,
        };
        let levels = g.combinations(&failures);
        let shown: Vec<Vec<String>> = levels.iter().map(|l| labels(l)).collect();
        assert_eq!(
            shown,
            [
                vec![
                    "loss=1% + jobs=2",
                    "cpus=0.1 + loss=1%",
                    "cpus=0.1 + jobs=2"
                ],
                vec!["cpus=0.1 + loss=1% + jobs=2"],
            ]
        );
        // One axis has nothing to combine.
        let one = Grid::of(&[parse_axis("cpus=0.5").unwrap()]);
        assert!(one.combinations(&|_| 0).is_empty());
    }

    #[test]
    fn the_smallest_failing_cell_has_fewest_then_mildest_conditions() {
        let g = Grid::of(&[
            parse_axis("cpus=0.5,0.1,0.02").unwrap(),
            parse_axis("loss=1%,5%").unwrap(),
        ]);
        let cell = |c: &[Value]| Cell {
            conditions: c.to_vec(),
        };
        let mild = cell(&[Value::Cpus(0.1)]);
        let harsh = cell(&[Value::Cpus(0.02)]);
        let pair = cell(&[Value::Cpus(0.5), Value::LossPpm(10_000)]);
        assert!(g.rank(&mild) < g.rank(&harsh));
        assert!(g.rank(&harsh) < g.rank(&pair));
        assert_eq!(g.rank(&Cell::default()), (0, 0));
        assert_eq!(pair.label(), "cpus=0.5 + loss=1%");
        assert_eq!(Cell::default().label(), "baseline");
        assert_eq!(pair.get(AxisName::Loss), Some(Value::LossPpm(10_000)));
    }
}
