//! Where an event came from.

use std::fmt;
use std::str::FromStr;

/// The stream an event arrived on. It is part of the idempotency key: the same event id from
/// two different sources is two different events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Blackboard Learn's Caliper stream (`LTIEvent` plus the rest of the firehose).
    BlackboardCaliper,
    /// Brightspace Data Streams xAPI events.
    BrightspaceBds,
    /// Any other IMS Caliper sensor (1.0 to 1.2), e.g. a `ToolLaunchEvent` from another platform.
    Caliper,
    /// An xAPI statement that is not from Brightspace Data Streams; kept raw, never a launch.
    Xapi,
}

impl Source {
    /// Every source, in a stable order (used for reports and help texts).
    pub const ALL: [Source; 4] = [
        Source::BlackboardCaliper,
        Source::BrightspaceBds,
        Source::Caliper,
        Source::Xapi,
    ];

    /// The stable name used in storage, reports and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::BlackboardCaliper => "blackboard-caliper",
            Source::BrightspaceBds => "brightspace-bds",
            Source::Caliper => "caliper",
            Source::Xapi => "xapi",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a source name nobody knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSource(pub String);

impl fmt::Display for UnknownSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown source {:?}: use one of blackboard-caliper, brightspace-bds, caliper, xapi",
            self.0
        )
    }
}

impl std::error::Error for UnknownSource {}

impl FromStr for Source {
    type Err = UnknownSource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "blackboard-caliper" | "blackboard" => Ok(Source::BlackboardCaliper),
            "brightspace-bds" | "brightspace" => Ok(Source::BrightspaceBds),
            "caliper" => Ok(Source::Caliper),
            "xapi" => Ok(Source::Xapi),
            other => Err(UnknownSource(other.to_owned())),
        }
    }
}
