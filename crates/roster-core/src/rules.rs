//! Directory rules that depend on state, as pure functions the store calls inside the
//! transaction that applies their outcome.

use crate::{DomainError, DomainName, Email, MemberState, Role};

/// Invitations expire after 14 days (spec §1).
pub const INVITATION_LIFETIME_MS: i64 = 14 * 24 * 60 * 60 * 1000;

/// J9: adding a seat-taking member or invitation to an organization whose limit is
/// reached is refused. `used` counts active members plus pending invitations.
pub fn check_seat_available(org_name: &str, seat_limit: Option<i64>, used: i64) -> Result<(), DomainError> {
    match seat_limit {
        Some(limit) if used >= limit => Err(DomainError::conflict(
            "seat_limit_reached",
            format!("Not enough seats in organization '{org_name}'. Add more seats or contact your administrator."),
        )),
        _ => Ok(()),
    }
}

/// A seat limit must leave room for the seats already taken.
pub fn check_seat_limit_change(new_limit: Option<i64>, used: i64) -> Result<(), DomainError> {
    match new_limit {
        Some(limit) if limit < 0 => Err(DomainError::invalid(
            "invalid_seat_limit",
            "seat_limit must be zero or more",
        )),
        Some(limit) if limit < used => Err(DomainError::conflict(
            "seat_limit_too_low",
            format!("seat_limit {limit} is below the {used} seats already taken"),
        )),
        _ => Ok(()),
    }
}

/// The state of one membership as far as owner protection cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerView {
    pub role: Role,
    pub state: MemberState,
}

impl OwnerView {
    fn is_active_owner(self) -> bool {
        self.role == Role::Owner && self.state == MemberState::Active
    }
}

/// Manual changes may not take away an organization's last active owner: demoting,
/// deactivating or removing them is refused. `after` is `None` for a removal.
pub fn check_last_owner(active_owners: i64, before: OwnerView, after: Option<OwnerView>) -> Result<(), DomainError> {
    let loses_owner = before.is_active_owner() && !after.is_some_and(OwnerView::is_active_owner);
    if loses_owner && active_owners <= 1 {
        return Err(DomainError::conflict(
            "last_owner",
            "This is the organization's last active owner. Make another member an owner first.",
        ));
    }
    Ok(())
}

/// T2, S6: a membership that goes from active to deactivated ends the user's sessions
/// for the company at once.
pub fn deactivation_ends_sessions(before: MemberState, after: MemberState) -> bool {
    before == MemberState::Active && after == MemberState::Deactivated
}

/// An account cannot be deleted while it is the last active owner of an organization
/// (`sole_owner_of`: those organizations' names).
pub fn check_account_deletion(email: &str, sole_owner_of: &[String]) -> Result<(), DomainError> {
    if sole_owner_of.is_empty() {
        return Ok(());
    }
    Err(DomainError::conflict(
        "last_owner",
        format!(
            "'{email}' is the last active owner of {}. Make another member an owner first.",
            sole_owner_of.join(", ")
        ),
    ))
}

/// A company proves it owns a domain; public mail domains belong to nobody's company.
pub fn check_company_domain(domain: &DomainName) -> Result<(), DomainError> {
    if domain.is_public_mail_domain() {
        return Err(DomainError::conflict(
            "public_domain",
            format!("'{domain}' is a public mail domain and cannot be verified by a company"),
        ));
    }
    Ok(())
}

/// What a connection's settings must satisfy on their own.
pub fn check_connection_settings(
    jit: bool,
    scim: bool,
    default_session_minutes: Option<i64>,
) -> Result<(), DomainError> {
    // J8: JIT can be turned off only while SCIM is on.
    if !jit && !scim {
        return Err(DomainError::conflict(
            "jit_requires_scim",
            "JIT provisioning can be turned off only while SCIM is on",
        ));
    }
    // T1: a session lasts a whole number of minutes greater than 0, at most 90 days.
    if default_session_minutes.is_some_and(|m| m <= 0 || m > crate::plan::MAX_SESSION_MINUTES) {
        return Err(DomainError::invalid(
            "invalid_session_minutes",
            "default_session_minutes must be a whole number from 1 to 129600 (90 days)",
        ));
    }
    Ok(())
}

/// A4: a connection serves only domains its company has verified.
pub fn check_connection_domain(domain: &DomainName, verified: bool, company: &str) -> Result<(), DomainError> {
    if verified {
        return Ok(());
    }
    Err(DomainError::conflict(
        "domain_not_verified",
        format!("domain '{domain}' is not a verified domain of company '{company}'"),
    ))
}

/// A connection serves only its own company's organizations.
pub fn check_connection_organization(
    organization: &str,
    organization_company_id: &str,
    company_id: &str,
    company: &str,
) -> Result<(), DomainError> {
    if organization_company_id == company_id {
        return Ok(());
    }
    Err(DomainError::conflict(
        "foreign_organization",
        format!("organization '{organization}' does not belong to company '{company}'"),
    ))
}

/// Username candidates for a new account: the email's local part reduced to
/// `[a-z0-9]`, then with the suffixes 1 to 9, then with six-digit suffixes spread by a
/// hash of the email. The store takes the first that is free.
///
/// Sequential suffixes alone chain collisions: `u1`'s fallbacks `u11`, `u12`, … are other
/// people's first choices, and with many similar addresses each new account would walk
/// ever longer chains. The spread suffixes make a free name a few probes away.
pub fn username_candidates(email: &Email) -> impl Iterator<Item = String> {
    let mut base: String = email
        .local_part()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .take(30)
        .collect();
    if base.len() < 2 {
        base.push_str("user");
    }
    // FNV-1a of the email: deterministic (tests stay exact), spread (no chains).
    let seed = email.key().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let first = base.clone();
    let short = base.clone();
    std::iter::once(first)
        .chain((1u64..=9).map(move |n| format!("{short}{n}")))
        .chain((0u64..).map(move |k| format!("{base}{:06}", seed.wrapping_add(k.wrapping_mul(7_919)) % 1_000_000)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t2_s6_only_deactivating_an_active_membership_ends_sessions() {
        use MemberState::{Active, Deactivated};
        let cases = [
            (Active, Deactivated, true),
            (Active, Active, false),
            (Deactivated, Deactivated, false),
            (Deactivated, Active, false),
        ];
        for (before, after, ends) in cases {
            assert_eq!(
                deactivation_ends_sessions(before, after),
                ends,
                "{before:?} → {after:?}"
            );
        }
    }

    #[test]
    fn the_last_owner_of_an_organization_cannot_be_deleted() {
        assert!(check_account_deletion("jo@acme.test", &[]).is_ok());
        let e = check_account_deletion("jo@acme.test", &["acme".into(), "beta".into()]).unwrap_err();
        assert_eq!(e.code, "last_owner");
        assert_eq!(
            e.message,
            "'jo@acme.test' is the last active owner of acme, beta. Make another member an owner first."
        );
    }

    #[test]
    fn public_mail_domains_are_refused_to_companies() {
        assert!(check_company_domain(&DomainName::parse("acme.example").unwrap()).is_ok());
        let e = check_company_domain(&DomainName::parse("gmail.com").unwrap()).unwrap_err();
        assert_eq!(e.code, "public_domain");
    }

    #[test]
    fn j8_jit_off_needs_scim_on_and_t1_sessions_last_minutes() {
        let cases: &[(bool, bool, Option<i64>, Option<&str>)] = &[
            (true, false, None, None),
            (false, true, None, None),
            (true, true, Some(1), None),
            (false, false, None, Some("jit_requires_scim")),
            (true, false, Some(0), Some("invalid_session_minutes")),
            (true, false, Some(-5), Some("invalid_session_minutes")),
            (true, false, Some(129_600), None),
            (true, false, Some(129_601), Some("invalid_session_minutes")),
        ];
        for (jit, scim, minutes, want) in cases {
            let got = check_connection_settings(*jit, *scim, *minutes).err().map(|e| e.code);
            assert_eq!(got, *want, "jit={jit} scim={scim} minutes={minutes:?}");
        }
        assert_eq!(
            check_connection_settings(true, false, Some(0)).unwrap_err().kind,
            crate::DomainErrorKind::Invalid
        );
    }

    #[test]
    fn a4_a_connection_serves_verified_domains_of_its_own_company_only() {
        let d = DomainName::parse("acme.example").unwrap();
        assert!(check_connection_domain(&d, true, "acme").is_ok());
        assert_eq!(
            check_connection_domain(&d, false, "acme").unwrap_err().message,
            "domain 'acme.example' is not a verified domain of company 'acme'"
        );
        assert!(check_connection_organization("eng", "co1", "co1", "acme").is_ok());
        assert_eq!(
            check_connection_organization("eng", "co2", "co1", "acme")
                .unwrap_err()
                .code,
            "foreign_organization"
        );
    }

    #[test]
    fn j9_seat_limit_blocks_at_capacity() {
        assert!(check_seat_available("acme", None, 1_000_000).is_ok());
        assert!(check_seat_available("acme", Some(3), 2).is_ok());
        let err = check_seat_available("acme", Some(3), 3).unwrap_err();
        assert_eq!(err.code, "seat_limit_reached");
        assert_eq!(
            err.message,
            "Not enough seats in organization 'acme'. Add more seats or contact your administrator."
        );
    }

    #[test]
    fn seat_limit_cannot_drop_below_use() {
        assert!(check_seat_limit_change(Some(5), 5).is_ok());
        assert_eq!(
            check_seat_limit_change(Some(4), 5).unwrap_err().code,
            "seat_limit_too_low"
        );
        assert_eq!(
            check_seat_limit_change(Some(-1), 0).unwrap_err().code,
            "invalid_seat_limit"
        );
    }

    #[test]
    fn last_owner_is_protected() {
        let owner = OwnerView {
            role: Role::Owner,
            state: MemberState::Active,
        };
        let member = OwnerView {
            role: Role::Member,
            state: MemberState::Active,
        };
        let off = OwnerView {
            role: Role::Owner,
            state: MemberState::Deactivated,
        };
        assert_eq!(check_last_owner(1, owner, Some(member)).unwrap_err().code, "last_owner");
        assert_eq!(check_last_owner(1, owner, None).unwrap_err().code, "last_owner");
        assert_eq!(check_last_owner(1, owner, Some(off)).unwrap_err().code, "last_owner");
        assert!(check_last_owner(2, owner, None).is_ok());
        assert!(check_last_owner(1, owner, Some(owner)).is_ok());
        assert!(check_last_owner(0, member, None).is_ok());
    }

    #[test]
    fn usernames_come_from_the_local_part() {
        let e = Email::parse("Jane.O'Neil@example.com").unwrap();
        let c: Vec<String> = username_candidates(&e).take(3).collect();
        assert_eq!(c, ["janeoneil", "janeoneil1", "janeoneil2"]);
        let short = Email::parse("x@example.com").unwrap();
        assert_eq!(username_candidates(&short).next().unwrap(), "xuser");
        // Past nine, suffixes spread: the 11th candidate has six digits.
        let c: Vec<String> = username_candidates(&e).take(12).collect();
        assert_eq!(c[9], "janeoneil9");
        assert!(c[10].len() == "janeoneil".len() + 6 && c[10] != c[11], "{c:?}");
    }
}
