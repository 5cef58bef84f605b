//! `EncryptedAssertion` (XML Encryption 1.1): the content key is RSA-OAEP-wrapped for
//! the SP's key; the assertion is AES-GCM encrypted (AES-CBC only when the connection
//! opted in, because CBC without a MAC invites padding-oracle attacks). RSA PKCS#1 v1.5
//! key transport is never accepted. Private-key operations run on aws-lc.

use crate::dsig::NS_DSIG;
use crate::keys::SpKey;
use crate::xml::{Document, NodeId};
use crate::SamlError;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use aws_lc_rs::cipher::{DecryptingKey, DecryptionContext, UnboundCipherKey, AES_128, AES_256};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{OaepAlgorithm, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
pub const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";

fn fail(msg: impl Into<String>) -> SamlError {
    SamlError::Decrypt(msg.into())
}

#[derive(Clone, Copy)]
enum Content {
    Gcm(&'static aws_lc_rs::aead::Algorithm, usize),
    Cbc(&'static aws_lc_rs::cipher::Algorithm, usize),
}

fn content_algorithm(uri: &str, allow_cbc: bool) -> Result<Content, SamlError> {
    match uri {
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => Ok(Content::Gcm(&AES_128_GCM, 16)),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => Ok(Content::Gcm(&AES_256_GCM, 32)),
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" if allow_cbc => Ok(Content::Cbc(&AES_128, 16)),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" if allow_cbc => Ok(Content::Cbc(&AES_256, 32)),
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" | "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => Err(
            SamlError::WeakAlgorithm("the assertion is AES-CBC encrypted, which this connection does not allow".into()),
        ),
        other => Err(SamlError::WeakAlgorithm(format!(
            "encryption algorithm '{other}' is not allowed"
        ))),
    }
}

fn key_transport(doc: &Document, method: NodeId) -> Result<&'static OaepAlgorithm, SamlError> {
    let alg = doc.attr(method, "Algorithm").unwrap_or_default();
    let digest = doc
        .children_named(method, NS_DSIG, "DigestMethod")
        .next()
        .and_then(|d| doc.attr(d, "Algorithm"))
        .unwrap_or("http://www.w3.org/2000/09/xmldsig#sha1");
    let mgf = doc
        .children_named(method, NS_XENC11, "MGF")
        .next()
        .and_then(|d| doc.attr(d, "Algorithm"))
        .unwrap_or("http://www.w3.org/2009/xmlenc11#mgf1sha1");
    match (alg, digest, mgf) {
        ("http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p", "http://www.w3.org/2000/09/xmldsig#sha1", _)
        | (
            "http://www.w3.org/2009/xmlenc11#rsa-oaep",
            "http://www.w3.org/2000/09/xmldsig#sha1",
            "http://www.w3.org/2009/xmlenc11#mgf1sha1",
        ) => Ok(&OAEP_SHA1_MGF1SHA1),
        (
            "http://www.w3.org/2009/xmlenc11#rsa-oaep",
            "http://www.w3.org/2001/04/xmlenc#sha256",
            "http://www.w3.org/2009/xmlenc11#mgf1sha256",
        ) => Ok(&OAEP_SHA256_MGF1SHA256),
        ("http://www.w3.org/2001/04/xmlenc#rsa-1_5", _, _) => Err(SamlError::WeakAlgorithm(
            "RSA PKCS#1 v1.5 key transport is never accepted".into(),
        )),
        (a, d, m) => Err(SamlError::WeakAlgorithm(format!(
            "key transport '{a}' with digest '{d}' and MGF '{m}' is not supported"
        ))),
    }
}

fn cipher_value(doc: &Document, owner: NodeId) -> Result<Vec<u8>, SamlError> {
    let data = doc.only_child(owner, NS_XENC, "CipherData")?;
    let value = doc.only_child(data, NS_XENC, "CipherValue")?;
    let text: Vec<u8> = doc.text(value).bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    STANDARD.decode(text).map_err(|_| fail("CipherValue is not base64"))
}

const MAX_ENCRYPTED_KEYS: usize = 4;

/// Decrypts the `EncryptedAssertion` at `node` with one of `keys` and returns the
/// assertion's XML text.
pub fn decrypt_assertion(doc: &Document, node: NodeId, keys: &[SpKey], allow_cbc: bool) -> Result<String, SamlError> {
    if keys.is_empty() {
        return Err(fail("the assertion is encrypted but the connection has no SP key"));
    }
    let data = doc.only_child(node, NS_XENC, "EncryptedData")?;
    let method = doc.only_child(data, NS_XENC, "EncryptionMethod")?;
    let content = content_algorithm(doc.attr(method, "Algorithm").unwrap_or_default(), allow_cbc)?;
    // The wrapped key: inside EncryptedData's KeyInfo, or beside EncryptedData.
    let mut wrapped: Vec<NodeId> = Vec::new();
    if let Some(ki) = doc.optional_child(data, NS_DSIG, "KeyInfo")? {
        wrapped.extend(doc.children_named(ki, NS_XENC, "EncryptedKey"));
    }
    wrapped.extend(doc.children_named(node, NS_XENC, "EncryptedKey"));
    if wrapped.is_empty() {
        return Err(fail("no EncryptedKey"));
    }
    // Each one costs an RSA private-key operation per SP key: an IdP sends one (one
    // per recipient certificate at most).
    if wrapped.len() > MAX_ENCRYPTED_KEYS {
        return Err(fail(format!("more than {MAX_ENCRYPTED_KEYS} EncryptedKey elements")));
    }
    let mut content_key: Option<Vec<u8>> = None;
    for ek in wrapped {
        let transport = key_transport(doc, doc.only_child(ek, NS_XENC, "EncryptionMethod")?)?;
        let wrapped_key = cipher_value(doc, ek)?;
        for key in keys {
            let oaep = &key.decrypter;
            let mut out = vec![0u8; oaep.min_output_size()];
            if let Ok(plain) = oaep.decrypt(transport, &wrapped_key, &mut out, None) {
                content_key = Some(plain.to_vec());
                break;
            }
        }
        if content_key.is_some() {
            break;
        }
    }
    let content_key = content_key.ok_or_else(|| fail("no SP key could unwrap the content key"))?;
    let mut body = cipher_value(doc, data)?;
    let plain: Vec<u8> = match content {
        Content::Gcm(alg, len) => {
            if content_key.len() != len || body.len() < 12 + 16 {
                return Err(fail("the content key or ciphertext has the wrong length"));
            }
            let key = LessSafeKey::new(UnboundKey::new(alg, &content_key).map_err(|_| fail("bad content key"))?);
            let (iv, rest) = body.split_at_mut(12);
            let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| fail("bad IV"))?;
            key.open_in_place(nonce, Aad::empty(), rest)
                .map_err(|_| fail("the ciphertext does not authenticate"))?
                .to_vec()
        }
        Content::Cbc(alg, len) => {
            if content_key.len() != len || body.len() < 32 || body.len() % 16 != 0 {
                return Err(fail("the content key or ciphertext has the wrong length"));
            }
            let key =
                DecryptingKey::cbc(UnboundCipherKey::new(alg, &content_key).map_err(|_| fail("bad content key"))?)
                    .map_err(|_| fail("bad content key"))?;
            let (iv, rest) = body.split_at_mut(16);
            let iv: FixedLength<16> = FixedLength::try_from(&*iv).map_err(|_| fail("bad IV"))?;
            let out = key
                .decrypt(rest, DecryptionContext::Iv128(iv))
                .map_err(|_| fail("cannot decrypt"))?;
            // XML Encryption padding: the last byte says how many bytes were added.
            let pad = usize::from(out.last().copied().unwrap_or(0));
            if pad == 0 || pad > 16 || pad > out.len() {
                return Err(fail("cannot decrypt"));
            }
            out.get(..out.len() - pad).unwrap_or_default().to_vec()
        }
    };
    String::from_utf8(plain).map_err(|_| fail("the decrypted assertion is not UTF-8"))
}
