//! `encrypt` / `decrypt` (athena-udfs' current scheme) and `hash_pii`.
//!
//! encrypt/decrypt: AES-256-GCM, 12-byte random IV, 128-bit tag, no AAD, output
//! `base64(iv ‖ ciphertext ‖ tag)`; the key is the base64 `SecretString` of the named
//! secret (32 bytes once decoded). hash_pii: HMAC-SHA256, lowercase hex, keyed with the
//! secret string's UTF-8 bytes. Secret values never appear in errors or logs.

use super::JAVA_DECODER;
use crate::udf::SecretRef;
use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::cell::RefCell;

const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("secret {secret} is not a base64 AES-256 key ({reason})")]
    Key { secret: String, reason: String },
    #[error("ciphertext is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("ciphertext is {0} bytes; at least {min} (IV + tag) expected", min = IV_LEN + TAG_LEN)]
    TooShort(usize),
    #[error("decryption failed with secret {secret}: wrong key or tampered ciphertext")]
    Authentication { secret: String },
    #[error("encryption failed")]
    Encrypt,
}

fn cipher(secret: &SecretRef<'_>) -> Result<Aes256Gcm, CryptoError> {
    let key_error = |reason: String| CryptoError::Key {
        secret: secret.name.to_string(),
        reason,
    };
    let key = JAVA_DECODER
        .decode(secret.value)
        .map_err(|_| key_error("the secret string is not base64".into()))?;
    Aes256Gcm::new_from_slice(&key)
        .map_err(|_| key_error(format!("{} bytes, 32 needed", key.len())))
}

/// `encrypt(varchar, secret_name) -> varchar`. NULL text (or secret name) gives NULL.
pub fn encrypt(
    text: Option<&str>,
    secret: Option<SecretRef<'_>>,
) -> Result<Option<String>, CryptoError> {
    let (Some(text), Some(secret)) = (text, secret) else {
        return Ok(None);
    };
    let iv: [u8; IV_LEN] = rand::random();
    encrypt_with_iv(text, &secret, iv).map(Some)
}

pub(crate) fn encrypt_with_iv(
    text: &str,
    secret: &SecretRef<'_>,
    iv: [u8; IV_LEN],
) -> Result<String, CryptoError> {
    let sealed = cipher(secret)?
        .encrypt(Nonce::from_slice(&iv), text.as_bytes())
        .map_err(|_| CryptoError::Encrypt)?;
    let mut out = Vec::with_capacity(IV_LEN + sealed.len());
    out.extend_from_slice(&iv);
    out.extend_from_slice(&sealed);
    Ok(STANDARD.encode(out))
}

/// `decrypt(varchar, secret_name) -> varchar`.
pub fn decrypt(
    text: Option<&str>,
    secret: Option<SecretRef<'_>>,
) -> Result<Option<String>, CryptoError> {
    let (Some(text), Some(secret)) = (text, secret) else {
        return Ok(None);
    };
    let bytes = JAVA_DECODER.decode(text)?;
    if bytes.len() < IV_LEN + TAG_LEN {
        return Err(CryptoError::TooShort(bytes.len()));
    }
    let (iv, sealed) = bytes.split_at(IV_LEN);
    let plain = cipher(&secret)?
        .decrypt(Nonce::from_slice(iv), sealed)
        .map_err(|_| CryptoError::Authentication {
            secret: secret.name.to_string(),
        })?;
    Ok(Some(String::from_utf8_lossy(&plain).into_owned()))
}

/// `hash_pii(varchar, secret_name) -> varchar`: keyed, so the hashes cannot be reversed
/// by hashing a dictionary of emails without the key; stable, so they still join.
pub fn hash_pii(
    value: Option<&str>,
    secret: Option<SecretRef<'_>>,
) -> Result<Option<String>, CryptoError> {
    let (Some(value), Some(secret)) = (value, secret) else {
        return Ok(None);
    };
    Ok(Some(hmac_hex(value.as_bytes(), &secret)))
}

/// `hash_pii(bigint, secret_name) -> varchar`: hashes the decimal text, so
/// `hash_pii(42, k) = hash_pii('42', k)`.
pub fn hash_pii_bigint(
    value: Option<i64>,
    secret: Option<SecretRef<'_>>,
) -> Result<Option<String>, CryptoError> {
    let (Some(value), Some(secret)) = (value, secret) else {
        return Ok(None);
    };
    Ok(Some(hmac_hex(value.to_string().as_bytes(), &secret)))
}

thread_local! {
    /// The keyed HMAC state for the last key seen: keying costs two SHA-256 blocks, a row
    /// then only clones it. Keyed by the key bytes themselves, so a rotated secret re-keys.
    static KEYED: RefCell<Option<(Vec<u8>, Hmac<Sha256>)>> = const { RefCell::new(None) };
}

fn keyed_mac(key: &[u8]) -> Hmac<Sha256> {
    KEYED.with(|cell| {
        let mut cached = cell.borrow_mut();
        match cached.as_ref() {
            Some((k, mac)) if k == key => mac.clone(),
            _ => {
                // HMAC accepts keys of any length.
                let mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                *cached = Some((key.to_vec(), mac.clone()));
                mac
            }
        }
    })
}

fn hmac_hex(value: &[u8], secret: &SecretRef<'_>) -> String {
    let mut mac = keyed_mac(secret.value.as_bytes());
    mac.update(value);
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: SecretRef<'static> = SecretRef {
        name: "my_secret_name",
        value: "i5YnyBO4gJKWuIQ+gjuJjcJ/5kUph9pmYFUbW7zf3PE=",
    };

    #[test]
    fn decrypts_the_athena_udfs_readme_vector() {
        assert_eq!(
            decrypt(
                Some("G/VP2sbMb7d4zE2HVl2XkiB5xUHpszlEjccEBsTVji209IaCjg=="),
                Some(KEY)
            )
            .unwrap()
            .as_deref(),
            Some("plaintext")
        );
    }

    #[test]
    fn encrypts_the_fixed_iv_vector_and_round_trips() {
        let iv: [u8; 12] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            encrypt_with_iv("abcdef", &KEY, iv).unwrap(),
            "AAECAwQFBgcICQoLQZNbI+pTwcWPhTs4DbrS9vmMT2O7FQ=="
        );
        let a = encrypt(Some("card 4111"), Some(KEY)).unwrap().unwrap();
        let b = encrypt(Some("card 4111"), Some(KEY)).unwrap().unwrap();
        assert_ne!(a, b, "a fresh IV per call");
        assert_eq!(
            decrypt(Some(&a), Some(KEY)).unwrap().as_deref(),
            Some("card 4111")
        );
        assert_eq!(encrypt(None, Some(KEY)).unwrap(), None);
        assert_eq!(decrypt(Some(&a), None).unwrap(), None);
    }

    #[test]
    fn keys_and_ciphertexts_decode_as_java_util_base64_does() {
        // Padding is optional and bits after the last byte are ignored (athena-udfs accepts
        // both), for the key secret and for the ciphertext.
        let unpadded = SecretRef {
            name: "unpadded",
            value: "i5YnyBO4gJKWuIQ+gjuJjcJ/5kUph9pmYFUbW7zf3PE",
        };
        let vector = "G/VP2sbMb7d4zE2HVl2XkiB5xUHpszlEjccEBsTVji209IaCjg==";
        for (ciphertext, key) in [
            (vector, unpadded),
            ("G/VP2sbMb7d4zE2HVl2XkiB5xUHpszlEjccEBsTVji209IaCjg", KEY),
            ("G/VP2sbMb7d4zE2HVl2XkiB5xUHpszlEjccEBsTVji209IaCjh==", KEY),
        ] {
            assert_eq!(
                decrypt(Some(ciphertext), Some(key)).unwrap().as_deref(),
                Some("plaintext"),
                "{ciphertext}"
            );
        }
        let sealed = encrypt(Some("x"), Some(unpadded)).unwrap().unwrap();
        assert_eq!(
            decrypt(Some(&sealed), Some(KEY)).unwrap().as_deref(),
            Some("x")
        );
        // Whitespace is still not base64 (Java's basic decoder rejects it too).
        let with_newline = SecretRef {
            name: "newline",
            value: "i5YnyBO4gJKWuIQ+gjuJjcJ/5kUph9pmYFUbW7zf3PE=\n",
        };
        assert!(decrypt(Some(vector), Some(with_newline)).is_err());
    }

    #[test]
    fn hash_pii_is_hmac_sha256_hex() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let jefe = SecretRef {
            name: "k",
            value: "Jefe",
        };
        assert_eq!(
            hash_pii(Some("what do ya want for nothing?"), Some(jefe))
                .unwrap()
                .as_deref(),
            Some("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert_eq!(
            hash_pii_bigint(Some(42), Some(jefe)).unwrap(),
            hash_pii(Some("42"), Some(jefe)).unwrap()
        );
        assert_eq!(hash_pii(None, Some(jefe)).unwrap(), None);
        // The per-thread keyed state follows the key: A, B, A again.
        let other = SecretRef {
            name: "k2",
            value: "other",
        };
        let a = hash_pii(Some("x"), Some(jefe)).unwrap();
        let b = hash_pii(Some("x"), Some(other)).unwrap();
        assert_ne!(a, b);
        assert_eq!(hash_pii(Some("x"), Some(jefe)).unwrap(), a);
    }

    #[test]
    fn bad_keys_and_ciphertexts_are_clear_errors_without_the_key() {
        let short = SecretRef {
            name: "short",
            value: "c2hvcnQ=",
        };
        let not_b64 = SecretRef {
            name: "plain",
            value: "not base64!",
        };
        let wrong = SecretRef {
            name: "other",
            value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        };
        let vector = "G/VP2sbMb7d4zE2HVl2XkiB5xUHpszlEjccEBsTVji209IaCjg==";
        let cases = [
            (
                decrypt(Some(vector), Some(short)),
                "secret short is not a base64 AES-256 key (5 bytes, 32 needed)",
            ),
            (
                encrypt(Some("x"), Some(not_b64)),
                "secret plain is not a base64 AES-256 key (the secret string is not base64)",
            ),
            (
                decrypt(Some(vector), Some(wrong)),
                "decryption failed with secret other: wrong key or tampered ciphertext",
            ),
            (
                decrypt(Some("AAAA"), Some(KEY)),
                "ciphertext is 3 bytes; at least 28 (IV + tag) expected",
            ),
            (decrypt(Some("!!"), Some(KEY)), "ciphertext is not base64"),
        ];
        for (result, expected) in cases {
            let err = result.unwrap_err().to_string();
            assert!(err.starts_with(expected), "{err}");
            assert!(!err.contains(KEY.value) && !err.contains("c2hvcnQ="));
        }
    }
}
