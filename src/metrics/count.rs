//! The run's counts by name: the closed set a threshold may bound. `results::Counts` holds their
//! values; a test there keeps the two lists the same.

/// One of `summary.json`'s `counts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Count {
    Produced,
    Acked,
    Consumed,
    Landed,
    Lost,
    Duplicated,
    DuplicatedInLog,
    DuplicatedBySink,
    DeliveryFailed,
    NotSent,
    Malformed,
    DeadLettered,
    DeadLettersTruncated,
    OffsetGaps,
    ConsumerErrors,
    Foreign,
    SkippedPreexisting,
    Rewinds,
    Reread,
    ProduceResent,
}

impl Count {
    pub const ALL: [Count; 20] = [
        Count::Produced,
        Count::Acked,
        Count::Consumed,
        Count::Landed,
        Count::Lost,
        Count::Duplicated,
        Count::DuplicatedInLog,
        Count::DuplicatedBySink,
        Count::DeliveryFailed,
        Count::NotSent,
        Count::Malformed,
        Count::DeadLettered,
        Count::DeadLettersTruncated,
        Count::OffsetGaps,
        Count::ConsumerErrors,
        Count::Foreign,
        Count::SkippedPreexisting,
        Count::Rewinds,
        Count::Reread,
        Count::ProduceResent,
    ];

    /// The field's name in `summary.json`.
    pub fn name(self) -> &'static str {
        match self {
            Count::Produced => "produced",
            Count::Acked => "acked",
            Count::Consumed => "consumed",
            Count::Landed => "landed",
            Count::Lost => "lost",
            Count::Duplicated => "duplicated",
            Count::DuplicatedInLog => "duplicated_in_log",
            Count::DuplicatedBySink => "duplicated_by_sink",
            Count::DeliveryFailed => "delivery_failed",
            Count::NotSent => "not_sent",
            Count::Malformed => "malformed",
            Count::DeadLettered => "dead_lettered",
            Count::DeadLettersTruncated => "dead_letters_truncated",
            Count::OffsetGaps => "offset_gaps",
            Count::ConsumerErrors => "consumer_errors",
            Count::Foreign => "foreign",
            Count::SkippedPreexisting => "skipped_preexisting",
            Count::Rewinds => "rewinds",
            Count::Reread => "reread",
            Count::ProduceResent => "produce_resent",
        }
    }

    pub fn from_name(name: &str) -> Option<Count> {
        Count::ALL.into_iter().find(|c| c.name() == name)
    }

    /// What is counted, for the verdict's unit.
    pub fn unit(self) -> &'static str {
        match self {
            Count::Rewinds => "rewinds",
            Count::ProduceResent => "messages",
            Count::DeadLettersTruncated => "records",
            _ => "ticks",
        }
    }
}
