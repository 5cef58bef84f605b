//! The provider side's signing keys and the JWS it mints: key pairs for RS256 (2048-bit
//! RSA), ES256 (P-256) and EdDSA (Ed25519), their public JWKs, and compact JWS
//! signatures (the ID tokens Roster issues to apps).

use crate::{b64url, OidcError};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, KeyPair};
use serde_json::{json, Value};

/// An algorithm Roster signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
    EdDsa,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::Rs256, Alg::Es256, Alg::EdDsa];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A new key pair: its private key (PKCS#8 DER, to be stored sealed) and public JWK.
pub struct KeyMaterial {
    pub private_pkcs8: Vec<u8>,
    pub public_jwk: Value,
}

fn failed(what: &str) -> OidcError {
    OidcError::Jwks(format!("cannot {what}"))
}

/// Makes a key pair for `alg`, its public JWK named `kid`.
pub fn generate(alg: Alg, kid: &str) -> Result<KeyMaterial, OidcError> {
    let private_pkcs8 = match alg {
        Alg::Rs256 => {
            let k =
                sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|_| failed("make an RSA key"))?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der = k.as_der().map_err(|_| failed("encode an RSA key"))?;
            der.as_ref().to_vec()
        }
        Alg::Es256 => sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)
            .and_then(|k| k.to_pkcs8v1())
            .map_err(|_| failed("make an EC key"))?
            .as_ref()
            .to_vec(),
        Alg::EdDsa => sig::Ed25519KeyPair::generate()
            .and_then(|k| k.to_pkcs8())
            .map_err(|_| failed("make an Ed25519 key"))?
            .as_ref()
            .to_vec(),
    };
    let public_jwk = public_jwk(alg, kid, &private_pkcs8)?;
    Ok(KeyMaterial {
        private_pkcs8,
        public_jwk,
    })
}

/// The public JWK of the private key `pkcs8`.
pub fn public_jwk(alg: Alg, kid: &str, pkcs8: &[u8]) -> Result<Value, OidcError> {
    let common = json!({"kid": kid, "use": "sig", "alg": alg.as_str()});
    let mut jwk = match alg {
        Alg::Rs256 => {
            let k = sig::RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| failed("read an RSA key"))?;
            let c = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(k.public_key());
            json!({"kty": "RSA", "n": b64url(&c.n), "e": b64url(&c.e)})
        }
        Alg::Es256 => {
            let k = sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                .map_err(|_| failed("read an EC key"))?;
            let point = k.public_key().as_ref();
            let xy = point
                .get(1..)
                .filter(|xy| xy.len() == 64)
                .ok_or_else(|| failed("read an EC point"))?;
            let (x, y) = xy.split_at(32);
            json!({"kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y)})
        }
        Alg::EdDsa => {
            let k = sig::Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| failed("read an Ed25519 key"))?;
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(k.public_key().as_ref())})
        }
    };
    if let (Some(j), Some(c)) = (jwk.as_object_mut(), common.as_object()) {
        j.extend(c.clone());
    }
    Ok(jwk)
}

/// A private key read once (from PKCS#8), to sign many tokens with: reading an RSA key
/// checks it, which costs about as much as a signature.
pub struct Signer {
    alg: Alg,
    kid: String,
    key: Parsed,
}

enum Parsed {
    Rsa(sig::RsaKeyPair),
    Ec(sig::EcdsaKeyPair),
    Ed(sig::Ed25519KeyPair),
}

impl Signer {
    /// Reads the private key `pkcs8` of `alg`, published as `kid`.
    pub fn from_pkcs8(alg: Alg, kid: &str, pkcs8: &[u8]) -> Result<Self, OidcError> {
        let key = match alg {
            Alg::Rs256 => Parsed::Rsa(sig::RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| failed("read an RSA key"))?),
            Alg::Es256 => Parsed::Ec(
                sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|_| failed("read an EC key"))?,
            ),
            Alg::EdDsa => {
                Parsed::Ed(sig::Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| failed("read an Ed25519 key"))?)
            }
        };
        Ok(Self {
            alg,
            kid: kid.to_string(),
            key,
        })
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A compact JWS of `claims`, its header naming the key and `typ` (`JWT` for ID
    /// tokens, `logout+jwt` for back-channel logout tokens).
    pub fn sign(&self, typ: &str, claims: &Value) -> Result<String, OidcError> {
        let header = json!({"alg": self.alg.as_str(), "kid": self.kid, "typ": typ});
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let signature = match &self.key {
            Parsed::Rsa(k) => {
                let mut out = vec![0; k.public_modulus_len()];
                k.sign(&sig::RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut out)
                    .map_err(|_| failed("sign"))?;
                out
            }
            Parsed::Ec(k) => k
                .sign(&rng, input.as_bytes())
                .map_err(|_| failed("sign"))?
                .as_ref()
                .to_vec(),
            Parsed::Ed(k) => k.sign(input.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!("{input}.{}", b64url(&signature)))
    }
}

/// A compact JWS of `claims`, signed with the private key `pkcs8` of `alg`, its header
/// naming `kid` and `typ` (`JWT` for ID tokens): [`Signer`] for one token.
pub fn sign(alg: Alg, kid: &str, typ: &str, pkcs8: &[u8], claims: &Value) -> Result<String, OidcError> {
    Signer::from_pkcs8(alg, kid, pkcs8)?.sign(typ, claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{verify_id_token, Expectations, Jwks};

    #[test]
    fn minted_tokens_verify_with_the_published_keys_only() {
        let now = 1_800_000_000;
        let claims = json!({"iss": "https://roster.example", "aud": "app_1", "sub": "u1", "exp": now + 300,
                            "iat": now, "nonce": "n"});
        let expect = Expectations {
            issuer: "https://roster.example",
            client_id: "app_1",
            nonce: "n",
            now_secs: now,
            skew_secs: 0,
        };
        let keys: Vec<(Alg, KeyMaterial)> = Alg::ALL
            .into_iter()
            .map(|alg| (alg, generate(alg, &format!("k-{}", alg.as_str())).unwrap()))
            .collect();
        let jwks = Jwks::parse(
            json!({"keys": keys.iter().map(|(_, k)| k.public_jwk.clone()).collect::<Vec<_>>()})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(jwks.len(), 3);
        for (alg, k) in &keys {
            let kid = format!("k-{}", alg.as_str());
            assert_eq!(public_jwk(*alg, &kid, &k.private_pkcs8).unwrap(), k.public_jwk);
            let token = sign(*alg, &kid, "JWT", &k.private_pkcs8, &claims).unwrap();
            let got = verify_id_token(&token, &jwks, &expect).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(got["sub"], "u1");
            // Signed by one key under another key's kid, or a kid not published: refused.
            for other in Alg::ALL.into_iter().filter(|a| a != alg) {
                let wrong = sign(*alg, &format!("k-{}", other.as_str()), "JWT", &k.private_pkcs8, &claims).unwrap();
                assert!(verify_id_token(&wrong, &jwks, &expect).is_err(), "{alg:?} as {other:?}");
            }
            let unknown = sign(*alg, "k-unknown", "JWT", &k.private_pkcs8, &claims).unwrap();
            assert!(verify_id_token(&unknown, &jwks, &expect).is_err());
        }
        assert!(k_has_no_private_parts(&keys[0].1.public_jwk));
    }

    fn k_has_no_private_parts(jwk: &Value) -> bool {
        ["d", "p", "q", "dp", "dq", "qi"].iter().all(|k| jwk.get(k).is_none())
    }
}
