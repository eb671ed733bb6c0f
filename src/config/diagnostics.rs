//! Where a config is wrong: a [`Diag`]'s path turned into the line and column
//! of the offending key in the text, and YAML syntax errors made readable.
//!
//! The place is found by walking the text with serde_yaml's own parser along
//! the path and stopping at the key (a deliberate error there carries
//! serde_yaml's mark), so it never depends on the wording of a message. A
//! duplicate key is found the same way, walking the whole text.
//!
//! A config read from text keeps it ([`Source`]), so that the errors only
//! building it finds (a reference's constructor errors) are placed too
//! ([`constructor`]).

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, EnumAccess, IgnoredAny, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::Deserialize;
use serde_yaml::Value;

use super::kwargs::{dotted, Diag, Seg};
use crate::error::Error;
use crate::schedulers::{registry, SchedulerConfig};

/// The error for `diag`, placed in `text` when there is one.
pub(crate) fn error(file: Option<&Path>, text: Option<&str>, diag: Diag) -> Error {
    let (line, column) = text.and_then(|t| locate(t, &diag.path)).unzip();
    let at = diag.dotted();
    let message = if at.is_empty() { diag.message } else { format!("{at}: {}", diag.message) };
    let message = crate::error::readable(&message);
    Error::Config { path: file.map(Path::to_path_buf), line, column, message }
}

/// The message for a file with nothing in it.
pub(crate) const EMPTY: &str = "the file is empty: a config needs at least a `scheduler:` section";

/// A YAML syntax error in `text`, with serde_yaml's place kept apart from its
/// message; a duplicate key is placed at the duplicate (serde_yaml gives the
/// start of its mapping).
pub(crate) fn syntax(file: Option<&Path>, text: &str, e: &serde_yaml::Error) -> Error {
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C"; the place is kept apart.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    // serde_yaml reads a `Value` in the order `Dups` walks the text, so the
    // first duplicate found is the one its error is about.
    let place = duplicate(text).or_else(|| e.location().map(|l| (l.line(), l.column())));
    let (line, column) = place.unzip();
    let message = crate::error::readable(&message);
    Error::Config { path: file.map(Path::to_path_buf), line, column, message }
}

/// The line and column (from 1) of the last key of `path` in `text` (or of
/// the list item, for a path that ends at an index).
pub(crate) fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let de = serde_yaml::Deserializer::from_str(text);
    match Walk(path).deserialize(de) {
        // serde_yaml's message may start with the path: look for ours inside.
        Err(e) if e.to_string().contains(HERE) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// The line and column (from 1) of the first key in `text` that repeats a key
/// before it in the same mapping, when the text parses up to there.
fn duplicate(text: &str) -> Option<(usize, usize)> {
    match Dups.deserialize(serde_yaml::Deserializer::from_str(text)) {
        Err(e) if e.to_string().contains(HERE) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// The error [`Walk`] raises where the path ends.
const HERE: &str = "tch-lr: here";

/// Follows a path through a YAML document and fails where it ends.
struct Walk<'p>(&'p [Seg]);

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Walk<'_> {
    /// At a scalar: the path ends here, or leads nowhere.
    fn scalar<E: de::Error>(&self) -> Result<(), E> {
        if self.0.is_empty() {
            Err(E::custom(HERE))
        } else {
            Ok(())
        }
    }
}

macro_rules! scalars {
    ($($f:ident: $t:ty),*) => {
        $(fn $f<E: de::Error>(self, _: $t) -> Result<(), E> {
            self.scalar()
        })*
    };
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    scalars!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Seg::Key(key), rest)) = self.0.split_first() else {
            return self.scalar();
        };
        while let Some(found) = map.next_key_seed(KeySeed { key, here: rest.is_empty() })? {
            if found {
                return map.next_value_seed(Walk(rest));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Seg::Index(i), rest)) = self.0.split_first() else {
            return self.scalar();
        };
        for _ in 0..*i {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Walk(rest)).map(|_| ())
    }
}

/// Reads one mapping key: whether it is `key`; fails on it when the path ends there.
struct KeySeed<'k> {
    key: &'k str,
    here: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match (v == self.key, self.here) {
            (true, true) => Err(E::custom(HERE)),
            (found, _) => Ok(found),
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// Walks a whole document and fails at the first duplicate key, as serde_yaml
/// compares keys (as [`Value`]s).
struct Dups;

impl<'de> DeserializeSeed<'de> for Dups {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! any_scalar {
    ($($f:ident: $t:ty),*) => {
        $(fn $f<E: de::Error>(self, _: $t) -> Result<(), E> {
            Ok(())
        })*
    };
}

impl<'de> Visitor<'de> for Dups {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    any_scalar!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while map.next_key_seed(Once(&mut seen))?.is_some() {
            map.next_value_seed(Dups)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Dups)?.is_some() {}
        Ok(())
    }

    /// A tagged value (`!tag value`): its value.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (IgnoredAny, value) = data.variant()?;
        value.newtype_variant_seed(Dups)
    }
}

/// Reads one mapping key, and fails on it when `seen` already holds it.
struct Once<'s>(&'s mut HashSet<Value>);

impl Once<'_> {
    fn check<E: de::Error>(self, key: Value) -> Result<(), E> {
        if self.0.insert(key) {
            Ok(())
        } else {
            Err(E::custom(HERE))
        }
    }
}

impl<'de> DeserializeSeed<'de> for Once<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

// A tagged key is not read (the default `visit_enum` fails): the walk stops
// there, and the error keeps serde_yaml's place.
impl<'de> Visitor<'de> for Once<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.check(v.into())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.check(v.into())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.check(v.into())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.check(v.into())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.check(v.into())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.check(Value::Null)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.check(Value::deserialize(de::value::MapAccessDeserializer::new(map))?)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.check(Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?)
    }
}

/// The text a config was read from (none for one taken from a `Value`), kept
/// to place the errors that building it finds. Not part of the config:
/// configs compare equal whatever their source.
#[derive(Clone, Default)]
pub(crate) struct Source(Option<Arc<str>>);

impl Source {
    pub(crate) fn new(text: &str) -> Self {
        Source(Some(text.into()))
    }
}

impl PartialEq for Source {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Source(text)" } else { "Source(none)" })
    }
}

/// The error `e` that the constructor of the schedule `config` (at `at` in
/// the config) raised, placed in the config's text: a reference's error
/// ([`Error::Value`], [`Error::Assertion`], ...) becomes an [`Error::Config`]
/// with the reference's message after the dotted path, at the argument the
/// message is about, else at the `name:` of the schedule that raised it (the
/// deepest child that raises the same error alone, as `alone` builds it).
/// Other errors, and every error of a config without text, are kept as they
/// are.
pub(crate) fn constructor(
    source: &Source,
    at: Vec<Seg>,
    config: &SchedulerConfig,
    e: Error,
    alone: impl Fn(&SchedulerConfig) -> Option<String>,
) -> Error {
    let Some(text) = &source.0 else { return e };
    let reference = matches!(
        e,
        Error::Value(_) | Error::Assertion(_) | Error::ZeroDivision(_) | Error::Overflow(_) | Error::NotImplemented(_)
    );
    if !reference {
        return e;
    }
    let shown = e.to_string();
    let (mut at, mut config) = (at, config);
    while let Some((i, child)) =
        config.children().iter().enumerate().find(|(_, c)| alone(c).is_some_and(|m| m == shown))
    {
        at.extend([Seg::Key("schedulers".into()), Seg::Index(i)]);
        config = child;
    }
    let argument = argument_of(&shown, config).map(|arg| [at.as_slice(), &arg].concat());
    let (path, place) = match argument.and_then(|p| locate(text, &p).map(|l| (p, l))) {
        Some((p, l)) => (p, Some(l)),
        None => {
            let name = locate(text, &[at.as_slice(), &[Seg::Key("name".into())]].concat());
            (at, name)
        }
    };
    let (line, column) = place.unzip();
    let message = crate::error::readable(&format!("{}: {shown}", dotted(&path)));
    Error::Config { path: None, line, column, message }
}

/// Messages that name their argument in words (or among other arguments).
const PHRASES: &[(&str, &str)] = &[
    ("Starting multiplicative factor", "start_factor"),
    ("Ending multiplicative factor", "end_factor"),
    ("Factor should be", "factor"),
    ("number of milestone points", "milestones"),
    ("expects at least one scheduler", "schedulers"),
    ("requires a positive stable_timescale", "stable_timescale"),
];

/// The argument of `config` that the constructor's `message` is about, as a
/// path from the schedule, where the message says it unambiguously: one of
/// [`PHRASES`], a child of a composite by index, or the one argument of the
/// schedule whose name (or plural: `min_lrs`) the message holds (the first
/// for timm's `Invalid decay_t (...), must be in (0, t_initial]`).
fn argument_of(message: &str, config: &SchedulerConfig) -> Option<Vec<Seg>> {
    let kwargs: Vec<&str> = registry::info(config.name()).map(|i| (i.kwargs)().iter().map(|k| k.name).collect())?;
    let known = |k: &str| kwargs.contains(&k).then(|| vec![Seg::Key(k.into())]);
    if let Some((_, k)) = PHRASES.iter().find(|(phrase, _)| message.contains(phrase)) {
        return known(k);
    }
    // PyTorch's composites: "... but got one at index 1 in the given schedulers sequence."
    if let Some(i) = message.split(" at index ").nth(1).and_then(|r| r.split(' ').next()?.parse::<usize>().ok()) {
        return known("schedulers").map(|mut p| {
            p.push(Seg::Index(i));
            p
        });
    }
    let mut named: Vec<&str> = Vec::new();
    for word in message.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        let plural = word.strip_suffix('s');
        let Some(k) = kwargs.iter().copied().find(|k| *k == word || Some(*k) == plural) else { continue };
        if !named.contains(&k) {
            named.push(k);
        }
    }
    match named[..] {
        [k] => known(k),
        [k, ..] if message.starts_with(&format!("Invalid {k} (")) => known(k),
        _ => None,
    }
}
