//! A test as the listing found it, before any plan or run.

/// One libtest test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub binary: usize,
    pub name: String,
    pub ignored: bool,
}
