//! How records map to columns, shared by both backends: the JSON columns, the account row and
//! a unit's server rows. No SQL here: each backend's queries live in its own module.

use vsm_core::model::{Server, Unit};
use vsm_core::{AccountName, Role, Timestamp};

use super::{StoreError, StoredAccount};

/// Maps a JSON error to [`StoreError::Corrupt`] naming `what`.
pub(super) fn corrupt(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Corrupt { what, source }
}

/// A JSON column's text.
pub(super) fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(corrupt(what))
}

/// A JSON column's value.
pub(super) fn from_json<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(corrupt(what))
}

/// An account from its columns (name, role, password hash, creation in milliseconds).
pub(super) fn to_account(
    name: String,
    role: String,
    password_hash: String,
    created_at: i64,
) -> Result<StoredAccount, StoreError> {
    let bad = |what: &str| StoreError::Corrupt {
        what: format!("account {name}: {what}"),
        source: serde::de::Error::custom("invalid value"),
    };
    Ok(StoredAccount {
        name: AccountName::new(name.clone()).map_err(|_| bad("name"))?,
        role: role.parse::<Role>().map_err(|_| bad("role"))?,
        password_hash,
        created_at: Timestamp::from_millis(created_at),
    })
}

/// A unit's own row: the unit without its servers (they are rows of their own).
pub(super) fn unit_meta_json(unit: &Unit) -> Result<String, StoreError> {
    let mut meta = unit.clone();
    for g in &mut meta.groups {
        g.servers.clear();
    }
    to_json("unit", &meta)
}

/// Fills `unit`'s groups from its server rows (`(group, json)`), each group in creation order
/// (sequence number, then name); a row of a group the unit no longer has is left out.
pub(super) fn attach_servers(
    unit: &mut Unit,
    rows: impl IntoIterator<Item = (String, String)>,
) -> Result<(), StoreError> {
    for g in &mut unit.groups {
        g.servers.clear();
    }
    for (grp, json) in rows {
        let server: Server = from_json(&format!("server of unit {}", unit.name), &json)?;
        if let Some(g) = unit.groups.iter_mut().find(|g| g.spec.name.as_str() == grp) {
            g.servers.push(server);
        }
    }
    for g in &mut unit.groups {
        g.servers
            .sort_by(|a, b| a.seq.cmp(&b.seq).then_with(|| a.name.cmp(&b.name)));
    }
    Ok(())
}
