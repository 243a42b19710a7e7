//! vsm's events ([`VsmEvent`]) and how each becomes a [`Jp1Event`]: the event ID table
//! ([`EVENT_TABLE`]), severities, object types and the extended attributes.
//!
//! The manager maps its own events to [`VsmEvent`]; this module owns the mapping from there to
//! JP1 and is pure (time comes in as an argument). It must not send anything (see
//! [`crate::outbox`]).

use serde::{Deserialize, Serialize};
use vsm_core::{AccountName, GroupName, OperationId, ServerName, Timestamp, UnitName};

use crate::event::{EventId, Jp1Event, Jp1EventError, ProductName, Severity};
use crate::unverified;

/// Which kind of vsm event; one row of [`EVENT_TABLE`] each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The manager service started.
    ManagerStarted,
    /// The manager service stopped.
    ManagerStopped,
    /// A server failed or vanished (observed status differs from the logical status).
    ServerFailed,
    /// A failed server is working again.
    ServerRecovered,
    /// An operation ended normally (exit code 0).
    OperationSucceeded,
    /// An operation ended with a warning: partly succeeded (exit code 1).
    OperationPartlySucceeded,
    /// An operation failed (exit code 70).
    OperationFailed,
    /// A login was refused.
    LoginFailed,
}

/// One row of the event ID table: how a kind of vsm event looks in JP1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSpec {
    /// The vsm event kind.
    pub kind: EventKind,
    /// Its JP1 event ID (user range).
    pub id: u32,
    /// Its `SEVERITY`.
    pub severity: Severity,
    /// Its `OBJECT_TYPE`.
    pub object_type: &'static str,
    /// Its `ROOT_OBJECT_TYPE`.
    pub root_object_type: &'static str,
    /// Its `OCCURRENCE` (values are in [`crate::unverified`]).
    pub occurrence: &'static str,
    /// A short description, for documentation and `logtrap-config`.
    pub summary: &'static str,
}

/// `OBJECT_TYPE` of the manager itself.
pub const OBJECT_TYPE_MANAGER: &str = "VSM_MANAGER";
/// `OBJECT_TYPE` of a virtual server.
pub const OBJECT_TYPE_SERVER: &str = "VSM_SERVER";
/// `OBJECT_TYPE` of a management unit.
pub const OBJECT_TYPE_UNIT: &str = "VSM_UNIT";
/// `OBJECT_TYPE` of an operation.
pub const OBJECT_TYPE_OPERATION: &str = "VSM_OPERATION";
/// `OBJECT_TYPE` of an account.
pub const OBJECT_TYPE_ACCOUNT: &str = "VSM_ACCOUNT";

/// The event ID table. IDs come from the user range `0x7FFF8000`–`0x7FFFFFFF`; the original
/// product's own IDs (`0x00012050`, `0x00012051`) belong to Hitachi and are not reused.
/// `docs/jp1.md` shows the same table; a test keeps the two equal.
pub const EVENT_TABLE: &[EventSpec] = &[
    EventSpec {
        kind: EventKind::ManagerStarted,
        id: 0x7FFF_8001,
        severity: Severity::Information,
        object_type: OBJECT_TYPE_MANAGER,
        root_object_type: OBJECT_TYPE_MANAGER,
        occurrence: unverified::OCCURRENCE_MANAGER_STARTED,
        summary: "the manager started",
    },
    EventSpec {
        kind: EventKind::ManagerStopped,
        id: 0x7FFF_8002,
        severity: Severity::Notice,
        object_type: OBJECT_TYPE_MANAGER,
        root_object_type: OBJECT_TYPE_MANAGER,
        occurrence: unverified::OCCURRENCE_MANAGER_STOPPED,
        summary: "the manager stopped",
    },
    EventSpec {
        kind: EventKind::ServerFailed,
        id: 0x7FFF_8010,
        severity: Severity::Error,
        object_type: OBJECT_TYPE_SERVER,
        root_object_type: OBJECT_TYPE_UNIT,
        occurrence: unverified::OCCURRENCE_SERVER_FAILED,
        summary: "a server failed or vanished",
    },
    EventSpec {
        kind: EventKind::ServerRecovered,
        id: 0x7FFF_8011,
        severity: Severity::Information,
        object_type: OBJECT_TYPE_SERVER,
        root_object_type: OBJECT_TYPE_UNIT,
        occurrence: unverified::OCCURRENCE_SERVER_RECOVERED,
        summary: "a failed server is working again",
    },
    EventSpec {
        kind: EventKind::OperationSucceeded,
        id: 0x7FFF_8020,
        severity: Severity::Information,
        object_type: OBJECT_TYPE_OPERATION,
        root_object_type: OBJECT_TYPE_UNIT,
        occurrence: unverified::OCCURRENCE_OPERATION_ENDED,
        summary: "an operation succeeded",
    },
    EventSpec {
        kind: EventKind::OperationPartlySucceeded,
        id: 0x7FFF_8021,
        severity: Severity::Warning,
        object_type: OBJECT_TYPE_OPERATION,
        root_object_type: OBJECT_TYPE_UNIT,
        occurrence: unverified::OCCURRENCE_OPERATION_ENDED,
        summary: "an operation partly succeeded",
    },
    EventSpec {
        kind: EventKind::OperationFailed,
        id: 0x7FFF_8022,
        severity: Severity::Error,
        object_type: OBJECT_TYPE_OPERATION,
        root_object_type: OBJECT_TYPE_UNIT,
        occurrence: unverified::OCCURRENCE_OPERATION_ENDED,
        summary: "an operation failed",
    },
    EventSpec {
        kind: EventKind::LoginFailed,
        id: 0x7FFF_8030,
        severity: Severity::Warning,
        object_type: OBJECT_TYPE_ACCOUNT,
        root_object_type: OBJECT_TYPE_ACCOUNT,
        occurrence: unverified::OCCURRENCE_LOGIN_FAILED,
        summary: "a login was refused",
    },
];

impl EventKind {
    /// This kind's row of [`EVENT_TABLE`].
    pub fn spec(self) -> &'static EventSpec {
        // Every kind has exactly one row (checked by a test); the fallback is never taken.
        EVENT_TABLE
            .iter()
            .find(|s| s.kind == self)
            .unwrap_or(&EVENT_TABLE[0])
    }

    /// This kind's event ID.
    pub fn event_id(self) -> EventId {
        // The table holds only user-range IDs (checked by a test).
        EventId::from_table(self.spec().id)
    }
}

/// An operation an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationInfo {
    /// The unit it ran on.
    pub unit: UnitName,
    /// Its id (`vsm op show ID`).
    pub id: OperationId,
    /// What it was, e.g. `unit-start`, `apply`, `scale`.
    pub kind: String,
    /// Who started it, if an account did.
    pub by: Option<AccountName>,
}

/// An event of the manager that operators should see in JP1/IM. The manager maps its own events
/// to these; [`to_jp1`] maps these to JP1 events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum VsmEvent {
    /// The manager started.
    ManagerStarted,
    /// The manager stopped.
    ManagerStopped,
    /// A server failed or vanished.
    ServerFailed {
        /// Its unit.
        unit: UnitName,
        /// Its group.
        group: GroupName,
        /// The server.
        server: ServerName,
        /// What was seen, e.g. `observed stopped, expected working`.
        reason: String,
    },
    /// A failed server is working again.
    ServerRecovered {
        /// Its unit.
        unit: UnitName,
        /// Its group.
        group: GroupName,
        /// The server.
        server: ServerName,
        /// How, e.g. `restarted` or `re-created`.
        how: String,
    },
    /// An operation succeeded.
    OperationSucceeded {
        /// The operation.
        op: OperationInfo,
        /// A one-line summary, e.g. `5 of 5 servers started`.
        detail: String,
    },
    /// An operation partly succeeded (or succeeded with warnings).
    OperationPartlySucceeded {
        /// The operation.
        op: OperationInfo,
        /// A one-line summary, e.g. `3 of 5 servers started; web-4, web-5 failed`.
        detail: String,
    },
    /// An operation failed.
    OperationFailed {
        /// The operation.
        op: OperationInfo,
        /// The error.
        detail: String,
    },
    /// A login was refused.
    LoginFailed {
        /// The account name given.
        account: AccountName,
        /// Where the attempt came from (client address), if known.
        source: Option<String>,
    },
}

impl VsmEvent {
    /// The kind of this event.
    pub fn kind(&self) -> EventKind {
        match self {
            VsmEvent::ManagerStarted => EventKind::ManagerStarted,
            VsmEvent::ManagerStopped => EventKind::ManagerStopped,
            VsmEvent::ServerFailed { .. } => EventKind::ServerFailed,
            VsmEvent::ServerRecovered { .. } => EventKind::ServerRecovered,
            VsmEvent::OperationSucceeded { .. } => EventKind::OperationSucceeded,
            VsmEvent::OperationPartlySucceeded { .. } => EventKind::OperationPartlySucceeded,
            VsmEvent::OperationFailed { .. } => EventKind::OperationFailed,
            VsmEvent::LoginFailed { .. } => EventKind::LoginFailed,
        }
    }
}

/// Settings that shape every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventConfig {
    /// `PRODUCT_NAME` (default `/VSM/VSM`).
    pub product_name: ProductName,
    /// The manager's name in events (`OBJECT_NAME` of manager events, `VSM_MANAGER` of all):
    /// usually the management host's name.
    pub manager_name: String,
}

impl Default for EventConfig {
    fn default() -> Self {
        EventConfig {
            product_name: ProductName::default(),
            manager_name: "vsm".to_owned(),
        }
    }
}

/// Program-specific attribute: when vsm saw the event (RFC 3339, UTC). JP1's own `TIME` is when
/// the event was registered, which is later if the event waited in the outbox.
pub const ATTR_OCCURRED_AT: &str = "VSM_OCCURRED_AT";
/// Program-specific attribute: the manager's name.
pub const ATTR_MANAGER: &str = "VSM_MANAGER";
/// Program-specific attribute: the unit.
pub const ATTR_UNIT: &str = "VSM_UNIT";
/// Program-specific attribute: the group.
pub const ATTR_GROUP: &str = "VSM_GROUP";
/// Program-specific attribute: the server.
pub const ATTR_SERVER: &str = "VSM_SERVER";
/// Program-specific attribute: the operation id.
pub const ATTR_OPERATION_ID: &str = "VSM_OPERATION_ID";
/// Program-specific attribute: the operation kind.
pub const ATTR_OPERATION_KIND: &str = "VSM_OPERATION_KIND";
/// Program-specific attribute: the account (login failures).
pub const ATTR_ACCOUNT: &str = "VSM_ACCOUNT";
/// Program-specific attribute: the client address (login failures).
pub const ATTR_SOURCE: &str = "VSM_SOURCE";

/// Attribute values vsm writes itself are single-line and short; longer free text goes into the
/// message only. This caps the few free-text values (operation kind, source address).
const MAX_FREE_VALUE_BYTES: usize = 256;

fn free_value(s: &str) -> String {
    crate::event::fit_message(s, MAX_FREE_VALUE_BYTES)
}

/// Maps a vsm event that happened at `at` to the JP1 event sent for it.
pub fn to_jp1(
    event: &VsmEvent,
    at: Timestamp,
    config: &EventConfig,
) -> Result<Jp1Event, Jp1EventError> {
    let spec = event.kind().spec();
    let manager = free_value(&config.manager_name);
    let (object_name, root_object_name, message, mut extra): (
        String,
        String,
        String,
        Vec<(&str, String)>,
    ) = match event {
        VsmEvent::ManagerStarted => (
            manager.clone(),
            manager.clone(),
            format!("vsm manager {manager} started"),
            vec![],
        ),
        VsmEvent::ManagerStopped => (
            manager.clone(),
            manager.clone(),
            format!("vsm manager {manager} stopped"),
            vec![],
        ),
        VsmEvent::ServerFailed {
            unit,
            group,
            server,
            reason,
        } => (
            server.to_string(),
            unit.to_string(),
            format!("vsm: server {server} (unit {unit}, group {group}) failed: {reason}"),
            server_attrs(unit, group, server),
        ),
        VsmEvent::ServerRecovered {
            unit,
            group,
            server,
            how,
        } => (
            server.to_string(),
            unit.to_string(),
            format!("vsm: server {server} (unit {unit}, group {group}) recovered: {how}"),
            server_attrs(unit, group, server),
        ),
        VsmEvent::OperationSucceeded { op, detail } => {
            operation(op, "succeeded", detail, crate::exit_code::SUCCESS)
        }
        VsmEvent::OperationPartlySucceeded { op, detail } => {
            operation(op, "partly succeeded", detail, crate::exit_code::WARNING)
        }
        VsmEvent::OperationFailed { op, detail } => {
            operation(op, "failed", detail, crate::exit_code::FAILED)
        }
        VsmEvent::LoginFailed { account, source } => {
            let mut extra = vec![
                ("USER_NAME", account.to_string()),
                (ATTR_ACCOUNT, account.to_string()),
            ];
            let from = match source {
                Some(s) => {
                    extra.push((ATTR_SOURCE, free_value(s)));
                    format!(" from {s}")
                }
                None => String::new(),
            };
            (
                account.to_string(),
                account.to_string(),
                format!("vsm: login as {account}{from} was refused"),
                extra,
            )
        }
    };
    let mut attrs: Vec<(String, String)> = vec![
        ("SEVERITY".into(), spec.severity.as_str().into()),
        ("PRODUCT_NAME".into(), config.product_name.to_string()),
        ("OBJECT_TYPE".into(), spec.object_type.into()),
        ("OBJECT_NAME".into(), object_name),
        ("ROOT_OBJECT_TYPE".into(), spec.root_object_type.into()),
        ("ROOT_OBJECT_NAME".into(), root_object_name),
        ("OCCURRENCE".into(), spec.occurrence.into()),
    ];
    attrs.extend(extra.drain(..).map(|(n, v)| (n.to_owned(), v)));
    attrs.push((ATTR_MANAGER.into(), manager));
    attrs.push((ATTR_OCCURRED_AT.into(), at.to_string()));
    Jp1Event::new(event.kind().event_id(), &message, attrs)
}

fn server_attrs(
    unit: &UnitName,
    group: &GroupName,
    server: &ServerName,
) -> Vec<(&'static str, String)> {
    vec![
        ("OBJECT_ID", format!("{unit}/{group}/{server}")),
        (ATTR_UNIT, unit.to_string()),
        (ATTR_GROUP, group.to_string()),
        (ATTR_SERVER, server.to_string()),
    ]
}

fn operation(
    op: &OperationInfo,
    verb: &str,
    detail: &str,
    code: u8,
) -> (String, String, String, Vec<(&'static str, String)>) {
    let kind = free_value(&op.kind);
    let mut extra = vec![
        ("OBJECT_ID", format!("operation/{}", op.id)),
        ("RESULT_CODE", code.to_string()),
        (ATTR_UNIT, op.unit.to_string()),
        (ATTR_OPERATION_ID, op.id.to_string()),
        (ATTR_OPERATION_KIND, kind.clone()),
    ];
    if let Some(by) = &op.by {
        extra.insert(0, ("USER_NAME", by.to_string()));
    }
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    };
    (
        op.id.to_string(),
        op.unit.to_string(),
        format!(
            "vsm: operation {} ({kind}) on unit {} {verb}{detail}",
            op.id, op.unit
        ),
        extra,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit() -> UnitName {
        UnitName::new("shop").expect("valid")
    }

    #[test]
    fn the_table_has_one_user_range_row_per_kind() {
        let kinds = [
            EventKind::ManagerStarted,
            EventKind::ManagerStopped,
            EventKind::ServerFailed,
            EventKind::ServerRecovered,
            EventKind::OperationSucceeded,
            EventKind::OperationPartlySucceeded,
            EventKind::OperationFailed,
            EventKind::LoginFailed,
        ];
        assert_eq!(EVENT_TABLE.len(), kinds.len());
        for k in kinds {
            assert_eq!(
                EVENT_TABLE.iter().filter(|s| s.kind == k).count(),
                1,
                "{k:?}"
            );
            assert!(EventId::new(k.spec().id).is_ok(), "{k:?}");
            assert_eq!(k.event_id().get(), k.spec().id);
        }
        let mut ids: Vec<u32> = EVENT_TABLE.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), EVENT_TABLE.len(), "IDs are unique");
        assert!(!ids.contains(&0x0001_2050) && !ids.contains(&0x0001_2051));
    }

    #[test]
    fn the_documented_table_matches_the_code() {
        let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/jp1.md"));
        let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `7FFF")).collect();
        assert_eq!(rows.len(), EVENT_TABLE.len(), "docs/jp1.md rows: {rows:#?}");
        for spec in EVENT_TABLE {
            let want = format!(
                "| `{:X}` | {} | {} | {} | {} | {} |",
                spec.id,
                spec.summary,
                spec.severity,
                spec.object_type,
                spec.root_object_type,
                spec.occurrence
            );
            assert!(rows.contains(&want.as_str()), "docs/jp1.md lacks {want}");
        }
    }

    #[test]
    fn a_failed_server_maps_to_an_error_event() {
        let e = to_jp1(
            &VsmEvent::ServerFailed {
                unit: unit(),
                group: GroupName::new("web").expect("valid"),
                server: ServerName::new("web-1").expect("valid"),
                reason: "observed stopped, expected working".into(),
            },
            Timestamp::from_millis(1_700_000_000_000),
            &EventConfig::default(),
        )
        .expect("maps");
        assert_eq!(e.id().to_string(), "7FFF8010");
        assert_eq!(
            e.message(),
            "vsm: server web-1 (unit shop, group web) failed: observed stopped, expected working"
        );
        let want = [
            ("SEVERITY", "Error"),
            ("PRODUCT_NAME", "/VSM/VSM"),
            ("OBJECT_TYPE", "VSM_SERVER"),
            ("OBJECT_NAME", "web-1"),
            ("ROOT_OBJECT_TYPE", "VSM_UNIT"),
            ("ROOT_OBJECT_NAME", "shop"),
            ("OCCURRENCE", "FAILURE"),
            ("OBJECT_ID", "shop/web/web-1"),
            ("VSM_UNIT", "shop"),
            ("VSM_GROUP", "web"),
            ("VSM_SERVER", "web-1"),
            ("VSM_MANAGER", "vsm"),
            ("VSM_OCCURRED_AT", "2023-11-14T22:13:20.000Z"),
        ];
        let got: Vec<(&str, &str)> = e
            .attrs()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn operations_carry_their_result_code_and_user() {
        let op = OperationInfo {
            unit: unit(),
            id: OperationId(42),
            kind: "unit-start".into(),
            by: Some(AccountName::new("alice").expect("valid")),
        };
        let cases = [
            (
                VsmEvent::OperationSucceeded {
                    op: op.clone(),
                    detail: "5 of 5 servers started".into(),
                },
                "7FFF8020",
                "Information",
                "0",
            ),
            (
                VsmEvent::OperationPartlySucceeded {
                    op: op.clone(),
                    detail: "3 of 5".into(),
                },
                "7FFF8021",
                "Warning",
                "1",
            ),
            (
                VsmEvent::OperationFailed {
                    op,
                    detail: "no server started".into(),
                },
                "7FFF8022",
                "Error",
                "70",
            ),
        ];
        for (ev, id, sev, code) in cases {
            let e = to_jp1(&ev, Timestamp::EPOCH, &EventConfig::default()).expect("maps");
            assert_eq!(e.id().to_string(), id);
            assert_eq!(e.attr("SEVERITY"), Some(sev));
            assert_eq!(e.attr("RESULT_CODE"), Some(code));
            assert_eq!(e.attr("USER_NAME"), Some("alice"));
            assert_eq!(e.attr("OBJECT_NAME"), Some("42"));
            assert_eq!(e.attr("OBJECT_TYPE"), Some("VSM_OPERATION"));
            assert_eq!(e.attr("VSM_OPERATION_KIND"), Some("unit-start"));
        }
    }

    #[test]
    fn manager_and_login_events() {
        let config = EventConfig {
            product_name: ProductName::new("/ACME/VSM").expect("valid"),
            manager_name: "mgmt01".into(),
        };
        let e = to_jp1(&VsmEvent::ManagerStarted, Timestamp::EPOCH, &config).expect("maps");
        assert_eq!(e.id().to_string(), "7FFF8001");
        assert_eq!(e.attr("PRODUCT_NAME"), Some("/ACME/VSM"));
        assert_eq!(e.attr("OBJECT_NAME"), Some("mgmt01"));
        assert_eq!(e.attr("OCCURRENCE"), Some("START"));
        let e = to_jp1(
            &VsmEvent::LoginFailed {
                account: AccountName::new("mallory").expect("valid"),
                source: Some("192.0.2.7".into()),
            },
            Timestamp::EPOCH,
            &config,
        )
        .expect("maps");
        assert_eq!(e.id().to_string(), "7FFF8030");
        assert_eq!(e.attr("SEVERITY"), Some("Warning"));
        assert_eq!(e.attr("VSM_SOURCE"), Some("192.0.2.7"));
        assert_eq!(
            e.message(),
            "vsm: login as mallory from 192.0.2.7 was refused"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_free_text_gives_a_sendable_event(
            reason in "\\PC{0,1500}",
            kind in "\\PC{0,400}",
            manager in "\\PC{0,400}",
            source in proptest::option::of("\\PC{0,400}"),
        ) {
            let config = EventConfig { product_name: ProductName::default(), manager_name: manager };
            let events = [
                VsmEvent::ServerFailed {
                    unit: unit(),
                    group: GroupName::new("web").expect("valid"),
                    server: ServerName::new("web-1").expect("valid"),
                    reason,
                },
                VsmEvent::OperationFailed {
                    op: OperationInfo { unit: unit(), id: OperationId(u64::MAX), kind, by: None },
                    detail: String::new(),
                },
                VsmEvent::LoginFailed { account: AccountName::new("bob").expect("valid"), source },
                VsmEvent::ManagerStopped,
            ];
            for ev in &events {
                let e = to_jp1(ev, Timestamp::from_millis(i64::MAX), &config);
                proptest::prop_assert!(e.is_ok(), "{:?}", e);
            }
        }
    }

    #[test]
    fn huge_free_text_still_fits() {
        let e = to_jp1(
            &VsmEvent::OperationFailed {
                op: OperationInfo {
                    unit: unit(),
                    id: OperationId(1),
                    kind: "k".repeat(20_000),
                    by: None,
                },
                detail: "d\n".repeat(5000),
            },
            Timestamp::EPOCH,
            &EventConfig::default(),
        )
        .expect("free text is cut, not refused");
        assert!(e.message().len() <= crate::event::MAX_MESSAGE_BYTES);
        assert!(e.attr("VSM_OPERATION_KIND").expect("set").len() <= 256);
    }
}
