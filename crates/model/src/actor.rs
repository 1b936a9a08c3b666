//! Who did something, as the audit log records it (BR 5.4.1: "the identity of the
//! entity" that caused each event).

use std::fmt;

/// The one who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A customer account (`customer:12`).
    Customer(i64),
    /// A staff member (`staff:3`).
    Staff(i64),
    /// The CA itself: jobs, periodic tasks, automatic issuance (`system`).
    System,
    /// The operator at the command line (`cli`).
    Cli,
    /// Someone not (yet) identified, e.g. a failed login (`anonymous`).
    Anonymous,
    /// An ACME account, acting for its contract's customer (`acme:4`).
    Acme(i64),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Customer(id) => write!(f, "customer:{id}"),
            Actor::Staff(id) => write!(f, "staff:{id}"),
            Actor::System => f.write_str("system"),
            Actor::Cli => f.write_str("cli"),
            Actor::Anonymous => f.write_str("anonymous"),
            Actor::Acme(id) => write!(f, "acme:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Actor;

    /// The audit log's actor column keeps the words it always had.
    #[test]
    fn actors_read_as_before() {
        let got: Vec<String> = [
            Actor::Customer(12),
            Actor::Staff(3),
            Actor::System,
            Actor::Cli,
            Actor::Anonymous,
            Actor::Acme(4),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            got,
            [
                "customer:12",
                "staff:3",
                "system",
                "cli",
                "anonymous",
                "acme:4"
            ]
        );
    }
}
