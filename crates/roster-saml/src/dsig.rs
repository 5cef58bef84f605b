//! XML Signature verification for exactly the profile SAML uses, and nothing more.
//!
//! The caller names the element that must be signed (the Response or the Assertion);
//! verification succeeds only when that element carries the signature and the signature
//! covers that element — the binding that signature-wrapping attacks try to break:
//! - exactly one `ds:Signature` child, placed right after `saml:Issuer` (its schema
//!   position);
//! - exactly one `Reference`, whose `URI="#id"` is the ID of that very element, and IDs
//!   are unique in the document (checked by the caller's parse);
//! - transforms exactly enveloped-signature then exclusive C14N; `SignedInfo` itself in
//!   exclusive C14N; no other canonicalization, no XPath, no XSLT;
//! - digests SHA-256/384/512, signatures RSA-SHA256/384/512 or ECDSA-SHA256/384; SHA-1
//!   only when the connection opted in; HMAC, DSA and MD5 never;
//! - keys only from the connection's certificates; `KeyInfo` is never read.

use crate::c14n::canonicalize;
use crate::keys::{KeyKind, TrustedKey};
use crate::xml::{Document, NodeId};
use crate::{SamlError, NS_ASSERTION};
use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// Which hash and signature algorithms a connection accepts.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlgorithmPolicy {
    /// SHA-1 digests and RSA-SHA1 signatures (off unless a connection opts in).
    pub allow_sha1: bool,
}

fn refuse(msg: impl Into<String>) -> SamlError {
    SamlError::Signature(msg.into())
}

fn digest_algorithm(uri: &str, policy: AlgorithmPolicy) -> Result<&'static digest::Algorithm, SamlError> {
    match uri {
        "http://www.w3.org/2001/04/xmlenc#sha256" => Ok(&digest::SHA256),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Ok(&digest::SHA384),
        "http://www.w3.org/2001/04/xmlenc#sha512" => Ok(&digest::SHA512),
        "http://www.w3.org/2000/09/xmldsig#sha1" if policy.allow_sha1 => Ok(&digest::SHA1_FOR_LEGACY_USE_ONLY),
        "http://www.w3.org/2000/09/xmldsig#sha1" => Err(SamlError::WeakAlgorithm(
            "the digest is SHA-1, which this connection does not allow".into(),
        )),
        other => Err(SamlError::WeakAlgorithm(format!(
            "digest algorithm '{other}' is not allowed"
        ))),
    }
}

fn signature_algorithm(
    uri: &str,
    policy: AlgorithmPolicy,
) -> Result<(KeyKind, &'static dyn VerificationAlgorithm), SamlError> {
    match uri {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => {
            Ok((KeyKind::Rsa, &signature::RSA_PKCS1_2048_8192_SHA256))
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => {
            Ok((KeyKind::Rsa, &signature::RSA_PKCS1_2048_8192_SHA384))
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => {
            Ok((KeyKind::Rsa, &signature::RSA_PKCS1_2048_8192_SHA512))
        }
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => {
            Ok((KeyKind::EcP256, &signature::ECDSA_P256_SHA256_FIXED))
        }
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => {
            Ok((KeyKind::EcP384, &signature::ECDSA_P384_SHA384_FIXED))
        }
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" if policy.allow_sha1 => {
            Ok((KeyKind::Rsa, &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY))
        }
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => Err(SamlError::WeakAlgorithm(
            "the signature is RSA-SHA1, which this connection does not allow".into(),
        )),
        other => Err(SamlError::WeakAlgorithm(format!(
            "signature algorithm '{other}' is not allowed"
        ))),
    }
}

/// The most prefixes an `InclusiveNamespaces` list may name. Real IdPs name one to
/// three (`xs`, `xsi`, `#default`); each costs a lookup per canonicalized element.
const MAX_INCLUSIVE_PREFIXES: usize = 16;

/// The `PrefixList` of an `ec:InclusiveNamespaces` child of `method`, if any, without
/// repeats.
fn inclusive_prefixes(doc: &Document, method: NodeId) -> Result<Vec<String>, SamlError> {
    let mut out: Vec<String> = Vec::new();
    for c in doc.child_elements(method) {
        if doc.is(c, EXC_C14N, "InclusiveNamespaces") {
            let list = doc.attr(c, "PrefixList").unwrap_or_default();
            for p in list.split_ascii_whitespace() {
                if !out.iter().any(|q| q == p) {
                    if out.len() == MAX_INCLUSIVE_PREFIXES {
                        return Err(refuse(format!(
                            "an InclusiveNamespaces list of more than {MAX_INCLUSIVE_PREFIXES} prefixes"
                        )));
                    }
                    out.push(p.to_string());
                }
            }
        } else {
            return Err(refuse("unexpected content in a canonicalization method"));
        }
    }
    Ok(out)
}

fn decode_b64(doc: &Document, id: NodeId, what: &str) -> Result<Vec<u8>, SamlError> {
    let text: Vec<u8> = doc.text(id).bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    STANDARD
        .decode(text)
        .map_err(|_| refuse(format!("{what} is not base64")))
}

/// The `ds:Signature` child of `target`, checked for count and schema position.
pub fn signature_of(doc: &Document, target: NodeId) -> Result<Option<NodeId>, SamlError> {
    let sigs: Vec<NodeId> = doc.children_named(target, NS_DSIG, "Signature").collect();
    match sigs.as_slice() {
        [] => Ok(None),
        [sig] => {
            let mut kids = doc.child_elements(target);
            let first = kids.next();
            let second = kids.next();
            let after_issuer = first.is_some_and(|f| doc.is(f, NS_ASSERTION, "Issuer")) && second == Some(*sig);
            if !after_issuer {
                return Err(refuse(
                    "the Signature is not in its schema position (right after Issuer)",
                ));
            }
            Ok(Some(*sig))
        }
        _ => Err(refuse("more than one Signature on one element")),
    }
}

/// Verifies a detached signature over `data` (the HTTP-Redirect binding signs the
/// query string this way) with `key`, under `policy`.
pub fn verify_detached(
    key: &TrustedKey,
    algorithm_uri: &str,
    data: &[u8],
    sig: &[u8],
    policy: AlgorithmPolicy,
) -> Result<(), SamlError> {
    let (kind, algorithm) = signature_algorithm(algorithm_uri, policy)?;
    if key.kind != kind {
        return Err(refuse("the key does not fit the signature algorithm"));
    }
    UnparsedPublicKey::new(algorithm, &key.public_key)
        .verify(data, sig)
        .map_err(|_| refuse("the signature does not verify"))
}

/// The two byte strings a signature covers, as this verifier computes them: the
/// target's canonical form without the signature (what is digested) and the canonical
/// `SignedInfo` (what is signed). For cross-checking against other implementations.
pub fn canonical_forms(doc: &Document, target: NodeId, sig: NodeId) -> Result<(Vec<u8>, Vec<u8>), SamlError> {
    let signed_info = doc.only_child(sig, NS_DSIG, "SignedInfo")?;
    let c14n_method = doc.only_child(signed_info, NS_DSIG, "CanonicalizationMethod")?;
    let reference = doc.only_child(signed_info, NS_DSIG, "Reference")?;
    let transforms = doc.only_child(reference, NS_DSIG, "Transforms")?;
    let mut inclusive = Vec::new();
    for t in doc.children_named(transforms, NS_DSIG, "Transform") {
        if doc.attr(t, "Algorithm") == Some(EXC_C14N) {
            inclusive = inclusive_prefixes(doc, t)?;
        }
    }
    Ok((
        canonicalize(doc, target, Some(sig), &inclusive),
        canonicalize(doc, signed_info, None, &inclusive_prefixes(doc, c14n_method)?),
    ))
}

/// Verifies that `sig` (a child of `target`) is a valid signature over `target` by one
/// of `keys`. Returns Ok only then.
pub fn verify(
    doc: &Document,
    target: NodeId,
    sig: NodeId,
    keys: &[TrustedKey],
    policy: AlgorithmPolicy,
) -> Result<(), SamlError> {
    let signed_info = doc.only_child(sig, NS_DSIG, "SignedInfo")?;
    let sig_value = doc.only_child(sig, NS_DSIG, "SignatureValue")?;
    for c in doc.child_elements(sig) {
        let ok = [
            (NS_DSIG, "SignedInfo"),
            (NS_DSIG, "SignatureValue"),
            (NS_DSIG, "KeyInfo"),
            (NS_DSIG, "Object"),
        ]
        .iter()
        .any(|(ns, l)| doc.is(c, ns, l));
        if !ok {
            return Err(refuse("unexpected element inside Signature"));
        }
    }
    // The signed-info children, in schema order.
    let parts: Vec<NodeId> = doc.child_elements(signed_info).collect();
    let [c14n_method, sig_method, reference] = parts.as_slice() else {
        return Err(refuse(
            "SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one Reference",
        ));
    };
    if !doc.is(*c14n_method, NS_DSIG, "CanonicalizationMethod")
        || !doc.is(*sig_method, NS_DSIG, "SignatureMethod")
        || !doc.is(*reference, NS_DSIG, "Reference")
    {
        return Err(refuse(
            "SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one Reference",
        ));
    }
    if doc.attr(*c14n_method, "Algorithm") != Some(EXC_C14N) {
        return Err(refuse(format!(
            "canonicalization '{}' is not allowed (only exclusive C14N without comments)",
            doc.attr(*c14n_method, "Algorithm").unwrap_or_default()
        )));
    }
    let (kind, algorithm) = signature_algorithm(doc.attr(*sig_method, "Algorithm").unwrap_or_default(), policy)?;
    if doc.child_elements(*sig_method).next().is_some() {
        // HMACOutputLength and friends.
        return Err(refuse("unexpected parameters on SignatureMethod"));
    }

    // The Reference must point at the target element, by its ID.
    let target_id = doc
        .attr(target, "ID")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| refuse("the signed element has no ID"))?;
    let uri = doc.attr(*reference, "URI").unwrap_or_default();
    if uri.strip_prefix('#') != Some(target_id) {
        return Err(refuse(format!(
            "the signature's Reference '{uri}' is not the signed element '#{target_id}'"
        )));
    }
    let ref_parts: Vec<NodeId> = doc.child_elements(*reference).collect();
    let [transforms, digest_method, digest_value] = ref_parts.as_slice() else {
        return Err(refuse("Reference must hold Transforms, DigestMethod and DigestValue"));
    };
    if !doc.is(*transforms, NS_DSIG, "Transforms")
        || !doc.is(*digest_method, NS_DSIG, "DigestMethod")
        || !doc.is(*digest_value, NS_DSIG, "DigestValue")
    {
        return Err(refuse("Reference must hold Transforms, DigestMethod and DigestValue"));
    }
    let ts: Vec<NodeId> = doc.child_elements(*transforms).collect();
    let [enveloped, exc] = ts.as_slice() else {
        return Err(refuse(
            "transforms must be exactly enveloped-signature and exclusive C14N",
        ));
    };
    let is_transform = |t: NodeId, alg: &str| doc.is(t, NS_DSIG, "Transform") && doc.attr(t, "Algorithm") == Some(alg);
    if !is_transform(*enveloped, ENVELOPED)
        || doc.child_elements(*enveloped).next().is_some()
        || !is_transform(*exc, EXC_C14N)
    {
        return Err(refuse(
            "transforms must be exactly enveloped-signature and exclusive C14N",
        ));
    }
    let digest_alg = digest_algorithm(doc.attr(*digest_method, "Algorithm").unwrap_or_default(), policy)?;

    // The digest of the target, without this signature.
    let inclusive = inclusive_prefixes(doc, *exc)?;
    let canonical = canonicalize(doc, target, Some(sig), &inclusive);
    let computed = digest::digest(digest_alg, &canonical);
    let expected = decode_b64(doc, *digest_value, "DigestValue")?;
    if computed.as_ref() != expected.as_slice() {
        return Err(refuse("the digest does not match: the signed element was changed"));
    }

    // The signature over SignedInfo, by a configured key of the right kind.
    let si_inclusive = inclusive_prefixes(doc, *c14n_method)?;
    let si_bytes = canonicalize(doc, signed_info, None, &si_inclusive);
    let value = decode_b64(doc, sig_value, "SignatureValue")?;
    let mut tried = false;
    for key in keys.iter().filter(|k| k.kind == kind) {
        tried = true;
        if UnparsedPublicKey::new(algorithm, &key.public_key)
            .verify(&si_bytes, &value)
            .is_ok()
        {
            return Ok(());
        }
    }
    Err(if tried {
        refuse("the signature was not made by any of the connection's certificates")
    } else {
        refuse("the connection has no certificate of the signature's key type")
    })
}
