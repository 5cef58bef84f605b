//! Validating a `samlp:Response` from the HTTP-POST binding.
//!
//! One parse, then structure before trust: exactly one Response holding exactly one
//! Assertion (or EncryptedAssertion) and no other assertion anywhere; unique IDs; then
//! the signatures (Response, Assertion, or both; at least one must verify and cover the
//! assertion that is read); then the protocol checks of SAML 2.0 Core and the Web SSO
//! Profile (status, issuers, destination, bearer confirmation, conditions, audience).
//! Identity is read only from that verified assertion element.

use crate::dsig::{self, AlgorithmPolicy, NS_DSIG};
use crate::encrypted::decrypt_assertion;
use crate::keys::{SpKey, TrustedKey};
use crate::xml::{Document, Limits, NodeId};
use crate::{SamlError, NS_ASSERTION, NS_PROTOCOL};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::collections::{BTreeMap, HashSet};

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// How old an assertion may be when it arrives (by its IssueInstant), before the clock
/// skew: five minutes, as long as the test IdPs' and real IdPs' Conditions usually last.
pub const MAX_ASSERTION_AGE_MS: i64 = 5 * 60 * 1000;

/// What the SP expects of a response to one connection.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub idp_entity_id: &'a str,
    pub idp_keys: &'a [TrustedKey],
    pub policy: AlgorithmPolicy,
    pub allow_cbc: bool,
    pub sp_keys: &'a [SpKey],
    /// Tolerated clock difference, in milliseconds.
    pub clock_skew_ms: i64,
    pub now_ms: i64,
    pub limits: Limits,
}

/// Which elements carried a verified signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed {
    pub response: bool,
    pub assertion: bool,
}

/// The verified content of one assertion.
#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    pub response_id: String,
    pub assertion_id: String,
    pub issuer: String,
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    /// Attribute name → values, in document order.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The request this answers; `None` for an IdP-initiated response.
    pub in_response_to: Option<String>,
    /// Until when the assertion could be replayed (keep its ID that long).
    pub replay_until_ms: i64,
    pub session_not_on_or_after_ms: Option<i64>,
    pub signed: Signed,
    pub encrypted: bool,
}

/// Decodes the `SAMLResponse` form field: base64 (line breaks allowed), UTF-8, under the
/// size limit before and after decoding.
pub fn decode_post(field: &str, limits: Limits) -> Result<String, SamlError> {
    if field.len() > limits.max_bytes / 3 * 4 + 4096 {
        return Err(SamlError::TooLarge("the SAMLResponse field is too large".into()));
    }
    let compact: Vec<u8> = field.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let bytes = STANDARD
        .decode(compact)
        .map_err(|_| SamlError::Malformed("SAMLResponse is not base64".into()))?;
    String::from_utf8(bytes).map_err(|_| SamlError::Malformed("SAMLResponse is not UTF-8 XML".into()))
}

/// The NameID's text, when it has any.
fn name_id_text(doc: &Document, node: Option<NodeId>) -> Option<String> {
    node.map(|n| doc.text(n).trim().to_string()).filter(|s| !s.is_empty())
}

/// An assertion's attributes by name, `xsi:nil` values left out. One Attribute per Name:
/// two would leave it to the reader which values count, so they are refused.
fn read_attributes(doc: &Document, assertion: NodeId) -> Result<Attributes, SamlError> {
    let mut attributes = Attributes::new();
    for st in doc.children_named(assertion, NS_ASSERTION, "AttributeStatement") {
        for attr in doc.children_named(st, NS_ASSERTION, "Attribute") {
            let Some(name) = doc.attr(attr, "Name") else { continue };
            if attributes.contains_key(name) {
                return Err(SamlError::Malformed(format!(
                    "the attribute '{name}' appears more than once"
                )));
            }
            let values = attributes.entry(name.to_string()).or_default();
            for v in doc.children_named(attr, NS_ASSERTION, "AttributeValue") {
                if doc.attr_ns(v, NS_XSI, "nil") == Some("true") {
                    continue;
                }
                values.push(doc.text(v));
            }
        }
    }
    Ok(attributes)
}

/// An assertion's attributes: name → values.
pub type Attributes = BTreeMap<String, Vec<String>>;

/// What a Response's (or a bare Assertion's) assertion says — its NameID and attributes,
/// read as [`verify_response`] reads them — without checking anything else: for a
/// preview that changes nothing. An encrypted assertion cannot be read.
pub fn read_unverified(xml: &str, limits: Limits) -> Result<(Option<String>, Attributes), SamlError> {
    let doc = Document::parse(xml, limits)?;
    if count_named(&doc, NS_ASSERTION, "EncryptedAssertion") > 0 {
        return Err(SamlError::Malformed(
            "the assertion is encrypted: paste the decrypted assertion".into(),
        ));
    }
    let assertion = if doc.is(doc.root, NS_ASSERTION, "Assertion") {
        doc.root
    } else {
        doc.only_child(doc.root, NS_ASSERTION, "Assertion")?
    };
    let name_id = match doc.optional_child(assertion, NS_ASSERTION, "Subject")? {
        Some(subject) => name_id_text(&doc, doc.optional_child(subject, NS_ASSERTION, "NameID")?),
        None => None,
    };
    Ok((name_id, read_attributes(&doc, assertion)?))
}

/// Parses an `xs:dateTime` (SAML requires UTC) into Unix milliseconds.
pub fn parse_instant(s: &str) -> Result<i64, SamlError> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| SamlError::Malformed(format!("'{s}' is not a valid date and time")))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| SamlError::Malformed(format!("'{s}' is out of range")))
}

fn instant_attr(doc: &Document, id: NodeId, name: &str) -> Result<Option<i64>, SamlError> {
    doc.attr(id, name).map(parse_instant).transpose()
}

/// Every `ID` attribute value in `doc`, refusing duplicates (also against `seen`).
fn check_unique_ids(doc: &Document, seen: &mut HashSet<String>) -> Result<(), SamlError> {
    for e in doc.elements() {
        if let Some(id) = doc.attr(e, "ID") {
            if !seen.insert(id.to_string()) {
                return Err(SamlError::Malformed(format!("the ID '{id}' appears more than once")));
            }
        }
    }
    Ok(())
}

fn count_named(doc: &Document, ns: &str, local: &str) -> usize {
    doc.elements().filter(|e| doc.is(*e, ns, local)).count()
}

fn check_issuer(doc: &Document, parent: NodeId, expected: &str, required: bool) -> Result<(), SamlError> {
    match doc.optional_child(parent, NS_ASSERTION, "Issuer")? {
        Some(i) => {
            if let Some(f) = doc.attr(i, "Format") {
                if f != "urn:oasis:names:tc:SAML:2.0:nameid-format:entity" {
                    return Err(SamlError::Issuer(format!(
                        "the Issuer format '{f}' is not an entity id"
                    )));
                }
            }
            let got = doc.text(i);
            if got.trim() != expected {
                return Err(SamlError::Issuer(format!(
                    "the Issuer is '{}', expected '{expected}'",
                    got.trim()
                )));
            }
            Ok(())
        }
        None if required => Err(SamlError::Issuer("the assertion has no Issuer".into())),
        None => Ok(()),
    }
}

/// The elements a Response may hold (SAML core §3.2.2, §3.3.3): anything else there is
/// refused, not skipped.
const RESPONSE_CHILDREN: &[(&str, &str)] = &[
    (NS_ASSERTION, "Issuer"),
    (NS_DSIG, "Signature"),
    (NS_PROTOCOL, "Extensions"),
    (NS_PROTOCOL, "Status"),
    (NS_ASSERTION, "Assertion"),
    (NS_ASSERTION, "EncryptedAssertion"),
];

/// The elements an Assertion may hold (SAML core §2.3.3).
const ASSERTION_CHILDREN: &[(&str, &str)] = &[
    (NS_ASSERTION, "Issuer"),
    (NS_DSIG, "Signature"),
    (NS_ASSERTION, "Subject"),
    (NS_ASSERTION, "Conditions"),
    (NS_ASSERTION, "Advice"),
    (NS_ASSERTION, "Statement"),
    (NS_ASSERTION, "AuthnStatement"),
    (NS_ASSERTION, "AuthzDecisionStatement"),
    (NS_ASSERTION, "AttributeStatement"),
];

/// Policy: every element of the Response and the Assertion stands where the schema puts
/// it. An element out of place (an `Assertion` in a look-alike namespace beside the real
/// one, an unknown child) is refused rather than ignored: a reader that did not ignore it
/// would see another message.
fn check_children(doc: &Document, parent: NodeId, allowed: &[(&str, &str)], what: &str) -> Result<(), SamlError> {
    for c in doc.child_elements(parent) {
        if !allowed.iter().any(|(ns, local)| doc.is(c, ns, local)) {
            let (local, ns) = doc
                .element(c)
                .map(|e| (e.local.as_str(), e.ns.as_deref().unwrap_or("no namespace")))
                .unwrap_or_default();
            return Err(SamlError::Malformed(format!(
                "the {what} holds an element it may not: <{local}> in {ns}"
            )));
        }
    }
    Ok(())
}

/// No element anywhere is named like a SAML message part without being one.
fn check_look_alikes(doc: &Document) -> Result<(), SamlError> {
    for id in doc.elements() {
        let Some(e) = doc.element(id) else { continue };
        let saml = matches!(e.ns.as_deref(), Some(NS_ASSERTION | NS_PROTOCOL));
        if !saml && matches!(e.local.as_str(), "Assertion" | "EncryptedAssertion" | "Response") {
            return Err(SamlError::Malformed(format!(
                "an element named <{}> is not in the SAML namespace",
                e.local
            )));
        }
    }
    Ok(())
}

/// Verifies a decoded SAML Response against `exp`. Nothing in the result comes from
/// outside the element whose signature verified.
pub fn verify_response(xml: &str, exp: &Expectations<'_>) -> Result<VerifiedAssertion, SamlError> {
    let doc = Document::parse(xml, exp.limits)?;
    let root = doc.root;
    if !doc.is(root, NS_PROTOCOL, "Response") {
        return Err(SamlError::Malformed("the message is not a SAML Response".into()));
    }
    if doc.attr(root, "Version") != Some("2.0") {
        return Err(SamlError::Malformed("the Response is not SAML 2.0".into()));
    }
    let mut ids = HashSet::new();
    check_unique_ids(&doc, &mut ids)?;
    check_look_alikes(&doc)?;
    check_children(&doc, root, RESPONSE_CHILDREN, "Response")?;
    let response_id = doc.attr(root, "ID").unwrap_or_default().to_string();
    if response_id.is_empty() {
        return Err(SamlError::Malformed("the Response has no ID".into()));
    }

    // Exactly one assertion, plain or encrypted, and it is the Response's own child.
    let plain = count_named(&doc, NS_ASSERTION, "Assertion");
    let encrypted = count_named(&doc, NS_ASSERTION, "EncryptedAssertion");
    if plain + encrypted != 1 {
        return Err(SamlError::Malformed(format!(
            "the Response must hold exactly one assertion; it holds {}",
            plain + encrypted
        )));
    }
    let direct = doc
        .child_elements(root)
        .find(|c| doc.is(*c, NS_ASSERTION, "Assertion") || doc.is(*c, NS_ASSERTION, "EncryptedAssertion"))
        .ok_or_else(|| SamlError::Malformed("the assertion is not a child of the Response".into()))?;

    // The Response signature, when there is one, must verify.
    let response_signed = match dsig::signature_of(&doc, root)? {
        Some(sig) => {
            dsig::verify(&doc, root, sig, exp.idp_keys, exp.policy)?;
            true
        }
        None => false,
    };

    check_issuer(&doc, root, exp.idp_entity_id, false)?;
    let status = doc.only_child(root, NS_PROTOCOL, "Status")?;
    let code = doc.only_child(status, NS_PROTOCOL, "StatusCode")?;
    let value = doc.attr(code, "Value").unwrap_or_default();
    if value != SUCCESS {
        let sub = doc
            .children_named(code, NS_PROTOCOL, "StatusCode")
            .next()
            .and_then(|s| doc.attr(s, "Value"))
            .map(|s| format!(" / {s}"))
            .unwrap_or_default();
        let message = doc
            .children_named(status, NS_PROTOCOL, "StatusMessage")
            .next()
            .map(|m| format!(": {}", doc.text(m).trim()))
            .unwrap_or_default();
        return Err(SamlError::Status(format!("{value}{sub}{message}")));
    }
    match doc.attr(root, "Destination") {
        Some(d) if d != exp.acs_url => {
            return Err(SamlError::Destination(format!(
                "the Destination is '{d}', expected '{}'",
                exp.acs_url
            )))
        }
        // SAML Bindings §3.5.5.2: a signed message names its destination.
        None if response_signed => {
            return Err(SamlError::Destination(
                "a signed Response must carry a Destination".into(),
            ))
        }
        _ => {}
    }
    let response_irt = doc.attr(root, "InResponseTo").map(str::to_string);

    // The assertion, decrypted into a document of its own when encrypted.
    let was_encrypted = doc.is(direct, NS_ASSERTION, "EncryptedAssertion");
    let decrypted;
    let (adoc, assertion) = if was_encrypted {
        let text = decrypt_assertion(&doc, direct, exp.sp_keys, exp.allow_cbc)?;
        decrypted = Document::parse_in_scope(&text, exp.limits, &doc.in_scope(direct))?;
        check_unique_ids(&decrypted, &mut ids)?;
        check_look_alikes(&decrypted)?;
        if !decrypted.is(decrypted.root, NS_ASSERTION, "Assertion")
            || count_named(&decrypted, NS_ASSERTION, "Assertion") != 1
            || count_named(&decrypted, NS_ASSERTION, "EncryptedAssertion") != 0
        {
            return Err(SamlError::Malformed(
                "the encrypted content is not exactly one Assertion".into(),
            ));
        }
        (&decrypted, decrypted.root)
    } else {
        (&doc, direct)
    };

    check_children(adoc, assertion, ASSERTION_CHILDREN, "Assertion")?;
    let assertion_signed = match dsig::signature_of(adoc, assertion)? {
        Some(sig) => {
            dsig::verify(adoc, assertion, sig, exp.idp_keys, exp.policy)?;
            true
        }
        None => false,
    };
    if !response_signed && !assertion_signed {
        return Err(SamlError::Unsigned);
    }
    read_assertion(
        adoc,
        assertion,
        exp,
        response_id,
        response_irt,
        Signed {
            response: response_signed,
            assertion: assertion_signed,
        },
        was_encrypted,
    )
}

fn read_assertion(
    doc: &Document,
    assertion: NodeId,
    exp: &Expectations<'_>,
    response_id: String,
    response_irt: Option<String>,
    signed: Signed,
    encrypted: bool,
) -> Result<VerifiedAssertion, SamlError> {
    let now = exp.now_ms;
    let skew = exp.clock_skew_ms;
    if doc.attr(assertion, "Version") != Some("2.0") {
        return Err(SamlError::Malformed("the Assertion is not SAML 2.0".into()));
    }
    let assertion_id = doc
        .attr(assertion, "ID")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SamlError::Malformed("the Assertion has no ID".into()))?
        .to_string();
    check_issuer(doc, assertion, exp.idp_entity_id, true)?;

    // Subject: the NameID and a bearer confirmation for this ACS.
    let subject = doc.only_child(assertion, NS_ASSERTION, "Subject")?;
    if doc
        .children_named(subject, NS_ASSERTION, "EncryptedID")
        .next()
        .is_some()
    {
        return Err(SamlError::Subject("an encrypted NameID is not supported".into()));
    }
    let name_id_node = doc.optional_child(subject, NS_ASSERTION, "NameID")?;
    let name_id = name_id_text(doc, name_id_node);
    let name_id_format = name_id_node.and_then(|n| doc.attr(n, "Format")).map(str::to_string);
    let mut reason = String::from("no bearer SubjectConfirmation");
    let mut confirmation: Option<(i64, Option<String>)> = None;
    for sc in doc.children_named(subject, NS_ASSERTION, "SubjectConfirmation") {
        if doc.attr(sc, "Method") != Some(BEARER) {
            continue;
        }
        let Some(data) = doc.optional_child(sc, NS_ASSERTION, "SubjectConfirmationData")? else {
            reason = "the bearer SubjectConfirmation has no SubjectConfirmationData".into();
            continue;
        };
        let recipient = doc.attr(data, "Recipient").unwrap_or_default();
        if recipient != exp.acs_url {
            reason = format!("the Recipient is '{recipient}', expected '{}'", exp.acs_url);
            continue;
        }
        let Some(until) = instant_attr(doc, data, "NotOnOrAfter")? else {
            reason = "the bearer confirmation has no NotOnOrAfter".into();
            continue;
        };
        if now >= until + skew {
            reason = "the bearer confirmation has expired (NotOnOrAfter)".into();
            continue;
        }
        if let Some(nb) = instant_attr(doc, data, "NotBefore")? {
            if now + skew < nb {
                reason = "the bearer confirmation is not yet valid (NotBefore)".into();
                continue;
            }
        }
        let irt = doc.attr(data, "InResponseTo").map(str::to_string);
        if let (Some(a), Some(b)) = (&irt, &response_irt) {
            if a != b {
                reason = "the confirmation and the Response answer different requests".into();
                continue;
            }
        }
        confirmation = Some((until, irt));
        break;
    }
    let Some((confirm_until, confirm_irt)) = confirmation else {
        return Err(if reason.contains("Recipient") {
            SamlError::Recipient(reason)
        } else if reason.contains("expired") || reason.contains("not yet") {
            SamlError::Expired(reason)
        } else {
            SamlError::Subject(reason)
        });
    };

    // Conditions: validity window and audience.
    let conditions = doc.only_child(assertion, NS_ASSERTION, "Conditions")?;
    let not_before = instant_attr(doc, conditions, "NotBefore")?;
    let not_after = instant_attr(doc, conditions, "NotOnOrAfter")?;
    if let Some(nb) = not_before {
        if now + skew < nb {
            return Err(SamlError::Expired("the assertion is not yet valid (NotBefore)".into()));
        }
    }
    if let Some(na) = not_after {
        if now >= na + skew {
            return Err(SamlError::Expired("the assertion has expired (NotOnOrAfter)".into()));
        }
    }
    // Policy: an assertion is used fresh. Its IssueInstant (required by SAML 2.0 core
    // §2.3.3) lies within MAX_ASSERTION_AGE_MS of now, whatever its Conditions allow, so
    // an assertion obtained once cannot be held back and played later.
    let issued = instant_attr(doc, assertion, "IssueInstant")?
        .ok_or_else(|| SamlError::Malformed("the assertion has no IssueInstant".into()))?;
    if issued > now + skew {
        return Err(SamlError::Expired(
            "the assertion is issued in the future (IssueInstant)".into(),
        ));
    }
    if now >= issued + MAX_ASSERTION_AGE_MS + skew {
        return Err(SamlError::Expired(
            "the assertion was issued too long ago (IssueInstant)".into(),
        ));
    }
    let restrictions: Vec<NodeId> = doc
        .children_named(conditions, NS_ASSERTION, "AudienceRestriction")
        .collect();
    if restrictions.is_empty() {
        return Err(SamlError::Audience("the assertion has no AudienceRestriction".into()));
    }
    for r in restrictions {
        let audiences: Vec<String> = doc
            .children_named(r, NS_ASSERTION, "Audience")
            .map(|a| doc.text(a).trim().to_string())
            .collect();
        if !audiences.iter().any(|a| a == exp.sp_entity_id) {
            return Err(SamlError::Audience(format!(
                "the audience is {audiences:?}, expected '{}'",
                exp.sp_entity_id
            )));
        }
    }

    let authn: Vec<NodeId> = doc.children_named(assertion, NS_ASSERTION, "AuthnStatement").collect();
    if authn.is_empty() {
        return Err(SamlError::Malformed("the assertion has no AuthnStatement".into()));
    }
    let mut session_until: Option<i64> = None;
    for a in authn {
        if let Some(s) = instant_attr(doc, a, "SessionNotOnOrAfter")? {
            session_until = Some(session_until.map_or(s, |p: i64| p.min(s)));
        }
    }

    let attributes = read_attributes(doc, assertion)?;

    // The request answered, from signed content only: the Response's InResponseTo
    // counts only when the Response is signed; otherwise an unsigned Response could
    // turn an IdP-initiated assertion into an answer to a request of the attacker's.
    let in_response_to = if signed.response {
        response_irt.or(confirm_irt)
    } else {
        if response_irt.is_some() && response_irt != confirm_irt {
            return Err(SamlError::Subject(
                "the unsigned Response's InResponseTo is not the signed assertion's".into(),
            ));
        }
        confirm_irt
    };
    let replay_until_ms = not_after.map_or(confirm_until, |na| na.max(confirm_until)) + skew;
    Ok(VerifiedAssertion {
        response_id,
        assertion_id,
        issuer: exp.idp_entity_id.to_string(),
        name_id,
        name_id_format,
        attributes,
        in_response_to,
        replay_until_ms,
        session_not_on_or_after_ms: session_until,
        signed,
        encrypted,
    })
}
