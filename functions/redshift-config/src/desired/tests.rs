use super::*;
use serde_json::json;

pub(crate) fn sample() -> Vec<Value> {
    serde_json::from_str(include_str!(
        "../../../../infra/redshift/sample-config.json"
    ))
    .unwrap()
}

#[test]
fn the_sample_config_validates() {
    let config = from_items("analytics", &sample()).unwrap();
    assert_eq!(config.target.dialect, Dialect::Redshift);
    assert_eq!(
        config.target.credentials,
        Credentials::Cluster {
            cluster_identifier: "analytics".into()
        }
    );
    assert_eq!(config.target.sslmode, SslMode::VerifyFull);
    assert_eq!(config.groups.len(), 2);
    let jane = &config.users[&Ident::user("jane").unwrap()];
    assert_eq!(
        jane.password_secret.as_deref(),
        Some("redshift/analytics/jane")
    );
    assert_eq!(jane.connection_limit, Some(10));
    let old = &config.users[&Ident::user("old_contractor").unwrap()];
    assert!(!old.present);
    assert_eq!(old.on_remove, OnRemove::Disable);
    let marts = &config.schemas[0];
    assert_eq!(marts.database, "dev");
    assert_eq!(
        marts.grants[&Grantee::Group(Ident::object("group", "loaders").unwrap())],
        [Privilege::Usage, Privilege::Create].into_iter().collect()
    );
    assert!(config.manages(&Grantee::Group(Ident::object("group", "analysts").unwrap())));
    assert!(!config.manages(&Grantee::User(Ident::user("old_contractor").unwrap())));
    assert!(!config.manages(&Grantee::Public));
}

#[test]
fn every_error_is_reported_at_once_naming_its_item() {
    let mut items = sample();
    items.extend([
        json!({"target": "analytics", "id": "USER#Bob"}),
        json!({"target": "analytics", "id": "GROUP#analysts\"; DROP TABLE users; --"}),
        json!({"target": "analytics", "id": "USER#eve", "groups": ["nope"], "valid_until": "2027' OR '1"}),
        json!({"target": "analytics", "id": "SCHEMA#raw", "grants": [{"to": "group:analysts", "privileges": ["SELECT", "ALL; DROP"]}]}),
        json!({"target": "analytics", "id": "SCHEMA#stage", "default_privileges": [{"owner": "loaders", "object_type": "tables", "to": "group:analysts", "privileges": ["SELECT"]}]}),
        json!({"target": "analytics", "id": "ROLE#jane"}),
        json!({"target": "analytics", "id": "USER#root", "superuser": true}),
        json!({"target": "analytics", "id": "WAREHOUSE#x"}),
        json!({"target": "analytics", "id": "USER#mallory", "admin": true}),
        json!({"target": "analytics", "id": "SCHEMA#s2", "grants": [{"to": "wizard:x", "privileges": ["USAGE"]}]}),
    ]);
    let err = from_items("analytics", &items).unwrap_err();
    let expected = [
        "USER#Bob: user name \"Bob\" is invalid: must start with a lowercase letter",
        "GROUP#analysts\"; DROP TABLE users; --: group name",
        "USER#eve: group \"nope\" is not configured",
        "USER#eve: valid_until of USER#eve contains ' or \\",
        "SCHEMA#raw: privilege \"SELECT\" is not one of USAGE, CREATE",
        "SCHEMA#raw: privilege \"ALL; DROP\" is not one of",
        "SCHEMA#stage: default privilege owner \"loaders\" must be a configured user (never a group)",
        "ROLE#jane: the same name is also a USER",
        "USER#root: a superuser needs a managed password",
        "WAREHOUSE#x: unknown item kind \"WAREHOUSE\"",
        "USER#mallory: unknown field `admin`",
        "SCHEMA#s2: grantee kind \"wizard\" must be group, role or user",
    ];
    for e in expected {
        assert!(
            err.errors.iter().any(|m| m.starts_with(e)),
            "missing {e:?} in {:#?}",
            err.errors
        );
    }
    assert_eq!(err.errors.len(), expected.len(), "{:#?}", err.errors);
    assert!(err
        .to_string()
        .starts_with("the configuration of target \"analytics\" has 12 error(s):"));
}

#[test]
fn the_target_item_is_checked() {
    let items = vec![
        json!({"target": "t", "id": "TARGET", "databases": [], "host": "h", "admin_user": "Admin",
        "cluster_identifier": "c", "workgroup_name": "w"}),
    ];
    let err = from_items("t", &items).unwrap_err();
    assert!(
        err.errors
            .iter()
            .any(|e| e.contains("databases must list at least one")),
        "{err}"
    );
    assert!(
        err.errors
            .iter()
            .any(|e| e.contains("exactly one of cluster_identifier")),
        "{err}"
    );
    let err = from_items("t", &[]).unwrap_err();
    assert_eq!(
        err.errors,
        vec!["TARGET: missing: every target needs a TARGET item"]
    );
}
