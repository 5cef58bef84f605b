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

/// The most groups read from Microsoft Graph for one sign-in.
pub const MAX_GRAPH_GROUPS: usize = 2_000;

/// One page of Microsoft Graph's `/me/transitiveMemberOf/microsoft.graph.group`: the
/// groups' display names (their ids when a group has none) and the next page's URL,
/// which must be on the same origin as `url`, the page's own.
pub fn graph_page(url: &str, body: &[u8]) -> Result<(Vec<String>, Option<String>), OidcError> {
    let bad = |why: &str| OidcError::Userinfo(format!("Microsoft Graph: {why}"));
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("the answer is not JSON"))?;
    let items = v
        .get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no `value` array"))?;
    let groups = items
        .iter()
        .filter_map(|g| {
            g.get("displayName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .or_else(|| g.get("id").and_then(Value::as_str))
        })
        .map(str::to_string)
        .collect();
    let next = match v.get("@odata.nextLink").and_then(Value::as_str) {
        None => None,
        Some(next) => {
            let here = url::Url::parse(url).map_err(|_| bad("the page's URL does not read"))?;
            let there = url::Url::parse(next).map_err(|_| bad("the next page's URL does not read"))?;
            if here.origin() != there.origin() {
                return Err(bad("the next page is on another origin"));
            }
            Some(next.to_string())
        }
    };
    Ok((groups, next))
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
    fn graph_pages_give_names_and_a_next_page_on_the_same_origin() {
        let url = "https://graph.microsoft.com/v1.0/me/transitiveMemberOf/microsoft.graph.group";
        let body = json!({"value": [{"id": "1", "displayName": "acme:eng"}, {"id": "2"}],
                          "@odata.nextLink": format!("{url}?$skiptoken=x")});
        let (groups, next) = graph_page(url, body.to_string().as_bytes()).unwrap();
        assert_eq!(groups, ["acme:eng", "2"]);
        assert!(next.unwrap().ends_with("$skiptoken=x"));
        let elsewhere = json!({"value": [], "@odata.nextLink": "https://evil.example/steal"});
        assert!(graph_page(url, elsewhere.to_string().as_bytes()).is_err());
        assert!(graph_page(url, b"{}").is_err());
        assert_eq!(graph_page(url, br#"{"value": []}"#).unwrap(), (vec![], None));
    }

    #[test]
    fn entra_group_overage_is_recognised() {
        let over = map(json!({"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {}}}));
        assert!(groups_overage(&over));
        assert!(!groups_overage(&map(json!({"groups": ["a"]}))));
        assert!(!groups_overage(&map(json!({}))));
    }
}
