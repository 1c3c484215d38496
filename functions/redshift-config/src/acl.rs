//! ACL strings from the catalogs (`grantee=privs/grantor` items). Redshift writes a group
//! as `group NAME`, PostgreSQL the bare role name; an empty grantee is PUBLIC; names may be
//! quoted with `""` escapes. Letters differ per dialect: `D` is DROP on Redshift and
//! TRUNCATE on PostgreSQL (not managed).

use crate::desired::{Dialect, Privilege, Privileges};
use std::collections::BTreeMap;

/// A grantee as the catalog names it; mapped to config kinds by the planner.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AclGrantee {
    /// A user, or on PostgreSQL any role (users, groups and roles share a namespace).
    Name(String),
    /// Redshift's `group NAME`.
    Group(String),
    /// A Redshift role: its grants are not in the ACL columns, only in the `svv_*_privileges`
    /// views (identity_type `role`).
    Role(String),
    Public,
}

pub type Acl = BTreeMap<AclGrantee, Privileges>;

fn privilege(letter: char, dialect: Dialect) -> Option<Privilege> {
    Some(match letter {
        'r' => Privilege::Select,
        'w' => Privilege::Update,
        'a' => Privilege::Insert,
        'd' => Privilege::Delete,
        'x' => Privilege::References,
        'D' if dialect == Dialect::Redshift => Privilege::Drop,
        'U' => Privilege::Usage,
        'C' => Privilege::Create,
        'T' => Privilege::Temp,
        'X' => Privilege::Execute,
        // TRIGGER, RULE, TRUNCATE (PG's D), CONNECT, MAINTAIN…: not managed.
        _ => return None,
    })
}

fn unquote(name: &str) -> String {
    match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => name.to_string(),
    }
}

/// Parse one ACL rendered with `array_to_string(acl, '|')` (or the `{…}` array text).
pub fn parse(text: &str, dialect: Dialect) -> Acl {
    let mut acl = Acl::new();
    let text = text.trim().trim_start_matches('{').trim_end_matches('}');
    for raw in split_items(text) {
        let item = unquote(raw.trim());
        let Some((left, _grantor)) = item.rsplit_once('/') else {
            continue;
        };
        let Some((grantee, letters)) = left.rsplit_once('=') else {
            continue;
        };
        let grantee = unquote(grantee);
        let grantee = if grantee.is_empty() {
            AclGrantee::Public
        } else if let Some(group) = grantee.strip_prefix("group ") {
            AclGrantee::Group(unquote(group))
        } else {
            AclGrantee::Name(grantee)
        };
        let privileges: Privileges = letters
            .chars()
            .filter_map(|c| privilege(c, dialect))
            .collect();
        if !privileges.is_empty() {
            acl.entry(grantee).or_default().extend(privileges);
        }
    }
    acl
}

/// Split on `|` or `,` outside double quotes.
fn split_items(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '|' | ',' if !quoted => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < text.len() {
        items.push(&text[start..]);
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use Privilege::*;

    fn set(p: &[Privilege]) -> Privileges {
        p.iter().copied().collect()
    }

    #[test]
    fn parses_both_dialects() {
        let redshift = parse(
            "admin=UC/admin|\"group analysts=U/admin\"|=U/admin|etl=rwadxD/admin|\"group we\"\"ird=C/admin\"",
            Dialect::Redshift,
        );
        assert_eq!(
            redshift[&AclGrantee::Group("analysts".into())],
            set(&[Usage])
        );
        assert_eq!(redshift[&AclGrantee::Public], set(&[Usage]));
        assert_eq!(
            redshift[&AclGrantee::Name("etl".into())],
            set(&[Select, Update, Insert, Delete, References, Drop])
        );
        assert_eq!(
            redshift[&AclGrantee::Group("we\"ird".into())],
            set(&[Create])
        );
        let pg = parse(
            "{postgres=arwdDxt/postgres,analysts=r*/postgres,\"odd name\"=X/postgres}",
            Dialect::Postgres,
        );
        assert_eq!(
            pg[&AclGrantee::Name("postgres".into())],
            set(&[Insert, Select, Update, Delete, References])
        );
        assert_eq!(pg[&AclGrantee::Name("analysts".into())], set(&[Select]));
        assert_eq!(pg[&AclGrantee::Name("odd name".into())], set(&[Execute]));
        assert!(parse("", Dialect::Postgres).is_empty());
    }
}
