//! The claims of a verified ID token, completed by userinfo, and what they say about the
//! email address and the groups.

use crate::OidcError;
use serde_json::{Map, Value};

/// Userinfo's claims merged under the ID token's: the ID token wins where both have a
/// claim, userinfo adds what the ID token lacks (some providers put `groups` or the
/// profile only there). Userinfo is taken only when its `sub` is the ID token's
/// (Core §5.3.2), since otherwise it may describe someone else.
pub fn merge_userinfo(id_claims: &mut Map<String, Value>, userinfo: &[u8]) -> Result<(), OidcError> {
    if userinfo.len() > crate::provider::MAX_DOCUMENT_BYTES {
        return Err(OidcError::Userinfo("answer larger than 256 KiB".into()));
    }
    let info: Map<String, Value> = serde_json::from_slice(userinfo).map_err(|_| {
        OidcError::Userinfo("the answer is not a JSON object (signed or encrypted userinfo is not supported)".into())
    })?;
    let sub = id_claims.get("sub").and_then(Value::as_str);
    if info.get("sub").and_then(Value::as_str) != sub {
        return Err(OidcError::Userinfo(
            "its sub is not the ID token's: the answer describes someone else".into(),
        ));
    }
    for (k, v) in info {
        id_claims.entry(k).or_insert(v);
    }
    Ok(())
}

/// Refuses a sign-in whose provider says the email is not verified: `email_verified`
/// false (or `"false"`, as some providers send it). An absent claim does not refuse:
/// many providers only send addresses they manage.
pub fn check_email_verified(claims: &Map<String, Value>) -> Result<(), OidcError> {
    match claims.get("email_verified") {
        Some(Value::Bool(false)) => Err(OidcError::EmailNotVerified),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Err(OidcError::EmailNotVerified),
        _ => Ok(()),
    }
}

/// Whether the provider left the groups out because there were too many (Entra ID's
/// overage: `_claim_names.groups` in place of a `groups` claim).
pub fn groups_overage(claims: &Map<String, Value>) -> bool {
    !claims.contains_key("groups") && claims.get("_claim_names").and_then(|n| n.get("groups")).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn userinfo_adds_under_the_id_token_and_only_for_the_same_sub() {
        let mut c = map(json!({"sub": "u1", "email": "jo@acme.example"}));
        merge_userinfo(
            &mut c,
            br#"{"sub":"u1","email":"other@acme.example","groups":["acme:eng"]}"#,
        )
        .unwrap();
        assert_eq!(c["email"], "jo@acme.example");
        assert_eq!(c["groups"], json!(["acme:eng"]));
        let mut c = map(json!({"sub": "u1"}));
        assert!(merge_userinfo(&mut c, br#"{"sub":"u2","groups":["acme:admins"]}"#).is_err());
        assert!(merge_userinfo(&mut c, br#"{"groups":["acme:admins"]}"#).is_err());
        assert!(merge_userinfo(&mut c, b"eyJhbGciOi.x.y").is_err());
        assert!(!c.contains_key("groups"));
    }

    #[test]
    fn only_an_explicit_false_refuses_the_email() {
        assert!(check_email_verified(&map(json!({"email_verified": false}))).is_err());
        assert!(check_email_verified(&map(json!({"email_verified": "False"}))).is_err());
        assert!(check_email_verified(&map(json!({"email_verified": true}))).is_ok());
        assert!(check_email_verified(&map(json!({}))).is_ok());
    }

    #[test]
    fn entra_group_overage_is_recognised() {
        let over = map(json!({"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {}}}));
        assert!(groups_overage(&over));
        assert!(!groups_overage(&map(json!({"groups": ["a"]}))));
        assert!(!groups_overage(&map(json!({}))));
    }
}
