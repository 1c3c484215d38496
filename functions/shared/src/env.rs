//! Settings from the environment, read one way: typed getters over a lookup function
//! ([`Env`]) and one error ([`EnvError`]) naming the variable, its value and what it should
//! be. Every function's `Config::from_env` / `Config::from_lookup` reads through it; tests
//! pass a map as the lookup.
//!
//! The getters of optional settings return `Ok(None)` when the variable is not set, so the
//! default stays with the setting: `env.millis("CATALOG_TIMEOUT_MS")?.unwrap_or(…)`.
//! Values are trimmed before they are parsed; errors quote the value as it was given.

use std::borrow::Cow;
use std::fmt::Display;
use std::ops::{Bound, RangeBounds};
use std::str::FromStr;
use std::time::Duration;

/// Why a parse failed, kept as the error's source.
type Cause = Box<dyn std::error::Error + Send + Sync>;

/// A setting that is missing or refused.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("{name} is not set{}", hint.map(|h| format!(": {h}")).unwrap_or_default())]
    Missing {
        name: &'static str,
        /// What the variable is for, when the bare name does not say.
        hint: Option<&'static str>,
    },
    #[error("{name}={value:?} is invalid: expected {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: Cow<'static, str>,
        #[source]
        cause: Option<Cause>,
    },
}

impl EnvError {
    pub fn missing(name: &'static str) -> Self {
        EnvError::Missing { name, hint: None }
    }

    /// `name`'s value is not what it should be (for checks beyond the getters).
    pub fn invalid(
        name: &'static str,
        value: impl Into<String>,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        EnvError::Invalid {
            name,
            value: value.into(),
            expected: expected.into(),
            cause: None,
        }
    }

    fn caused_by(mut self, error: impl Into<Cause>) -> Self {
        if let EnvError::Invalid { cause, .. } = &mut self {
            *cause = Some(error.into());
        }
        self
    }

    /// The variable the error is about.
    pub fn name(&self) -> &'static str {
        match self {
            EnvError::Missing { name, .. } | EnvError::Invalid { name, .. } => name,
        }
    }

    /// The refused value (`None` when the variable is missing).
    pub fn value(&self) -> Option<&str> {
        match self {
            EnvError::Missing { .. } => None,
            EnvError::Invalid { value, .. } => Some(value),
        }
    }
}

/// The `FromStr` error of a choice enum: it knows the names accepted.
pub trait ChoiceError: std::error::Error + Send + Sync + 'static {
    /// The accepted names, `a | b | …`.
    fn choices(&self) -> &'static str;
}

/// A name none of a choice enum's choices has (the error of [`choices!`](crate::choices)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not one of {choices}")]
pub struct UnknownChoice {
    pub input: String,
    pub choices: &'static str,
}

impl ChoiceError for UnknownChoice {
    fn choices(&self) -> &'static str {
        self.choices
    }
}

#[cfg(feature = "flatten")]
impl ChoiceError for ferrolake_flatten::ParseChoiceError {
    fn choices(&self) -> &'static str {
        self.choices
    }
}

/// A choice enum's names, written once: its `FromStr` (error [`env::UnknownChoice`]) and
/// `CHOICES` (the first name of each variant, `a | b | …`) come from them. Names match
/// exactly, or ignoring ASCII case with `(ignore_ascii_case)` after the type.
///
/// ```ignore
/// ferrolake_shared::choices! {
///     Overflow {
///         "reingest" => Reingest,
///         "fail" | "failed" => Fail,
///     }
/// }
/// ```
///
/// [`env::UnknownChoice`]: crate::env::UnknownChoice
#[macro_export]
macro_rules! choices {
    (@fold $input:ident) => {
        ::std::borrow::Cow::<str>::Borrowed($input)
    };
    (@fold $input:ident ignore_ascii_case) => {
        ::std::borrow::Cow::<str>::Owned($input.to_ascii_lowercase())
    };
    ($ty:ident $(($case:tt))? {
        $first:literal $(| $first_alias:literal)* => $first_variant:ident
        $(, $name:literal $(| $alias:literal)* => $variant:ident)* $(,)?
    }) => {
        impl $ty {
            /// The accepted names, as the `FromStr` error lists them.
            pub const CHOICES: &'static str = concat!($first $(, " | ", $name)*);
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::env::UnknownChoice;

            fn from_str(input: &str) -> Result<Self, Self::Err> {
                let folded: ::std::borrow::Cow<str> = $crate::choices!(@fold input $($case)?);
                match ::std::convert::AsRef::<str>::as_ref(&folded) {
                    $first $(| $first_alias)* => Ok(Self::$first_variant),
                    $($name $(| $alias)* => Ok(Self::$variant),)*
                    _ => Err($crate::env::UnknownChoice {
                        input: input.to_string(),
                        choices: Self::CHOICES,
                    }),
                }
            }
        }

        // Every variant has a name: a new one without fails to compile here.
        const _: fn($ty) = |choice| match choice {
            $ty::$first_variant $(| $ty::$variant)* => {}
        };
    };
}

/// The environment as a lookup function: the process environment ([`from_process_env`])
/// or, in tests, a map.
pub struct Env<L> {
    lookup: L,
}

/// A lookup over fixed pairs (first match wins): tests and tools hand it to
/// `Config::from_lookup` instead of changing the process environment.
pub fn lookup_from(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Clone + use<> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// The process environment (a variable that is not valid Unicode counts as not set).
pub fn from_process_env() -> Env<fn(&str) -> Option<String>> {
    Env::new(|name| std::env::var(name).ok())
}

impl<L: Fn(&str) -> Option<String>> Env<L> {
    pub fn new(lookup: L) -> Self {
        Self { lookup }
    }

    /// The value as given, if set.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    pub fn required(&self, name: &'static str) -> Result<String, EnvError> {
        self.optional(name).ok_or(EnvError::missing(name))
    }

    /// Like [`Env::required`], the error saying what the variable is for.
    pub fn required_for(&self, name: &'static str, hint: &'static str) -> Result<String, EnvError> {
        self.optional(name).ok_or(EnvError::Missing {
            name,
            hint: Some(hint),
        })
    }

    /// A comma-separated list, items trimmed, empty items left out.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.optional(name).map(|value| split_list(&value))
    }

    /// A comma-separated list of `name=value` pairs, both sides trimmed.
    pub fn pairs(&self, name: &'static str) -> Result<Option<Vec<(String, String)>>, EnvError> {
        let Some(value) = self.optional(name) else {
            return Ok(None);
        };
        split_list(&value)
            .into_iter()
            .map(|pair| match pair.split_once('=') {
                Some((a, b)) if !a.trim().is_empty() => {
                    Ok((a.trim().to_string(), b.trim().to_string()))
                }
                _ => Err(EnvError::invalid(
                    name,
                    pair,
                    "comma-separated name=value pairs",
                )),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// `true` | `1` | `yes` | `on` | `keep`, or `false` | `0` | `no` | `off` | `drop`
    /// (ASCII case ignored; `keep` / `drop` read naturally for `NULLS` and `EMPTY`).
    pub fn boolean(&self, name: &'static str) -> Result<Option<bool>, EnvError> {
        let Some(value) = self.optional(name) else {
            return Ok(None);
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "keep" => Ok(Some(true)),
            "false" | "0" | "no" | "off" | "drop" => Ok(Some(false)),
            _ => Err(EnvError::invalid(name, value, "true | false")),
        }
    }

    /// A whole number within `range` (`..` for any).
    pub fn number<T>(
        &self,
        name: &'static str,
        range: impl RangeBounds<T>,
    ) -> Result<Option<T>, EnvError>
    where
        T: FromStr + PartialOrd + Display,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        let Some(value) = self.optional(name) else {
            return Ok(None);
        };
        let expected = || whole_number_in(&range);
        match value.trim().parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            Ok(_) => Err(EnvError::invalid(name, value, expected())),
            Err(err) => Err(EnvError::invalid(name, value, expected()).caused_by(err)),
        }
    }

    /// A whole number of milliseconds.
    pub fn millis(&self, name: &'static str) -> Result<Option<Duration>, EnvError> {
        self.whole(name, "a whole number of milliseconds")
            .map(|n| n.map(Duration::from_millis))
    }

    /// A whole number of seconds.
    pub fn seconds(&self, name: &'static str) -> Result<Option<Duration>, EnvError> {
        self.whole(name, "a whole number of seconds")
            .map(|n| n.map(Duration::from_secs))
    }

    fn whole(&self, name: &'static str, expected: &'static str) -> Result<Option<u64>, EnvError> {
        let Some(value) = self.optional(name) else {
            return Ok(None);
        };
        match value.trim().parse() {
            Ok(n) => Ok(Some(n)),
            Err(err) => Err(EnvError::invalid(name, value, expected).caused_by(err)),
        }
    }

    /// One of a choice enum's names (its `FromStr`, whose error lists the choices).
    pub fn choice<T>(&self, name: &'static str) -> Result<Option<T>, EnvError>
    where
        T: FromStr,
        T::Err: ChoiceError,
    {
        let Some(value) = self.optional(name) else {
            return Ok(None);
        };
        match value.trim().parse::<T>() {
            Ok(choice) => Ok(Some(choice)),
            Err(err) => Err(EnvError::invalid(name, value, err.choices()).caused_by(err)),
        }
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn whole_number_in<T: Display>(range: &impl RangeBounds<T>) -> Cow<'static, str> {
    match (range.start_bound(), range.end_bound()) {
        (Bound::Unbounded, Bound::Unbounded) => "a whole number".into(),
        (Bound::Included(a), Bound::Included(b)) => {
            format!("a whole number from {a} to {b}").into()
        }
        (start, end) => {
            let mut text = String::from("a whole number");
            match start {
                Bound::Included(a) => text += &format!(" >= {a}"),
                Bound::Excluded(a) => text += &format!(" > {a}"),
                Bound::Unbounded => {}
            }
            if !matches!(start, Bound::Unbounded) && !matches!(end, Bound::Unbounded) {
                text += " and";
            }
            match end {
                Bound::Included(b) => text += &format!(" <= {b}"),
                Bound::Excluded(b) => text += &format!(" < {b}"),
                Bound::Unbounded => {}
            }
            text.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::error::Error as _;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::new(move |name| map.get(name).cloned())
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Mode {
        Fast,
        Safe,
    }

    crate::choices! {
        Mode {
            "fast" => Fast,
            "safe" | "careful" => Safe,
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Loose {
        On,
        Off,
    }

    crate::choices! {
        Loose (ignore_ascii_case) {
            "on" => On,
            "off" => Off,
        }
    }

    #[test]
    fn unset_optional_settings_are_none() {
        let e = env(&[]);
        assert_eq!(e.optional("X"), None);
        assert_eq!(e.list("X"), None);
        assert_eq!(e.pairs("X").unwrap(), None);
        assert_eq!(e.boolean("X").unwrap(), None);
        assert_eq!(e.number::<usize>("X", ..).unwrap(), None);
        assert_eq!(e.millis("X").unwrap(), None);
        assert_eq!(e.seconds("X").unwrap(), None);
        assert_eq!(e.choice::<Mode>("X").unwrap(), None);
    }

    #[test]
    fn required_names_the_variable_and_what_it_is_for() {
        let e = env(&[("SET", "v")]);
        assert_eq!(e.required("SET").unwrap(), "v");
        assert_eq!(
            e.required("TABLE").unwrap_err().to_string(),
            "TABLE is not set"
        );
        let err = e.required_for("TABLE", "the table to read").unwrap_err();
        assert_eq!(err.to_string(), "TABLE is not set: the table to read");
        assert_eq!((err.name(), err.value()), ("TABLE", None));
    }

    #[test]
    fn lists_and_pairs_are_trimmed_and_bad_pairs_named() {
        let e = env(&[
            ("L", " a, ,b ,"),
            ("P", "a=b, c = d"),
            ("BAD", "a=b,novalue"),
        ]);
        assert_eq!(e.list("L").unwrap(), vec!["a", "b"]);
        assert_eq!(
            e.pairs("P").unwrap().unwrap(),
            vec![("a".into(), "b".into()), ("c".into(), "d".into())]
        );
        assert_eq!(
            e.pairs("BAD").unwrap_err().to_string(),
            "BAD=\"novalue\" is invalid: expected comma-separated name=value pairs"
        );
    }

    #[test]
    fn booleans_accept_the_usual_words_and_name_a_bad_one() {
        let e = env(&[("A", " Yes "), ("B", "drop"), ("C", "maybe")]);
        assert_eq!(e.boolean("A").unwrap(), Some(true));
        assert_eq!(e.boolean("B").unwrap(), Some(false));
        assert_eq!(
            e.boolean("C").unwrap_err().to_string(),
            "C=\"maybe\" is invalid: expected true | false"
        );
    }

    #[test]
    fn numbers_are_checked_against_their_range_keeping_the_cause() {
        let e = env(&[("N", " 3 "), ("BIG", "65"), ("WORD", "two"), ("ZERO", "0")]);
        assert_eq!(e.number::<usize>("N", 1..=64).unwrap(), Some(3));
        assert_eq!(
            e.number::<usize>("BIG", 1..=64).unwrap_err().to_string(),
            "BIG=\"65\" is invalid: expected a whole number from 1 to 64"
        );
        let err = e.number::<usize>("WORD", ..).unwrap_err();
        assert_eq!(
            err.to_string(),
            "WORD=\"two\" is invalid: expected a whole number"
        );
        assert!(err.source().is_some(), "the parse error is kept");
        assert_eq!((err.name(), err.value()), ("WORD", Some("two")));
        assert_eq!(
            e.number::<usize>("ZERO", 1..).unwrap_err().to_string(),
            "ZERO=\"0\" is invalid: expected a whole number >= 1"
        );
        assert_eq!(
            e.number::<u32>("BIG", 1..10).unwrap_err().to_string(),
            "BIG=\"65\" is invalid: expected a whole number >= 1 and < 10"
        );
    }

    #[test]
    fn durations_are_whole_numbers_of_their_unit() {
        let e = env(&[("MS", "1500"), ("S", "ten"), ("NEG", "-1")]);
        assert_eq!(e.millis("MS").unwrap(), Some(Duration::from_millis(1500)));
        assert_eq!(e.seconds("MS").unwrap(), Some(Duration::from_secs(1500)));
        assert_eq!(
            e.seconds("S").unwrap_err().to_string(),
            "S=\"ten\" is invalid: expected a whole number of seconds"
        );
        let err = e.millis("NEG").unwrap_err();
        assert_eq!(
            err.to_string(),
            "NEG=\"-1\" is invalid: expected a whole number of milliseconds"
        );
        assert!(err.source().is_some());
    }

    #[test]
    fn choices_are_trimmed_and_errors_list_them() {
        let e = env(&[
            ("M", " careful\n"),
            ("BAD", " Fast"),
            ("LOOSE", "OFF"),
            ("LOOSE_BAD", "maybe"),
        ]);
        assert_eq!(e.choice::<Mode>("M").unwrap(), Some(Mode::Safe));
        let err = e.choice::<Mode>("BAD").unwrap_err();
        assert_eq!(
            err.to_string(),
            "BAD=\" Fast\" is invalid: expected fast | safe"
        );
        assert_eq!(
            err.source().unwrap().to_string(),
            "\"Fast\" is not one of fast | safe"
        );
        assert_eq!(e.choice::<Loose>("LOOSE").unwrap(), Some(Loose::Off));
        assert_eq!(
            e.choice::<Loose>("LOOSE_BAD").unwrap_err().to_string(),
            "LOOSE_BAD=\"maybe\" is invalid: expected on | off"
        );
        assert_eq!(Mode::CHOICES, "fast | safe");
    }

    #[test]
    fn process_env_reads_the_process_environment() {
        // PATH is set wherever the tests run.
        assert!(from_process_env().optional("PATH").is_some());
    }
}
