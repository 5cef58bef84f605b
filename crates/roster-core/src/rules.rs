//! Directory rules that depend on state, as pure functions the store calls inside the
//! transaction that applies their outcome.

use crate::{DomainError, Email, MemberState, Role};

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
