//! Secrets at rest: what Roster keeps that would let someone act as it (SAML SP private
//! keys) is stored sealed with AES-256-GCM under a key that is not in the database
//! (`--secret-key-file` / `ROSTER_SECRET_KEY_FILE`, or `ROSTER_SECRET_KEY`, base64 of 32
//! bytes). A sealed value reads `sealed:v1:<key id>:<base64 of nonce, ciphertext, tag>`;
//! the key id (a hash of the key) says which key sealed it.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v1:";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the secret key must be 32 bytes, in base64")]
    BadKey,
    #[error("a value was sealed with another secret key (key id {0}): start with the key that sealed it")]
    OtherKey(String),
    #[error("a sealed value does not open: it is damaged, or the secret key is not the one that sealed it")]
    Damaged,
}

/// Seals and opens secrets with one key.
pub struct Sealer {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer({})", self.id)
    }
}

impl Sealer {
    /// The key, as base64 of 32 bytes (surrounding white space ignored).
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| SecretError::BadKey)?;
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SecretError::BadKey)?;
        let digest = Sha256::digest(bytes);
        let id = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            key: LessSafeKey::new(key),
            id,
        })
    }

    /// A new random key, as base64 of 32 bytes.
    pub fn generate() -> Result<String, SecretError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).map_err(|_| SecretError::BadKey)?;
        Ok(STANDARD.encode(bytes))
    }

    pub fn seal(&self, plain: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| SecretError::Damaged)?;
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.id.as_bytes()),
                &mut data,
            )
            .map_err(|_| SecretError::Damaged)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}:{}", self.id, STANDARD.encode(out)))
    }

    /// Opens a sealed value. A value stored before secrets were sealed is returned as
    /// it is (`is_sealed` tells them apart).
    pub fn open(&self, text: &str) -> Result<String, SecretError> {
        let Some(rest) = text.strip_prefix(PREFIX) else {
            return Ok(text.to_string());
        };
        let (id, body) = rest.split_once(':').ok_or(SecretError::Damaged)?;
        if id != self.id {
            return Err(SecretError::OtherKey(id.to_string()));
        }
        let raw = STANDARD.decode(body).map_err(|_| SecretError::Damaged)?;
        if raw.len() < NONCE_LEN {
            return Err(SecretError::Damaged);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Damaged)?;
        let mut data = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(self.id.as_bytes()), &mut data)
            .map_err(|_| SecretError::Damaged)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SecretError::Damaged)
    }

    pub fn is_sealed(text: &str) -> bool {
        text.starts_with(PREFIX)
    }

    /// Whether `text` was sealed by this key.
    pub fn sealed_by_me(&self, text: &str) -> bool {
        text.strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let key = Sealer::generate().unwrap();
        let sealer = Sealer::from_base64(&key).unwrap();
        let sealed = sealer.seal("-----BEGIN PRIVATE KEY-----\nabc\n").unwrap();
        assert!(
            Sealer::is_sealed(&sealed) && !sealed.contains("PRIVATE KEY"),
            "{sealed}"
        );
        assert_ne!(
            sealed,
            sealer.seal("-----BEGIN PRIVATE KEY-----\nabc\n").unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(sealer.open(&sealed).unwrap(), "-----BEGIN PRIVATE KEY-----\nabc\n");
        // Another key: refused, naming the key that sealed it.
        let other = Sealer::from_base64(&Sealer::generate().unwrap()).unwrap();
        assert!(matches!(other.open(&sealed), Err(SecretError::OtherKey(_))));
        // Tampered: refused.
        let mut tampered = sealed.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(matches!(sealer.open(&tampered), Err(SecretError::Damaged)));
        assert!(sealer.sealed_by_me(&sealed) && !other.sealed_by_me(&sealed));
        // A value from before sealing reads as it is.
        assert_eq!(sealer.open("plain").unwrap(), "plain");
        assert!(matches!(Sealer::from_base64("c2hvcnQ="), Err(SecretError::BadKey)));
    }
}
