//! Running the third-party signers.

use crate::build::{signature_template, Shape, Signing, Spec, SIG_ASSERTION, SIG_RESPONSE};
use crate::{write, Idp};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python that has `signxml`.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("ROSTER_PYTHON") {
        return p.into();
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let cache = std::env::var("XDG_CACHE_HOME").unwrap_or_else(|_| format!("{home}/.cache"));
    PathBuf::from(cache).join("roster-venv/bin/python")
}

/// Runs `xmlsec1` with `args`; panics with its stderr when it fails.
pub fn run_xmlsec1(args: &[&str]) -> String {
    let out = Command::new("xmlsec1")
        .args(args)
        .output()
        .expect("xmlsec1 is not installed: run scripts/deps.sh");
    assert!(
        out.status.success(),
        "xmlsec1 {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn sign_one(idp: &Idp, xml: &str, spec: &Spec, which: Signing) -> String {
    let (marker, id, xpath) = match which {
        Signing::Assertion => (
            SIG_ASSERTION,
            spec.assertion_id.as_str(),
            "/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']",
        ),
        _ => (
            SIG_RESPONSE,
            spec.response_id.as_str(),
            "/*[local-name()='Response']/*[local-name()='Signature']",
        ),
    };
    let doc = xml.replacen(marker, &signature_template(spec, id), 1);
    let input = write(&idp.dir, "in.xml", &doc);
    let output = idp.dir.join(format!("{}-out.xml", uuid::Uuid::new_v4().simple()));
    if matches!(spec.shape, Shape::Google | Shape::Adfs) {
        let out = Command::new(crate::python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/signxml_sign.py"))
            .args([&input, &output, &idp.key_path(), &idp.cert_path()])
            .args([id, &spec.signature_algorithm, &spec.digest_algorithm])
            .output()
            .expect("python with signxml is not installed: run scripts/deps.sh");
        assert!(
            out.status.success(),
            "signxml failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        let key = format!("{},{}", idp.key_path().display(), idp.cert_path().display());
        run_xmlsec1(&[
            "--sign",
            "--privkey-pem",
            &key,
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            "--node-xpath",
            xpath,
            "--output",
            output.to_str().expect("path"),
            input.to_str().expect("path"),
        ]);
    }
    let signed = std::fs::read_to_string(&output).expect("signed output");
    let _ = std::fs::remove_file(input);
    let _ = std::fs::remove_file(output);
    signed
}

fn strip_markers(xml: &str) -> String {
    xml.replace(SIG_RESPONSE, "").replace(SIG_ASSERTION, "")
}

/// Signs the assertion and/or the response (the assertion first: the response's
/// signature covers it).
pub(crate) fn sign(idp: &Idp, xml: &str, spec: &Spec, between: &dyn Fn(String) -> String) -> String {
    let mut doc = xml.to_string();
    if matches!(spec.signing, Signing::Assertion | Signing::Both) {
        doc = sign_one(idp, &doc.replace(SIG_RESPONSE, ""), spec, Signing::Assertion);
        // Put the response marker back after the response's Issuer.
        doc = reinsert_response_marker(&doc);
    }
    doc = between(doc);
    if matches!(spec.signing, Signing::Response | Signing::Both) {
        doc = sign_one(idp, &doc.replace(SIG_ASSERTION, ""), spec, Signing::Response);
    }
    strip_markers(&doc)
}

/// After the first `</…Issuer>` (the Response's own Issuer).
fn reinsert_response_marker(xml: &str) -> String {
    let end = ["</saml2:Issuer>", "</Issuer>"]
        .iter()
        .filter_map(|t| xml.find(t).map(|i| i + t.len()))
        .min()
        .expect("an Issuer");
    format!("{}{SIG_RESPONSE}{}", &xml[..end], &xml[end..])
}

/// The span of the assertion element in `xml`.
pub fn assertion_span(xml: &str) -> (usize, usize) {
    let start = xml
        .find("<saml2:Assertion")
        .or_else(|| xml.find("<Assertion"))
        .expect("an Assertion");
    let close = if xml[start..].starts_with("<saml2:") {
        "</saml2:Assertion>"
    } else {
        "</Assertion>"
    };
    let end = xml.rfind(close).expect("an Assertion end") + close.len();
    (start, end)
}

pub(crate) fn encrypt_assertion(dir: &Path, signed: &str, spec: &Spec, sp_cert_pem: &str, content_alg: &str) -> String {
    let (start, end) = assertion_span(signed);
    let assertion = signed[start..end].to_string();
    // Google's shape declares the assertion prefix on the Response only: its fragment
    // is encrypted as the bytes it is (not as a standalone XML document), so the
    // plaintext relies on the declarations of the Response it is decrypted into.
    let raw = spec.shape == Shape::Google;
    let template = format!(
        concat!(
            r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element">"#,
            r#"<xenc:EncryptionMethod Algorithm="{alg}"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">"#,
            r#"<xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p">"#,
            r#"<ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></xenc:EncryptionMethod>"#,
            r#"<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>"#,
            r#"<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"#
        ),
        alg = content_alg
    );
    let session = if content_alg.contains("aes128") {
        "aes-128"
    } else {
        "aes-256"
    };
    let data = write(dir, "assertion.xml", &assertion);
    let tmpl = write(dir, "enc-template.xml", &template);
    let cert = write(dir, "sp-cert.pem", sp_cert_pem);
    let out = dir.join(format!("{}-enc.xml", uuid::Uuid::new_v4().simple()));
    let mut args = vec![
        "--encrypt",
        "--pubkey-cert-pem",
        cert.to_str().expect("path"),
        "--session-key",
        session,
    ];
    if raw {
        args.extend(["--binary-data", data.to_str().expect("path")]);
    } else {
        args.extend([
            "--xml-data",
            data.to_str().expect("path"),
            "--node-name",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        ]);
    }
    args.extend(["--output", out.to_str().expect("path"), tmpl.to_str().expect("path")]);
    run_xmlsec1(&args);
    let enc = std::fs::read_to_string(&out).expect("encrypted output");
    let enc = match enc.find("?>") {
        Some(i) if enc.starts_with("<?xml") => enc[i + 2..].trim(),
        _ => enc.trim(),
    };
    format!(
        r#"{}<saml2:EncryptedAssertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion">{}</saml2:EncryptedAssertion>{}"#,
        &signed[..start],
        enc,
        &signed[end..]
    )
}
