//! Plans: what provisioning decided to do, as data. A planner (sign-in: [`crate::jit`];
//! SCIM: [`crate::scim_plan`]; Groups: [`crate::group_plan`]) turns facts and the
//! directory state they touch into a [`Plan`]; the store applies it in one transaction;
//! `preview` and `explain` show it.
//!
//! Each change kind carries exactly the data it needs, so a plan that could not be
//! applied (a team membership without a team, a sign-in that is both allowed and
//! denied) cannot be built. Every change carries its [`Cause`]: the spec rule and the
//! attribute value or state behind it, which the audit log records.

use crate::signin::Warning;
use crate::state::OrgState;
use crate::{Email, MemberState, Name, Role, Source};
use serde::Serialize;

pub use crate::jit::plan_sign_in;

/// Browser sessions without `dockerSessionMinutes` or a connection default (T1).
pub const DEFAULT_SESSION_MINUTES: i64 = 24 * 60;

/// The longest session T1 knows (long-lived client sessions: 90 days); a longer
/// `dockerSessionMinutes` or connection default is cut to it.
pub const MAX_SESSION_MINUTES: i64 = 90 * 24 * 60;

/// Why a change is made: the spec rule (`J2`, `G2`, …) and the value behind it, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub rule: &'static str,
    pub because: String,
}

impl Cause {
    pub fn new(rule: &'static str, because: impl Into<String>) -> Self {
        Self {
            rule,
            because: because.into(),
        }
    }
}

/// The organization a change touches: its id for the store, its name for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgRef {
    #[serde(skip)]
    pub id: String,
    #[serde(rename = "organization")]
    pub name: String,
}

impl From<&OrgState> for OrgRef {
    fn from(o: &OrgState) -> Self {
        Self {
            id: o.id.clone(),
            name: o.name.clone(),
        }
    }
}

/// The account a plan works on. Every other change needs one, so it comes first and
/// separately: a change can never precede the account it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// J2, J8, S5: no account has this email yet; one is created.
    Create(Cause),
    /// The existing account, its profile unchanged.
    Existing { user_id: String },
    /// J5, S3: the existing account, with the full name the IdP sent.
    Rename { user_id: String, cause: Cause },
}

impl Account {
    /// The existing account's id; `None` when the plan creates it.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Self::Create(_) => None,
            Self::Existing { user_id } | Self::Rename { user_id, .. } => Some(user_id),
        }
    }
}

/// One change a plan makes, after its [`Account`] step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// J3: a pending invitation is accepted.
    AcceptInvitation {
        #[serde(flatten)]
        org: OrgRef,
        #[serde(skip)]
        invitation_id: String,
        #[serde(flatten)]
        cause: Cause,
    },
    /// J3, J4, G2, S5, G4: a new membership (J6: the role is set only here).
    AddMembership {
        #[serde(flatten)]
        org: OrgRef,
        role: Role,
        /// Deactivated when SCIM creates the user inactive, or G4 adds someone the
        /// connection deactivated (S6): it takes no seat (J9).
        #[serde(skip_serializing_if = "MemberState::is_active")]
        state: MemberState,
        #[serde(skip)]
        source: Source,
        #[serde(flatten)]
        cause: Cause,
    },
    /// G2, J4, G4: teams are created on demand.
    CreateTeam {
        #[serde(flatten)]
        org: OrgRef,
        team: Name,
        #[serde(flatten)]
        cause: Cause,
    },
    /// The member joins a team of an organization they are (or just became) a member of.
    AddTeamMembership {
        #[serde(flatten)]
        org: OrgRef,
        team: Name,
        #[serde(skip)]
        source: Source,
        #[serde(flatten)]
        cause: Cause,
    },
    /// G4: a removal from a Group takes the member out of that team only.
    RemoveTeamMembership {
        #[serde(flatten)]
        org: OrgRef,
        team: Name,
        #[serde(flatten)]
        cause: Cause,
    },
    /// S4, S5: the account is linked to the connection's SCIM User.
    LinkAccount(Cause),
    /// S6: a SCIM DELETE removes the link; the global account stays.
    UnlinkAccount(Cause),
    /// S5: SCIM changes the role.
    SetRole {
        #[serde(flatten)]
        org: OrgRef,
        role: Role,
        #[serde(flatten)]
        cause: Cause,
    },
    /// S6: `active=false`.
    Deactivate {
        #[serde(flatten)]
        org: OrgRef,
        #[serde(flatten)]
        cause: Cause,
    },
    /// S6: `active=true`.
    Reactivate {
        #[serde(flatten)]
        org: OrgRef,
        #[serde(flatten)]
        cause: Cause,
    },
    /// S6, T2: the user's sessions for the company end at once.
    EndSessions(Cause),
}

impl Change {
    pub fn cause(&self) -> &Cause {
        match self {
            Self::AcceptInvitation { cause, .. }
            | Self::AddMembership { cause, .. }
            | Self::CreateTeam { cause, .. }
            | Self::AddTeamMembership { cause, .. }
            | Self::RemoveTeamMembership { cause, .. }
            | Self::SetRole { cause, .. }
            | Self::Deactivate { cause, .. }
            | Self::Reactivate { cause, .. } => cause,
            Self::LinkAccount(cause) | Self::UnlinkAccount(cause) | Self::EndSessions(cause) => cause,
        }
    }
    /// The organization it touches, if any.
    pub fn org(&self) -> Option<&OrgRef> {
        match self {
            Self::AcceptInvitation { org, .. }
            | Self::AddMembership { org, .. }
            | Self::CreateTeam { org, .. }
            | Self::AddTeamMembership { org, .. }
            | Self::RemoveTeamMembership { org, .. }
            | Self::SetRole { org, .. }
            | Self::Deactivate { org, .. }
            | Self::Reactivate { org, .. } => Some(org),
            Self::LinkAccount(_) | Self::UnlinkAccount(_) | Self::EndSessions(_) => None,
        }
    }
}

/// Who a plan is about: the profile the IdP sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub email: Email,
    pub full_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// The changes provisioning makes for one person, in order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub subject: Subject,
    pub account: Account,
    pub changes: Vec<Change>,
    pub warnings: Vec<Warning>,
}

impl Plan {
    /// The account step (when it changes anything) followed by the changes, as the
    /// preview lists them: `{"kind", "organization"?, "team"?, "role"?, "rule", "because"}`.
    pub fn steps(&self) -> Vec<Step> {
        let account = match &self.account {
            Account::Create(cause) => Some(AccountStep::CreateUser(cause.clone())),
            Account::Rename { cause, .. } => Some(AccountStep::UpdateName(cause.clone())),
            Account::Existing { .. } => None,
        };
        account
            .map(Step::Account)
            .into_iter()
            .chain(self.changes.iter().cloned().map(Step::Change))
            .collect()
    }
}

/// One entry of [`Plan::steps`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Step {
    Account(AccountStep),
    Change(Change),
}

/// The account step of a plan, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AccountStep {
    CreateUser(Cause),
    UpdateName(Cause),
}

/// The session a successful sign-in gets (T1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionPlan {
    pub minutes: i64,
    pub rule: &'static str,
    pub because: String,
}

impl SessionPlan {
    /// When a session started at `now` (Unix milliseconds) ends: after its minutes, and
    /// never past the end the IdP set for it (SAML `SessionNotOnOrAfter`).
    pub fn expires_at(&self, now: i64, idp_not_after: Option<i64>) -> i64 {
        let end = now.saturating_add(self.minutes.saturating_mul(60_000));
        idp_not_after.map_or(end, |cap| end.min(cap))
    }
}

/// An allowed sign-in: its changes and its session.
#[derive(Debug, Clone)]
pub struct SignInPlan {
    pub plan: Plan,
    pub session: SessionPlan,
}

/// A refused sign-in changes nothing (J2 deviation, J10).
#[derive(Debug, Clone)]
pub struct Denied {
    pub denial: Denial,
    pub subject: Subject,
    pub user_exists: bool,
    pub warnings: Vec<Warning>,
}

/// What the sign-in planner decided.
#[derive(Debug, Clone)]
pub enum SignIn {
    Allowed(SignInPlan),
    Denied(Denied),
}

/// Why a sign-in is refused: a stable code and the plain message the person sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    pub code: &'static str,
    pub message: String,
    /// The spec's message ends with "TraceID: <id>".
    #[serde(skip)]
    pub with_trace: bool,
}

impl Denial {
    pub fn new(code: &'static str, message: impl Into<String>, with_trace: bool) -> Self {
        Self {
            code,
            message: message.into(),
            with_trace,
        }
    }
    /// The message as shown to the person signing in.
    pub fn render(&self, trace_id: &str) -> String {
        if self.with_trace {
            format!("{} TraceID: {trace_id}", self.message)
        } else {
            self.message.clone()
        }
    }
}

/// What kind of refusal a SCIM-side plan met: each protocol says it its own way (the
/// server maps each kind once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The object exists already (SCIM `uniqueness`).
    Exists,
    /// A value the rules cannot take (SCIM `invalidValue`).
    InvalidValue,
    /// The object is not this connection's to change.
    NotProvisioned,
    /// The directory's state does not allow it now (seats, an incomplete connection).
    Conflict,
}

/// A change the directory refuses, with a plain detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub detail: String,
}

impl Refusal {
    pub fn new(kind: RefusalKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}
