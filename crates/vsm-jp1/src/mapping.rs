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
    /// A server of a lost host was restarted on another host.
    ServerMoved,
    /// An operation ended normally (exit code 0).
    OperationSucceeded,
    /// An operation ended with a warning: partly succeeded (exit code 1).
    OperationPartlySucceeded,
    /// An operation failed (exit code 70).
    OperationFailed,
    /// A login was refused.
    LoginFailed,
    /// A hypervisor host was marked down after being unreachable.
    HostDown,
    /// A host that was down answers again.
    HostReturned,
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
/// `OBJECT_TYPE` of a hypervisor host of the pool.
pub const OBJECT_TYPE_HOST: &str = "VSM_HOST";

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
        kind: EventKind::ServerMoved,
        id: 0x7FFF_8012,
        severity: Severity::Warning,
        object_type: OBJECT_TYPE_SERVER,
        root_object_type: OBJECT_TYPE_UNIT,
        occurrence: unverified::OCCURRENCE_SERVER_MOVED,
        summary: "a server of a lost host was restarted on another host",
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
    EventSpec {
        kind: EventKind::HostDown,
        id: 0x7FFF_8040,
        severity: Severity::Error,
        object_type: OBJECT_TYPE_HOST,
        root_object_type: OBJECT_TYPE_HOST,
        occurrence: unverified::OCCURRENCE_HOST_DOWN,
        summary: "a hypervisor host is down",
    },
    EventSpec {
        kind: EventKind::HostReturned,
        id: 0x7FFF_8041,
        severity: Severity::Notice,
        object_type: OBJECT_TYPE_HOST,
        root_object_type: OBJECT_TYPE_HOST,
        occurrence: unverified::OCCURRENCE_HOST_RETURNED,
        summary: "a down host answers again",
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
    /// A server of a lost host was restarted on another host.
    ServerMoved {
        /// Its unit.
        unit: UnitName,
        /// Its group.
        group: GroupName,
        /// The server.
        server: ServerName,
        /// The host it ran on (the lost one).
        from_host: String,
        /// The host it was restarted on.
        to_host: String,
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
    /// A hypervisor host was marked down after being unreachable; its servers are restarted on
    /// other hosts.
    HostDown {
        /// The host.
        host: String,
        /// Why, e.g. `no answer for 60 s`.
        reason: String,
        /// The pool's fencing mode: [`FENCING_NONE`] (servers restart elsewhere at once) or
        /// [`FENCING_MANUAL`] (they restart once an administrator runs
        /// `vsm host confirm-down HOST`). Another value is shown as it is.
        fencing: String,
    },
    /// A host that was down answers again; copies of servers that were restarted elsewhere
    /// were destroyed on it.
    HostReturned {
        /// The host.
        host: String,
        /// How many stale server copies were destroyed on it.
        stale_copies: u32,
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
            VsmEvent::ServerMoved { .. } => EventKind::ServerMoved,
            VsmEvent::OperationSucceeded { .. } => EventKind::OperationSucceeded,
            VsmEvent::OperationPartlySucceeded { .. } => EventKind::OperationPartlySucceeded,
            VsmEvent::OperationFailed { .. } => EventKind::OperationFailed,
            VsmEvent::LoginFailed { .. } => EventKind::LoginFailed,
            VsmEvent::HostDown { .. } => EventKind::HostDown,
            VsmEvent::HostReturned { .. } => EventKind::HostReturned,
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
/// Program-specific attribute: the hypervisor host (host events; the new host of a moved server).
pub const ATTR_HOST: &str = "VSM_HOST";
/// Program-specific attribute: the host a moved server ran on before.
pub const ATTR_FROM_HOST: &str = "VSM_FROM_HOST";

/// [`VsmEvent::HostDown`] `fencing` value: the lost host's servers restart elsewhere at once.
pub const FENCING_NONE: &str = "none";
/// [`VsmEvent::HostDown`] `fencing` value: the lost host's servers restart elsewhere only once
/// an administrator confirms that the host is down (`vsm host confirm-down HOST`).
pub const FENCING_MANUAL: &str = "manual";

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
        VsmEvent::ServerMoved {
            unit,
            group,
            server,
            from_host,
            to_host,
        } => {
            let (from_host, to_host) = (free_value(from_host), free_value(to_host));
            let mut extra = server_attrs(unit, group, server);
            extra.push((ATTR_HOST, to_host.clone()));
            extra.push((ATTR_FROM_HOST, from_host.clone()));
            (
                server.to_string(),
                unit.to_string(),
                format!(
                    "vsm: server {server} (unit {unit}, group {group}) was restarted on host \
                     {to_host} because host {from_host} was lost"
                ),
                extra,
            )
        }
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
        VsmEvent::HostDown {
            host,
            reason,
            fencing,
        } => {
            // The host and the reason are capped so that the instruction at the end of the
            // message (which command an administrator must run) is never cut off.
            let host = free_value(host);
            let reason = free_value(reason);
            let then = if fencing == FENCING_MANUAL {
                format!(
                    "its servers restart elsewhere once an administrator runs \
                     vsm host confirm-down {host}"
                )
            } else if fencing == FENCING_NONE {
                "its servers restart elsewhere".to_owned()
            } else {
                format!(
                    "its servers restart elsewhere (fencing {})",
                    free_value(fencing)
                )
            };
            (
                host.clone(),
                host.clone(),
                format!("vsm: host {host} is down: {reason}; {then}"),
                host_attrs(&host),
            )
        }
        VsmEvent::HostReturned { host, stale_copies } => {
            let host = free_value(host);
            let copies = match stale_copies {
                0 => "no stale server copies were on it".to_owned(),
                1 => "1 stale server copy on it was destroyed".to_owned(),
                n => format!("{n} stale server copies on it were destroyed"),
            };
            (
                host.clone(),
                host.clone(),
                format!("vsm: host {host} answers again; {copies}"),
                host_attrs(&host),
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

/// `host` is already capped ([`free_value`]).
fn host_attrs(host: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OBJECT_ID", format!("host/{host}")),
        (ATTR_HOST, host.to_owned()),
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

    fn attrs(e: &Jp1Event) -> Vec<(&str, &str)> {
        e.attrs()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn the_table_has_one_user_range_row_per_kind() {
        let kinds = [
            EventKind::ManagerStarted,
            EventKind::ManagerStopped,
            EventKind::ServerFailed,
            EventKind::ServerRecovered,
            EventKind::ServerMoved,
            EventKind::OperationSucceeded,
            EventKind::OperationPartlySucceeded,
            EventKind::OperationFailed,
            EventKind::LoginFailed,
            EventKind::HostDown,
            EventKind::HostReturned,
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

    #[test]
    fn a_down_host_maps_to_an_error_event() {
        let e = to_jp1(
            &VsmEvent::HostDown {
                host: "kvm-03".into(),
                reason: "no answer for 60 s".into(),
                fencing: FENCING_NONE.into(),
            },
            Timestamp::from_millis(1_700_000_000_000),
            &EventConfig::default(),
        )
        .expect("maps");
        assert_eq!(e.id().to_string(), "7FFF8040");
        assert_eq!(
            e.message(),
            "vsm: host kvm-03 is down: no answer for 60 s; its servers restart elsewhere"
        );
        let want = [
            ("SEVERITY", "Error"),
            ("PRODUCT_NAME", "/VSM/VSM"),
            ("OBJECT_TYPE", "VSM_HOST"),
            ("OBJECT_NAME", "kvm-03"),
            ("ROOT_OBJECT_TYPE", "VSM_HOST"),
            ("ROOT_OBJECT_NAME", "kvm-03"),
            ("OCCURRENCE", "FAILURE"),
            ("OBJECT_ID", "host/kvm-03"),
            ("VSM_HOST", "kvm-03"),
            ("VSM_MANAGER", "vsm"),
            ("VSM_OCCURRED_AT", "2023-11-14T22:13:20.000Z"),
        ];
        assert_eq!(attrs(&e), want);
    }

    #[test]
    fn a_down_host_with_manual_fencing_names_the_command() {
        let down = |reason: String, fencing: &str| {
            to_jp1(
                &VsmEvent::HostDown {
                    host: "kvm-03".into(),
                    reason,
                    fencing: fencing.into(),
                },
                Timestamp::EPOCH,
                &EventConfig::default(),
            )
            .expect("maps")
        };
        let e = down("no answer for 60 s".into(), FENCING_MANUAL);
        assert_eq!(
            e.message(),
            "vsm: host kvm-03 is down: no answer for 60 s; its servers restart elsewhere once \
             an administrator runs vsm host confirm-down kvm-03"
        );
        // A huge reason is cut, the instruction at the end is not.
        let e = down("unreachable\n".repeat(5000), FENCING_MANUAL);
        assert!(e.message().len() <= crate::event::MAX_MESSAGE_BYTES);
        assert!(
            e.message()
                .ends_with("; its servers restart elsewhere once an administrator runs vsm host confirm-down kvm-03"),
            "{}",
            e.message()
        );
        assert!(!e.message().contains('\n'));
        // An unknown fencing mode is shown as it is.
        let e = down("gone".into(), "ipmi");
        assert_eq!(
            e.message(),
            "vsm: host kvm-03 is down: gone; its servers restart elsewhere (fencing ipmi)"
        );
    }

    #[test]
    fn a_returned_host_counts_the_destroyed_copies() {
        let cases = [
            (
                0,
                "vsm: host kvm-03 answers again; no stale server copies were on it",
            ),
            (
                1,
                "vsm: host kvm-03 answers again; 1 stale server copy on it was destroyed",
            ),
            (
                3,
                "vsm: host kvm-03 answers again; 3 stale server copies on it were destroyed",
            ),
        ];
        for (stale_copies, message) in cases {
            let e = to_jp1(
                &VsmEvent::HostReturned {
                    host: "kvm-03".into(),
                    stale_copies,
                },
                Timestamp::EPOCH,
                &EventConfig::default(),
            )
            .expect("maps");
            assert_eq!(e.id().to_string(), "7FFF8041");
            assert_eq!(e.message(), message);
            assert_eq!(e.attr("SEVERITY"), Some("Notice"));
            assert_eq!(e.attr("OBJECT_TYPE"), Some("VSM_HOST"));
            assert_eq!(e.attr("OBJECT_NAME"), Some("kvm-03"));
            assert_eq!(e.attr("OCCURRENCE"), Some("RECOVERY"));
            assert_eq!(e.attr("OBJECT_ID"), Some("host/kvm-03"));
            assert_eq!(e.attr("VSM_HOST"), Some("kvm-03"));
        }
    }

    #[test]
    fn a_moved_server_maps_to_a_warning_event() {
        let e = to_jp1(
            &VsmEvent::ServerMoved {
                unit: unit(),
                group: GroupName::new("web").expect("valid"),
                server: ServerName::new("web-1").expect("valid"),
                from_host: "kvm-03".into(),
                to_host: "kvm-05".into(),
            },
            Timestamp::from_millis(1_700_000_000_000),
            &EventConfig::default(),
        )
        .expect("maps");
        assert_eq!(e.id().to_string(), "7FFF8012");
        assert_eq!(
            e.message(),
            "vsm: server web-1 (unit shop, group web) was restarted on host kvm-05 because host \
             kvm-03 was lost"
        );
        let want = [
            ("SEVERITY", "Warning"),
            ("PRODUCT_NAME", "/VSM/VSM"),
            ("OBJECT_TYPE", "VSM_SERVER"),
            ("OBJECT_NAME", "web-1"),
            ("ROOT_OBJECT_TYPE", "VSM_UNIT"),
            ("ROOT_OBJECT_NAME", "shop"),
            ("OCCURRENCE", "MOVE"),
            ("OBJECT_ID", "shop/web/web-1"),
            ("VSM_UNIT", "shop"),
            ("VSM_GROUP", "web"),
            ("VSM_SERVER", "web-1"),
            ("VSM_HOST", "kvm-05"),
            ("VSM_FROM_HOST", "kvm-03"),
            ("VSM_MANAGER", "vsm"),
            ("VSM_OCCURRED_AT", "2023-11-14T22:13:20.000Z"),
        ];
        assert_eq!(attrs(&e), want);
    }

    #[test]
    fn host_events_have_stable_serde_tags() {
        let events = [
            (
                VsmEvent::HostDown {
                    host: "kvm-03".into(),
                    reason: "gone".into(),
                    fencing: FENCING_MANUAL.into(),
                },
                r#"{"event":"host_down","host":"kvm-03","reason":"gone","fencing":"manual"}"#,
            ),
            (
                VsmEvent::HostReturned {
                    host: "kvm-03".into(),
                    stale_copies: 2,
                },
                r#"{"event":"host_returned","host":"kvm-03","stale_copies":2}"#,
            ),
            (
                VsmEvent::ServerMoved {
                    unit: unit(),
                    group: GroupName::new("web").expect("valid"),
                    server: ServerName::new("web-1").expect("valid"),
                    from_host: "kvm-03".into(),
                    to_host: "kvm-05".into(),
                },
                r#"{"event":"server_moved","unit":"shop","group":"web","server":"web-1","from_host":"kvm-03","to_host":"kvm-05"}"#,
            ),
        ];
        for (ev, json) in events {
            assert_eq!(serde_json::to_string(&ev).expect("serializes"), json);
            let back: VsmEvent = serde_json::from_str(json).expect("deserializes");
            assert_eq!(back, ev);
        }
        assert_eq!(
            serde_json::to_string(&EventKind::HostReturned).expect("serializes"),
            r#""host_returned""#
        );
    }

    proptest::proptest! {
        #[test]
        fn any_free_text_gives_a_sendable_event(
            reason in "\\PC{0,1500}",
            kind in "\\PC{0,400}",
            manager in "\\PC{0,400}",
            source in proptest::option::of("\\PC{0,400}"),
            host in "\\PC{0,400}",
            fencing in proptest::sample::select(vec!["none", "manual", "other"]),
            stale_copies in proptest::num::u32::ANY,
        ) {
            let config = EventConfig { product_name: ProductName::default(), manager_name: manager };
            let events = [
                VsmEvent::ServerFailed {
                    unit: unit(),
                    group: GroupName::new("web").expect("valid"),
                    server: ServerName::new("web-1").expect("valid"),
                    reason: reason.clone(),
                },
                VsmEvent::OperationFailed {
                    op: OperationInfo { unit: unit(), id: OperationId(u64::MAX), kind, by: None },
                    detail: String::new(),
                },
                VsmEvent::LoginFailed { account: AccountName::new("bob").expect("valid"), source },
                VsmEvent::ManagerStopped,
                VsmEvent::HostDown {
                    host: host.clone(),
                    reason,
                    fencing: fencing.into(),
                },
                VsmEvent::HostReturned { host: host.clone(), stale_copies },
                VsmEvent::ServerMoved {
                    unit: unit(),
                    group: GroupName::new("web").expect("valid"),
                    server: ServerName::new("web-1").expect("valid"),
                    from_host: host.clone(),
                    to_host: host,
                },
            ];
            for ev in &events {
                let e = to_jp1(ev, Timestamp::from_millis(i64::MAX), &config);
                proptest::prop_assert!(e.is_ok(), "{:?}", e);
                if let Ok(e) = e {
                    proptest::prop_assert!(e.message().len() <= crate::event::MAX_MESSAGE_BYTES);
                }
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
