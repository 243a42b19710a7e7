//! Accounts and sessions: logging in (rate-limited per account, audited), session tokens, and
//! the administrator's account commands.

use std::collections::HashMap;

use vsm_core::{AccountName, Action, Role, Timestamp, UnitName};

use super::Manager;
use crate::api::{AccountInfo, Actor, AddAccount, Password, Session};
use crate::auth;
use crate::clock::now;
use crate::error::{Entity, Error, Result};
use crate::store::{Change, StoreError, StoredAccount, StoredSession};

impl Manager {
    /// Checks a name and password; failed attempts are audited and rate-limited per account.
    ///
    /// An attempt counts against the account's limit when it arrives (and stops counting if
    /// the password was right), so guesses sent at once cannot pass the limit together.
    pub async fn authenticate(&self, name: &AccountName, password: &Password) -> Result<Actor> {
        let limit = self.settings().auth.max_failed_logins_per_minute as usize;
        let t = now();
        // Whether this attempt filled the account's budget: its failure starts the lock-out.
        let fills_budget = {
            let mut attempts = self.login_attempts();
            let list = attempts.entry(name.clone()).or_default();
            list.retain(|at| t.millis_since(*at) < 60_000);
            if limit > 0 && list.len() >= limit {
                return Err(Error::Unauthenticated(
                    "too many failed logins for this account; wait a minute and try again".into(),
                ));
            }
            list.push(t);
            limit > 0 && list.len() == limit
        };
        let n = name.clone();
        let account = self.db(move |s| s.account(&n)).await?;
        let pw = password.expose().to_owned();
        // An unknown account costs the same as a wrong password (checked against a hash of
        // the same cost), so the answer time does not tell which accounts exist.
        let hash = match &account {
            Some(a) => a.password_hash.clone(),
            None => self.dummy_hash(),
        };
        let verified = tokio::task::spawn_blocking(move || auth::verify_password(&pw, &hash))
            .await
            .unwrap_or(false);
        let ok = account.is_some() && verified;
        match (account, ok) {
            (Some(a), true) => {
                // A right password gives its slot back.
                if let Some(list) = self.login_attempts().get_mut(name)
                    && let Some(i) = list.iter().rposition(|at| *at == t)
                {
                    list.remove(i);
                }
                self.write_audit(vec![Self::audit_entry(None, "login", name, "ok")])
                    .await?;
                Ok(Actor {
                    account: a.name,
                    role: a.role,
                })
            }
            _ => {
                let mut audit = vec![Self::audit_entry(None, "login", name, "failed")];
                if fills_budget {
                    // Once per lock-out: the refusals during it are not written one by one.
                    audit.push(Self::audit_entry(
                        None,
                        "login lock-out",
                        name,
                        "account locked for a minute after too many failed logins",
                    ));
                }
                self.write_audit(audit).await?;
                self.jp1_event(&vsm_jp1::VsmEvent::LoginFailed {
                    account: name.clone(),
                    source: None,
                });
                Err(Error::Unauthenticated(
                    "wrong account name or password".into(),
                ))
            }
        }
    }

    /// Writes audit records of a read-only request; a standby (several managers on one
    /// PostgreSQL database) cannot write and answers the request anyway, logging the record.
    async fn write_audit(&self, audit: Vec<crate::store::Change>) -> Result<()> {
        match self.write(audit.clone()).await {
            Err(Error::NotLeader { .. }) => {
                for change in audit {
                    if let crate::store::Change::Audit(a) = change {
                        tracing::info!(action = %a.action, target = %a.target, result = %a.result, "audit (on a standby: not stored)");
                    }
                }
                Ok(())
            }
            other => other,
        }
    }

    /// Login attempts per account within the last minute (see [`Manager::authenticate`]).
    fn login_attempts(&self) -> std::sync::MutexGuard<'_, HashMap<AccountName, Vec<Timestamp>>> {
        self.inner
            .login_attempts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// A password hash of this manager's cost that no password was ever set to (made once).
    fn dummy_hash(&self) -> String {
        let cost = self.inner.config.password_cost;
        self.inner
            .dummy_hash
            .get_or_init(|| auth::hash_password(&auth::new_token(), cost).unwrap_or_default())
            .clone()
    }

    /// Creates a session for an authenticated actor: a random token, stored hashed, expiring
    /// after `auth.session_ttl_secs`.
    pub async fn create_session(&self, actor: &Actor) -> Result<Session> {
        let token = auth::new_token();
        let created = now();
        let ttl = self.settings().auth.session_ttl_secs as i64 * 1000;
        let expires_at = created.saturating_add_millis(ttl);
        self.write(vec![
            Change::PurgeSessions(created),
            Change::InsertSession(StoredSession {
                token_hash: auth::token_digest(&token),
                account: actor.account.clone(),
                created_at: created,
                expires_at,
            }),
        ])
        .await?;
        Ok(Session {
            token,
            account: actor.account.clone(),
            role: actor.role,
            expires_at,
        })
    }

    /// [`Manager::authenticate`] then [`Manager::create_session`].
    pub async fn login(&self, name: &AccountName, password: &Password) -> Result<Session> {
        let actor = self.authenticate(name, password).await?;
        self.create_session(&actor).await
    }

    /// The actor of a session token (unknown or expired tokens are refused). Every API
    /// request asks: a session read since the last change of any account or session is
    /// answered from memory (its expiry still checked on every call).
    pub async fn actor_for_token(&self, token: &str) -> Result<Actor> {
        let digest = auth::token_digest(token);
        // The revision first: what is read after it is at least as new.
        let rev = self.revisions().accounts();
        if let Some((actor, expires_at)) = self.session_cache().get(&digest, rev) {
            if expires_at <= now() {
                return Err(Error::Unauthenticated(
                    "the session expired; log in again".into(),
                ));
            }
            return Ok(actor);
        }
        let actor = self.actor_from_store(digest.clone()).await?;
        self.session_cache().put(digest, rev, actor.clone());
        Ok(actor.0)
    }

    fn session_cache(&self) -> std::sync::MutexGuard<'_, SessionCache> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The actor of a session as the store has it, with the session's expiry.
    async fn actor_from_store(&self, digest: String) -> Result<(Actor, Timestamp)> {
        let session = self.db(move |s| s.session(&digest)).await?;
        let Some(session) = session else {
            return Err(Error::Unauthenticated(
                "unknown session; log in again".into(),
            ));
        };
        if session.expires_at <= now() {
            return Err(Error::Unauthenticated(
                "the session expired; log in again".into(),
            ));
        }
        let name = session.account.clone();
        let account = self
            .db(move |s| s.account(&name))
            .await?
            .ok_or_else(|| Error::Unauthenticated("the account was deleted".into()))?;
        Ok((
            Actor {
                account: account.name,
                role: account.role,
            },
            session.expires_at,
        ))
    }

    /// Ends a session (`vsm logout`).
    pub async fn delete_session(&self, token: &str) -> Result<()> {
        self.write(vec![Change::DeleteSession(auth::token_digest(token))])
            .await
    }

    /// `vsm account add` (administrator).
    pub async fn add_account(&self, actor: &Actor, req: AddAccount) -> Result<AccountInfo> {
        self.authorize(actor, Action::AccountAdd, None, req.name.as_str())
            .await?;
        auth::check_password(req.password.expose())
            .map_err(|m| Error::data("password", None, None, m))?;
        let cost = self.inner.config.password_cost;
        let pw = req.password.expose().to_owned();
        let hash = tokio::task::spawn_blocking(move || auth::hash_password(&pw, cost))
            .await
            .map_err(|e| Error::failed("hashing task failed", e))?
            .map_err(Error::failed_msg)?;
        let created_at = now();
        let res = self
            .write(vec![
                Change::InsertAccount(StoredAccount {
                    name: req.name.clone(),
                    role: req.role,
                    password_hash: hash,
                    created_at,
                }),
                Self::audit_entry(Some(actor), "account add", &req.name, "ok"),
            ])
            .await;
        match res {
            Err(Error::Store(StoreError::Conflict(_))) => Err(Error::invalid_with_hint(
                format!("account {} already exists", req.name),
                "choose another name, or change its password with `vsm account passwd`",
            )),
            Err(e) => Err(e),
            Ok(()) => Ok(AccountInfo {
                name: req.name,
                role: req.role,
                created_at,
                units: vec![],
            }),
        }
    }

    /// `vsm account delete` (administrator; refused while it owns units, for the last
    /// administrator, and for oneself).
    pub async fn delete_account(&self, actor: &Actor, name: &AccountName) -> Result<()> {
        let n = name.clone();
        let target = self
            .db(move |s| s.account(&n))
            .await?
            .ok_or_else(|| Error::not_found(Entity::Account, name))?;
        self.authorize(actor, Action::AccountDelete, Some(name), name.as_str())
            .await?;
        let (owned, admins) = self.db(|s| Ok((s.units()?, s.accounts()?))).await?;
        let owned: Vec<UnitName> = owned
            .into_iter()
            .filter(|u| u.owner == *name)
            .map(|u| u.name)
            .collect();
        let admin_count = admins
            .iter()
            .filter(|a| a.role == Role::Administrator)
            .count();
        vsm_core::check_account_delete(
            &actor.as_account(),
            &vsm_core::Account::new(target.name.clone(), target.role),
            &owned,
            admin_count,
        )
        .map_err(|e| Error::invalid(e.to_string()))?;
        self.write(vec![
            Change::DeleteSessionsOf(name.clone()),
            Change::DeleteAccount(name.clone()),
            Self::audit_entry(Some(actor), "account delete", name, "ok"),
        ])
        .await
    }

    /// `vsm account list` (administrator).
    pub async fn list_accounts(&self, actor: &Actor) -> Result<Vec<AccountInfo>> {
        self.authorize(actor, Action::AccountList, None, "accounts")
            .await?;
        let (accounts, units) = self.db(|s| Ok((s.accounts()?, s.units()?))).await?;
        Ok(accounts
            .into_iter()
            .map(|a| AccountInfo {
                units: units
                    .iter()
                    .filter(|u| u.owner == a.name)
                    .map(|u| u.name.clone())
                    .collect(),
                name: a.name,
                role: a.role,
                created_at: a.created_at,
            })
            .collect())
    }

    /// `vsm account passwd` (an administrator for anyone, everyone for itself). Ends the
    /// account's other sessions.
    pub async fn set_password(
        &self,
        actor: &Actor,
        name: &AccountName,
        password: &Password,
    ) -> Result<()> {
        self.authorize(actor, Action::AccountPasswd, Some(name), name.as_str())
            .await?;
        let n = name.clone();
        self.db(move |s| s.account(&n))
            .await?
            .ok_or_else(|| Error::not_found(Entity::Account, name))?;
        auth::check_password(password.expose())
            .map_err(|m| Error::data("password", None, None, m))?;
        let cost = self.inner.config.password_cost;
        let pw = password.expose().to_owned();
        let hash = tokio::task::spawn_blocking(move || auth::hash_password(&pw, cost))
            .await
            .map_err(|e| Error::failed("hashing task failed", e))?
            .map_err(Error::failed_msg)?;
        self.write(vec![
            Change::SetPasswordHash {
                account: name.clone(),
                hash,
            },
            Change::DeleteSessionsOf(name.clone()),
            Self::audit_entry(Some(actor), "account passwd", name, "ok"),
        ])
        .await
    }
}

/// The sessions [`Manager::actor_for_token`] has looked up, by token digest, each with the
/// accounts' revision it was read at; an entry of an older revision is never used. Bounded:
/// it is emptied when full.
#[derive(Debug, Default)]
pub(crate) struct SessionCache {
    entries: HashMap<String, (u64, Actor, Timestamp)>,
}

impl SessionCache {
    /// The most sessions kept.
    const MAX: usize = 10_000;

    /// The actor and expiry of `digest`, if read at revision `rev`.
    fn get(&self, digest: &str, rev: u64) -> Option<(Actor, Timestamp)> {
        self.entries
            .get(digest)
            .filter(|(at, _, _)| *at == rev)
            .map(|(_, actor, expires)| (actor.clone(), *expires))
    }

    fn put(&mut self, digest: String, rev: u64, (actor, expires): (Actor, Timestamp)) {
        if self.entries.len() >= Self::MAX {
            self.entries.clear();
        }
        self.entries.insert(digest, (rev, actor, expires));
    }
}
