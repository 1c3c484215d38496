//! The UDF library: a drop-in for AWS's athena-udfs (`compress`, `decompress`, `encrypt`,
//! `decrypt`) plus functions for clickstream and catalog lakes. Each UDF is a plain
//! function here; [`registry`] is the one place they are registered.

pub mod compression;
pub mod crypto;
pub mod text;

use crate::udf::{Bigint, Registry, Row, Secret, Varchar};

/// Every UDF this Lambda serves.
pub fn registry() -> Registry {
    let mut r = Registry::default();
    r.scalar1::<Varchar, Varchar, _, _>("compress", compression::compress)
        .scalar1::<Varchar, Varchar, _, _>("decompress", compression::decompress)
        .scalar2::<Varchar, Secret, Varchar, _, _>("encrypt", crypto::encrypt)
        .scalar2::<Varchar, Secret, Varchar, _, _>("decrypt", crypto::decrypt)
        .scalar2::<Varchar, Secret, Varchar, _, _>("hash_pii", crypto::hash_pii)
        .scalar2::<Bigint, Secret, Varchar, _, _>("hash_pii", crypto::hash_pii_bigint)
        .scalar1::<Varchar, Row, _, _>("parse_user_agent", text::parse_user_agent)
        .scalar1::<Varchar, Varchar, _, _>("mask_email", text::mask_email)
        .scalar1::<Varchar, Varchar, _, _>("anonymize_ip", text::anonymize_ip)
        .scalar1::<Varchar, Varchar, _, _>("flatten_json", text::flatten_json)
        .scalar1::<Varchar, Varchar, _, _>("detect_language", text::detect_language);
    r
}
