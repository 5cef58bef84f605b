//! PATCH as Okta and Microsoft Entra ID send it (RFC 7644 §3.5.2 and their leniencies).

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use roster_scim::patch::{apply, only_adds_or_removes_members, parse, MemberOp, Schemas};
use roster_scim::urn;
use serde_json::{json, Map, Value};

const USER: Schemas = Schemas {
    core: urn::USER,
    extensions: &[urn::ENTERPRISE_USER, urn::DOCKER_USER],
};
const GROUP: Schemas = Schemas {
    core: urn::GROUP,
    extensions: &[],
};

fn user() -> Map<String, Value> {
    json!({
        "userName": "jo@example.com",
        "name": { "givenName": "Jo", "familyName": "Bloggs" },
        "active": true,
        "emails": [{ "value": "jo@example.com", "type": "work", "primary": true }],
    })
    .as_object()
    .unwrap()
    .clone()
}

fn patch(
    doc: &mut Map<String, Value>,
    schemas: &Schemas,
    body: Value,
) -> Result<Vec<MemberOp>, roster_scim::ScimError> {
    let ops = parse(&body)?;
    apply(doc, schemas, &ops)
}

#[test]
fn okta_deactivate_with_capitalised_keys_and_string_boolean() {
    let mut doc = user();
    patch(
        &mut doc,
        &USER,
        json!({ "schemas": [urn::PATCH_OP], "Operations": [{ "op": "Replace", "value": { "active": "False" } }] }),
    )
    .unwrap();
    assert_eq!(doc["active"], json!(false));
    let mut doc = user();
    patch(
        &mut doc,
        &USER,
        json!({ "operations": [{ "OP": "replace", "path": "active", "value": "False" }] }),
    )
    .unwrap();
    assert_eq!(doc["active"], json!(false));
}

#[test]
fn entra_display_name_is_ignored_and_extension_replace_merges() {
    let mut doc = user();
    doc.insert(
        urn::DOCKER_USER.into(),
        json!({ "dockerRole": "member", "dockerOrg": "acme" }),
    );
    patch(
        &mut doc,
        &USER,
        json!({ "Operations": [
            { "op": "Replace", "path": "displayName", "value": "Jo B" },
            { "op": "replace", "path": urn::DOCKER_USER, "value": { "dockerRole": "owner" } }
        ] }),
    )
    .unwrap();
    assert!(!doc.contains_key("displayName"));
    assert_eq!(
        doc[urn::DOCKER_USER],
        json!({ "dockerRole": "owner", "dockerOrg": "acme" })
    );
}

#[test]
fn s6_enabled_is_an_alias_of_active() {
    let mut doc = user();
    patch(
        &mut doc,
        &USER,
        json!({ "Operations": [{ "op": "replace", "path": "enabled", "value": "false" }] }),
    )
    .unwrap();
    assert_eq!(doc["active"], json!(false));
    patch(
        &mut doc,
        &USER,
        json!({ "Operations": [{ "op": "replace", "value": { "Enabled": true } }] }),
    )
    .unwrap();
    assert_eq!(doc["active"], json!(true));
    let mut fresh = json!({ "userName": "x@example.com", "enabled": "False" })
        .as_object()
        .unwrap()
        .clone();
    roster_scim::patch::normalize(&mut fresh, &USER);
    assert_eq!(fresh.get("active"), Some(&json!(false)));
    assert!(!fresh.contains_key("enabled"));
}

#[test]
fn entra_path_less_dotted_and_urn_keys() {
    let mut doc = user();
    patch(
        &mut doc,
        &USER,
        json!({ "Operations": [{ "op": "Add", "value": {
            "name.givenName": "Joanna",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D",
            "urn:ietf:params:scim:schemas:extension:docker:2.0:User": { "dockerRole": "editor" },
            "title": null
        } }] }),
    )
    .unwrap();
    assert_eq!(doc["name"], json!({ "givenName": "Joanna", "familyName": "Bloggs" }));
    assert_eq!(doc[urn::ENTERPRISE_USER]["department"], "R&D");
    assert_eq!(doc[urn::DOCKER_USER]["dockerRole"], "editor");
    assert!(!doc.contains_key("title"));
}

#[test]
fn entra_value_path_on_emails_adds_when_missing() {
    let mut doc = user();
    patch(&mut doc, &USER, json!({ "Operations": [{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com" }] })).unwrap();
    assert_eq!(
        doc["emails"],
        json!([{ "value": "new@example.com", "type": "work", "primary": true }])
    );
    patch(&mut doc, &USER, json!({ "Operations": [{ "op": "add", "path": "emails[type eq \"home\"].value", "value": "home@example.org" }] })).unwrap();
    assert_eq!(doc["emails"][1], json!({ "type": "home", "value": "home@example.org" }));
    patch(
        &mut doc,
        &USER,
        json!({ "Operations": [{ "op": "remove", "path": "emails[type eq \"home\"]" }] }),
    )
    .unwrap();
    assert_eq!(doc["emails"].as_array().unwrap().len(), 1);
}

#[test]
fn add_remove_replace_with_paths() {
    let mut doc = user();
    patch(
        &mut doc,
        &USER,
        json!({ "Operations": [
            { "op": "add", "path": "emails", "value": [{ "value": "b@example.com", "type": "other" }] },
            { "op": "add", "path": "emails", "value": [{ "value": "B@example.com" }] },
            { "op": "replace", "path": "name", "value": { "formatted": "Jo B" } },
            { "op": "remove", "path": "name.familyName" },
            { "op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "value": "42" },
            { "op": "add", "path": "title", "value": "Boss" },
            { "op": "remove", "path": "title" }
        ] }),
    )
    .unwrap();
    assert_eq!(
        doc["emails"].as_array().unwrap().len(),
        2,
        "adding an equal value twice keeps one"
    );
    assert_eq!(doc["name"], json!({ "givenName": "Jo", "formatted": "Jo B" }));
    assert_eq!(doc[urn::ENTERPRISE_USER]["manager"], json!({ "value": "42" }));
    assert!(!doc.contains_key("title"));
}

#[test]
fn group_member_operations_come_back_in_order() {
    let mut doc = json!({ "displayName": "acme:eng" }).as_object().unwrap().clone();
    let ops = patch(
        &mut doc,
        &GROUP,
        json!({ "Operations": [
            { "op": "Add", "path": "members", "value": [{ "value": "u1" }, { "value": "u2" }] },
            { "op": "Remove", "path": "members[value eq \"u1\"]" },
            { "op": "Remove", "path": "members[value eq \"u3\" or value eq \"u4\"]" },
            { "op": "remove", "path": "members", "value": [{ "value": "u2" }] },
            { "op": "replace", "path": "displayName", "value": "acme:ops" },
            { "op": "replace", "value": { "members": [{ "value": "u9" }] } },
            { "op": "remove", "path": "members" }
        ] }),
    )
    .unwrap();
    assert_eq!(
        ops,
        [
            MemberOp::Add(vec!["u1".into(), "u2".into()]),
            MemberOp::Remove(vec!["u1".into()]),
            MemberOp::Remove(vec!["u3".into(), "u4".into()]),
            MemberOp::Remove(vec!["u2".into()]),
            MemberOp::Replace(vec!["u9".into()]),
            MemberOp::RemoveAll,
        ]
    );
    assert_eq!(doc["displayName"], "acme:ops");
    assert!(!doc.contains_key("members"), "members never live in the document");
}

/// G4: a PATCH that only adds or removes the members it names can run beside another
/// of its kind; anything else touching the Group (a rename, a replaced or emptied list,
/// an invalid operation) cannot.
#[test]
fn only_named_member_adds_and_removes_commute() {
    let commuting = [
        json!([{ "op": "add", "path": "members", "value": [{ "value": "u1" }] }]),
        json!([{ "op": "Remove", "path": "members[value eq \"u1\"]" }]),
        json!([{ "op": "remove", "path": "members", "value": [{ "value": "u2" }] }]),
        json!([{ "op": "add", "value": { "members": [{ "value": "u1" }] } }]),
        json!([
            { "op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:members", "value": [{ "value": "u1" }] },
            { "op": "remove", "path": "MEMBERS[value eq \"u2\"]" }
        ]),
    ];
    for body in commuting {
        let ops = parse(&json!({ "Operations": body })).unwrap();
        assert!(only_adds_or_removes_members(&GROUP, &ops), "{body}");
    }
    let exclusive = [
        json!([{ "op": "replace", "path": "members", "value": [{ "value": "u1" }] }]),
        json!([{ "op": "remove", "path": "members" }]),
        json!([{ "op": "replace", "value": { "members": [{ "value": "u1" }] } }]),
        json!([{ "op": "replace", "path": "displayName", "value": "acme:ops" }]),
        json!([
            { "op": "add", "path": "members", "value": [{ "value": "u1" }] },
            { "op": "replace", "path": "externalId", "value": "x" }
        ]),
        json!([{ "op": "add", "value": { "members": [{ "value": "u1" }], "displayName": "acme:ops" } }]),
        json!([{ "op": "add", "path": "members", "value": [{ "id": "u1" }] }]),
        json!([{ "op": "add", "path": "members[value eq \"u1\"]", "value": [{ "value": "u1" }] }]),
        json!([{ "op": "add", "value": {} }]),
        json!([{ "op": "add", "path": "nothing", "value": 1 }]),
    ];
    for body in exclusive {
        let ops = parse(&json!({ "Operations": body })).unwrap();
        assert!(!only_adds_or_removes_members(&GROUP, &ops), "{body}");
    }
    // A User has no members: nothing there is a member change.
    let ops = parse(&json!({ "Operations": [{ "op": "add", "path": "members", "value": [] }] })).unwrap();
    assert!(!only_adds_or_removes_members(&USER, &ops));
}

#[test]
fn bad_patches_are_scim_errors() {
    let cases = [
        (json!([]), "invalidSyntax"),
        (json!({ "Operations": [] }), "invalidSyntax"),
        (
            json!({ "Operations": [{ "op": "merge", "path": "title", "value": "x" }] }),
            "invalidSyntax",
        ),
        (
            json!({ "Operations": [{ "op": "add", "path": "title" }] }),
            "invalidValue",
        ),
        (json!({ "Operations": [{ "op": "remove" }] }), "noTarget"),
        (json!({ "Operations": [{ "op": "add", "value": "x" }] }), "invalidValue"),
        (
            json!({ "Operations": [{ "op": "replace", "path": "nosuch", "value": "x" }] }),
            "invalidPath",
        ),
        (
            json!({ "Operations": [{ "op": "replace", "path": "groups", "value": [] }] }),
            "mutability",
        ),
        (
            json!({ "Operations": [{ "op": "replace", "path": "emails[type eq \"home\"]", "value": { "value": "x" } }] }),
            "noTarget",
        ),
        (
            json!({ "Operations": [{ "op": "replace", "path": "emails[type zz \"home\"]", "value": {} }] }),
            "invalidPath",
        ),
    ];
    for (body, scim_type) in cases {
        let mut doc = user();
        let e = patch(&mut doc, &USER, body.clone()).unwrap_err();
        assert_eq!(e.scim_type(), Some(scim_type), "{body}");
    }
    let mut g = Map::new();
    let e = patch(
        &mut g,
        &GROUP,
        json!({ "Operations": [{ "op": "remove", "path": "members[display eq \"x\"]" }] }),
    )
    .unwrap_err();
    assert_eq!(e.scim_type(), Some("invalidFilter"));
}

fn ops(list: Value) -> Value {
    json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list })
}

#[test]
fn entra_default_mapping_fills_addresses_and_phone_numbers() {
    let mut doc = user();
    patch(
        &mut doc,
        &USER,
        ops(json!([
            { "op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St" },
            { "op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Springfield" },
            { "op": "Add", "path": "addresses[type eq \"work\"].region", "value": "IL" },
            { "op": "Add", "path": "addresses[type eq \"work\"].postalCode", "value": "62701" },
            { "op": "Add", "path": "addresses[type eq \"work\"].country", "value": "US" },
            { "op": "Add", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St, Springfield" },
            { "op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0100" },
            { "op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0101" },
            { "op": "Add", "path": "phoneNumbers[type eq \"fax\"].value", "value": "+1 555 0102" },
        ])),
    )
    .unwrap();
    assert_eq!(
        doc["addresses"],
        json!([{ "type": "work", "streetAddress": "1 Main St", "locality": "Springfield", "region": "IL",
                 "postalCode": "62701", "country": "US", "formatted": "1 Main St, Springfield" }])
    );
    assert_eq!(
        doc["phoneNumbers"],
        json!([{ "type": "work", "value": "+1 555 0100" }, { "type": "mobile", "value": "+1 555 0101" },
               { "type": "fax", "value": "+1 555 0102" }])
    );
    // A later change replaces only the matching value.
    patch(
        &mut doc,
        &USER,
        ops(json!([{ "op": "Replace", "path": "addresses[type eq \"work\"].locality", "value": "Chicago" }])),
    )
    .unwrap();
    assert_eq!(doc["addresses"][0]["locality"], "Chicago");
    assert_eq!(doc["addresses"][0]["streetAddress"], "1 Main St");
}

#[test]
fn the_legacy_form_without_a_filter_makes_or_changes_the_value() {
    let mut doc = user();
    patch(
        &mut doc,
        &USER,
        ops(json!([
            { "op": "Add", "path": "addresses.locality", "value": "Springfield" },
            { "op": "Replace", "path": "addresses.postalCode", "value": "62701" },
            { "op": "Add", "path": "phoneNumbers.value", "value": "+1 555 0100" },
        ])),
    )
    .unwrap();
    assert_eq!(
        doc["addresses"],
        json!([{ "locality": "Springfield", "postalCode": "62701" }])
    );
    assert_eq!(doc["phoneNumbers"], json!([{ "value": "+1 555 0100" }]));
}

#[test]
fn entra_sets_the_manager_in_both_its_forms() {
    let mut doc = user();
    patch(
        &mut doc,
        &USER,
        ops(json!([{ "op": "Add", "path": format!("{}:manager", urn::ENTERPRISE_USER), "value": "boss-1" }])),
    )
    .unwrap();
    assert_eq!(doc[urn::ENTERPRISE_USER]["manager"], json!({ "value": "boss-1" }));
    patch(
        &mut doc,
        &USER,
        ops(json!([{ "op": "Replace", "path": "manager", "value": [{ "$ref": null, "value": "boss-2" }] }])),
    )
    .unwrap();
    assert_eq!(doc[urn::ENTERPRISE_USER]["manager"], json!({ "value": "boss-2" }));
}

#[test]
fn values_are_checked_against_their_schema_types() {
    let cases = [
        json!([{ "op": "replace", "path": "active", "value": "maybe" }]),
        json!([{ "op": "replace", "path": "active", "value": 1 }]),
        json!([{ "op": "replace", "path": "title", "value": { "a": 1 } }]),
        json!([{ "op": "replace", "path": "name", "value": "Jo" }]),
        json!([{ "op": "add", "path": "emails[type eq \"home\"].primary", "value": "sometimes" }]),
        json!([{ "op": "replace", "value": { "name.givenName": 7 } }]),
        json!([{ "op": "add", "path": "addresses", "value": ["not an object"] }]),
    ];
    for body in cases {
        let mut doc = user();
        let e = patch(&mut doc, &USER, ops(body.clone())).unwrap_err();
        assert_eq!(e.scim_type(), Some("invalidValue"), "{body}: {e}");
    }
    // Okta and Entra's string booleans stay accepted.
    let mut doc = user();
    patch(
        &mut doc,
        &USER,
        ops(json!([{ "op": "Replace", "path": "active", "value": "False" }])),
    )
    .unwrap();
    assert_eq!(doc["active"], false);
}
