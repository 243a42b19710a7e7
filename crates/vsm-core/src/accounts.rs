//! Accounts, roles and the authorization policy.
//!
//! Answers "may account A do action X on an object owned by B" for every operation of the
//! product ([`Action`] lists them all) and "may this account be deleted". It knows nothing of
//! passwords, sessions or storage: those belong to the manager, which looks the owner up and
//! passes it in.
//!
//! # Policy
//! - An administrator may do everything.
//! - A system builder may act only on objects it owns: its units (and their groups, servers and
//!   operations), its templates, its own account (password change).
//! - Managing the manager, managing accounts, changing a unit's owner and listing every owner's
//!   units are administrator-only.
//! - Creating units, registering templates, listing one's own things and reading the JP1 log-trap
//!   definition are open to every account (the manager filters lists with [`may_see`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::{AccountName, UnitName};

/// The role of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Operates the manager: accounts, ownership, backups, logs; may act on every unit.
    Administrator,
    /// A system builder: owns units and templates and acts only on those.
    Builder,
}

impl Role {
    /// The role's word on the command line (`admin` or `builder`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "admin",
            Role::Builder => "builder",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused role word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: use `admin` or `builder`")]
pub struct RoleParseError(pub String);

impl std::str::FromStr for Role {
    type Err = RoleParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" | "administrator" => Ok(Role::Administrator),
            "builder" => Ok(Role::Builder),
            other => Err(RoleParseError(other.to_owned())),
        }
    }
}

/// An account as the policy sees it: a name and a role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Account {
    /// The account's name.
    pub name: AccountName,
    /// The account's role.
    pub role: Role,
}

impl Account {
    /// An account with the given name and role.
    pub fn new(name: AccountName, role: Role) -> Self {
        Account { name, role }
    }

    /// Whether this account is an administrator.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Administrator
    }
}

/// What an [`Action`] is done to, which decides what the `owner` argument of [`authorize`] means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// The manager itself; no owner.
    Manager,
    /// An account; the "owner" is the account acted on.
    Account,
    /// A template; the owner is the account that registered it.
    Template,
    /// A unit, or a group, server or operation of it; the owner is the unit's owner.
    Unit,
    /// Nothing owned: creating things, or lists the manager filters per account.
    Open,
}

macro_rules! actions {
    ($( $(#[$doc:meta])* $variant:ident => $word:literal, $scope:ident, $admin:literal; )*) => {
        /// Every operation of the product, as the policy sees it (one per command of SPEC.md).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum Action {
            $( $(#[$doc])* $variant, )*
        }

        impl Action {
            /// Every action, in declaration order.
            pub const ALL: &'static [Action] = &[ $( Action::$variant, )* ];

            /// The command words, e.g. `unit start`.
            pub fn as_str(self) -> &'static str {
                match self { $( Action::$variant => $word, )* }
            }

            /// What the action is done to.
            pub fn scope(self) -> Scope {
                match self { $( Action::$variant => Scope::$scope, )* }
            }

            /// Whether only administrators may do it, whoever owns the object.
            pub fn admin_only(self) -> bool {
                match self { $( Action::$variant => $admin, )* }
            }
        }
    };
}

actions! {
    /// `vsm manager status`.
    ManagerStatus => "manager status", Manager, true;
    /// `vsm manager stop`.
    ManagerStop => "manager stop", Manager, true;
    /// `vsm manager backup`.
    ManagerBackup => "manager backup", Manager, true;
    /// `vsm manager restore`.
    ManagerRestore => "manager restore", Manager, true;
    /// `vsm manager diagnose`.
    ManagerDiagnose => "manager diagnose", Manager, true;
    /// `vsm manager log-config` without changes.
    ManagerLogConfigShow => "manager log-config", Manager, true;
    /// `vsm manager log-config` with changes.
    ManagerLogConfigChange => "manager log-config change", Manager, true;
    /// Removing the operating environment (A4).
    ManagerUninstall => "manager uninstall", Manager, true;
    /// `vsm account add`.
    AccountAdd => "account add", Account, true;
    /// `vsm account delete` (see also [`check_account_delete`]).
    AccountDelete => "account delete", Account, true;
    /// `vsm account list`.
    AccountList => "account list", Account, true;
    /// `vsm account passwd`: an administrator for anyone, everyone for itself.
    AccountPasswd => "account passwd", Account, false;
    /// `vsm template register`.
    TemplateRegister => "template register", Open, false;
    /// `vsm template update` (a new generation).
    TemplateUpdate => "template update", Template, false;
    /// `vsm template list` (everyone sees every template: units may use any).
    TemplateList => "template list", Open, false;
    /// `vsm template show`.
    TemplateShow => "template show", Open, false;
    /// `vsm template delete`.
    TemplateDelete => "template delete", Template, false;
    /// `vsm unit create` (the caller becomes the owner).
    UnitCreate => "unit create", Open, false;
    /// `vsm unit list` (own units).
    UnitList => "unit list", Open, false;
    /// `vsm unit list --all` (every owner's units).
    UnitListAll => "unit list --all", Manager, true;
    /// `vsm unit show`.
    UnitShow => "unit show", Unit, false;
    /// `vsm unit chown`.
    UnitChown => "unit chown", Unit, true;
    /// `vsm unit import`.
    UnitImport => "unit import", Unit, false;
    /// `vsm unit export`.
    UnitExport => "unit export", Unit, false;
    /// `vsm unit diff`.
    UnitDiff => "unit diff", Unit, false;
    /// `vsm unit apply`.
    UnitApply => "unit apply", Unit, false;
    /// `vsm unit rollback`.
    UnitRollback => "unit rollback", Unit, false;
    /// `vsm unit start`.
    UnitStart => "unit start", Unit, false;
    /// `vsm unit stop`.
    UnitStop => "unit stop", Unit, false;
    /// `vsm unit scale`.
    UnitScale => "unit scale", Unit, false;
    /// `vsm unit upgrade`.
    UnitUpgrade => "unit upgrade", Unit, false;
    /// `vsm unit delete`.
    UnitDelete => "unit delete", Unit, false;
    /// `vsm group start`.
    GroupStart => "group start", Unit, false;
    /// `vsm group stop`.
    GroupStop => "group stop", Unit, false;
    /// `vsm group attach`.
    GroupAttach => "group attach", Unit, false;
    /// `vsm group detach`.
    GroupDetach => "group detach", Unit, false;
    /// `vsm server logs`.
    ServerLogs => "server logs", Unit, false;
    /// `vsm server recover`.
    ServerRecover => "server recover", Unit, false;
    /// `vsm server mark`.
    ServerMark => "server mark", Unit, false;
    /// `vsm server unmark`.
    ServerUnmark => "server unmark", Unit, false;
    /// `vsm op list` (filtered to the units the caller may see).
    OpList => "op list", Open, false;
    /// `vsm op show` of an operation on a unit (owner = the unit's owner; none = administrator-only).
    OpShow => "op show", Unit, false;
    /// `vsm op cancel` (owner = the unit's owner; none = administrator-only).
    OpCancel => "op cancel", Unit, false;
    /// `vsm jp1 ajs-jobnet --unit`.
    Jp1AjsJobnet => "jp1 ajs-jobnet", Unit, false;
    /// `vsm jp1 logtrap-config`.
    Jp1LogtrapConfig => "jp1 logtrap-config", Open, false;
    /// `vsm jp1 pfm-export` (filtered to the units the caller may see).
    Jp1PfmExport => "jp1 pfm-export", Open, false;
    /// `vsm host add`.
    HostAdd => "host add", Manager, true;
    /// `vsm host list`.
    HostList => "host list", Manager, true;
    /// `vsm host show`.
    HostShow => "host show", Manager, true;
    /// `vsm host remove`.
    HostRemove => "host remove", Manager, true;
    /// `vsm host drain`.
    HostDrain => "host drain", Manager, true;
    /// `vsm host undrain`.
    HostUndrain => "host undrain", Manager, true;
    /// `vsm host confirm-down`.
    HostConfirmDown => "host confirm-down", Manager, true;
    /// `vsm host rebalance`.
    HostRebalance => "host rebalance", Manager, true;
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// Only administrators may do this.
    AdminOnly,
    /// The object belongs to another account.
    NotOwner {
        /// Its owner.
        owner: AccountName,
    },
    /// The object has no owner a builder could match (e.g. an operation on no unit).
    NoOwner,
}

/// A refused action: who, what and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("account {actor} ({role}) may not `{action}`: {}", match reason {
    DenyReason::AdminOnly => "only an administrator may do that".to_owned(),
    DenyReason::NotOwner { owner } => format!("it belongs to account {owner}; ask its owner or an administrator"),
    DenyReason::NoOwner => "only an administrator may act on objects that belong to no unit".to_owned(),
})]
#[non_exhaustive]
pub struct Denied {
    /// The refused account.
    pub actor: AccountName,
    /// Its role.
    pub role: Role,
    /// The refused action.
    pub action: Action,
    /// Why.
    pub reason: DenyReason,
}

/// Decides whether `actor` may do `action`.
///
/// `owner` is the account that owns the object acted on: the unit's owner for unit, group,
/// server, operation and `jp1 ajs-jobnet` actions; the template's owner for template update and
/// delete; the account acted on for account actions. It is ignored for [`Scope::Open`] and
/// [`Scope::Manager`] actions.
pub fn authorize(
    actor: &Account,
    action: Action,
    owner: Option<&AccountName>,
) -> Result<(), Denied> {
    if actor.is_admin() {
        return Ok(());
    }
    let deny = |reason| {
        Err(Denied {
            actor: actor.name.clone(),
            role: actor.role,
            action,
            reason,
        })
    };
    if action.admin_only() {
        return deny(DenyReason::AdminOnly);
    }
    match action.scope() {
        Scope::Open => Ok(()),
        Scope::Manager => deny(DenyReason::AdminOnly),
        Scope::Account | Scope::Template | Scope::Unit => match owner {
            Some(owner) if *owner == actor.name => Ok(()),
            Some(owner) => deny(DenyReason::NotOwner {
                owner: owner.clone(),
            }),
            None => deny(DenyReason::NoOwner),
        },
    }
}

/// Whether `actor` may see an object owned by `owner` in a list (units, operations, PFM data).
pub fn may_see(actor: &Account, owner: &AccountName) -> bool {
    actor.is_admin() || actor.name == *owner
}

/// Why an account cannot be deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountDeleteError {
    /// The account still owns units.
    #[error(
        "account {account} still owns units {}; move them first with `vsm unit chown UNIT --to ACCOUNT`",
        units.iter().map(UnitName::as_str).collect::<Vec<_>>().join(", ")
    )]
    OwnsUnits {
        /// The account.
        account: AccountName,
        /// The units it owns.
        units: Vec<UnitName>,
    },
    /// The account is the last administrator.
    #[error("account {0} is the last administrator; add another administrator first")]
    LastAdministrator(AccountName),
    /// The actor tried to delete itself.
    #[error("account {0} cannot delete itself; log in as another administrator")]
    Itself(AccountName),
}

/// Checks that `target` may be deleted by `actor` (after [`authorize`] with
/// [`Action::AccountDelete`]): it owns none of the units in `owned_units`, is not the actor, and
/// is not the last of `admin_count` administrators.
pub fn check_account_delete(
    actor: &Account,
    target: &Account,
    owned_units: &[UnitName],
    admin_count: usize,
) -> Result<(), AccountDeleteError> {
    if actor.name == target.name {
        return Err(AccountDeleteError::Itself(target.name.clone()));
    }
    if !owned_units.is_empty() {
        let mut units = owned_units.to_vec();
        units.sort();
        return Err(AccountDeleteError::OwnsUnits {
            account: target.name.clone(),
            units,
        });
    }
    if target.is_admin() && admin_count <= 1 {
        return Err(AccountDeleteError::LastAdministrator(target.name.clone()));
    }
    Ok(())
}

#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    //! proptest generators for accounts and actions (test-only).
    use super::*;
    use proptest::prelude::*;

    impl Arbitrary for Role {
        type Parameters = ();
        type Strategy = BoxedStrategy<Role>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            prop_oneof![Just(Role::Administrator), Just(Role::Builder)].boxed()
        }
    }

    impl Arbitrary for Action {
        type Parameters = ();
        type Strategy = BoxedStrategy<Action>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            proptest::sample::select(Action::ALL).boxed()
        }
    }

    impl Arbitrary for Account {
        type Parameters = ();
        type Strategy = BoxedStrategy<Account>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            (any::<AccountName>(), any::<Role>())
                .prop_map(|(name, role)| Account { name, role })
                .boxed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn acct(name: &str, role: Role) -> Account {
        Account::new(AccountName::new(name).expect("valid"), role)
    }

    fn check(actor: &Account, action: Action, owner: Option<&str>, expect: &str) {
        let owner = owner.map(|o| AccountName::new(o).expect("valid"));
        let got = match authorize(actor, action, owner.as_ref()) {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect, "{action}");
    }

    #[test]
    fn builders_act_on_their_own_units_only() {
        let alice = acct("alice", Role::Builder);
        check(&alice, Action::UnitStart, Some("alice"), "ok");
        check(
            &alice,
            Action::UnitStart,
            Some("bob"),
            "account alice (builder) may not `unit start`: it belongs to account bob; ask its owner or an administrator",
        );
        check(
            &alice,
            Action::UnitChown,
            Some("alice"),
            "account alice (builder) may not `unit chown`: only an administrator may do that",
        );
        check(
            &alice,
            Action::OpCancel,
            None,
            "account alice (builder) may not `op cancel`: only an administrator may act on objects that belong to no unit",
        );
        check(&alice, Action::UnitCreate, None, "ok");
        check(&alice, Action::AccountPasswd, Some("alice"), "ok");
        check(
            &alice,
            Action::ManagerBackup,
            None,
            "account alice (builder) may not `manager backup`: only an administrator may do that",
        );
        check(
            &alice,
            Action::UnitListAll,
            None,
            "account alice (builder) may not `unit list --all`: only an administrator may do that",
        );
    }

    #[test]
    fn administrators_do_everything() {
        let root = acct("root", Role::Administrator);
        for &a in Action::ALL {
            check(&root, a, Some("bob"), "ok");
            check(&root, a, None, "ok");
        }
    }

    #[test]
    fn account_deletion_rules() {
        let admin = acct("root", Role::Administrator);
        let alice = acct("alice", Role::Builder);
        let shop = UnitName::new("shop").expect("valid");
        let err = check_account_delete(&admin, &alice, &[shop], 1).expect_err("owns");
        assert_eq!(
            err.to_string(),
            "account alice still owns units shop; move them first with `vsm unit chown UNIT --to ACCOUNT`"
        );
        assert!(check_account_delete(&admin, &alice, &[], 1).is_ok());
        assert!(matches!(
            check_account_delete(&admin, &admin, &[], 2),
            Err(AccountDeleteError::Itself(_))
        ));
        let other = acct("other", Role::Administrator);
        assert!(matches!(
            check_account_delete(&admin, &other, &[], 1),
            Err(AccountDeleteError::LastAdministrator(_))
        ));
        assert!(check_account_delete(&admin, &other, &[], 2).is_ok());
    }

    #[test]
    fn action_words_are_unique() {
        let mut words: Vec<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
        words.sort_unstable();
        let n = words.len();
        words.dedup();
        assert_eq!(words.len(), n);
        assert_eq!("admin".parse::<Role>(), Ok(Role::Administrator));
        assert!("root".parse::<Role>().is_err());
    }

    proptest! {
        #[test]
        fn a_builder_never_touches_another_accounts_objects(
            actor in any::<AccountName>(),
            owner in any::<AccountName>(),
            action in any::<Action>(),
        ) {
            let builder = Account::new(actor, Role::Builder);
            let result = authorize(&builder, action, Some(&owner));
            if owner != builder.name {
                let allowed = result.is_ok();
                prop_assert!(!allowed || action.scope() == Scope::Open,
                    "{} allowed on {}'s object", action, owner);
            }
            if action.admin_only() {
                prop_assert!(authorize(&builder, action, Some(&builder.name)).is_err());
            }
        }
    }
}
