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

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, EnumAccess, IgnoredAny, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::Deserialize;
use serde_yaml::Value;

use super::kwargs::{Diag, Seg};
use crate::error::{ArgumentAt, Error};

/// The error for `diag`, placed in `text` when there is one.
pub(crate) fn error(file: Option<&Path>, text: Option<&str>, diag: Diag) -> Error {
    let place = text.and_then(|t| locate(t, &diag.path));
    diag.into_error_at(file, place)
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
    let here = Cell::new(false);
    let de = serde_yaml::Deserializer::from_str(text);
    match Walk(path, &here).deserialize(de) {
        // Stopped by the walk itself, not by a YAML error: serde_yaml's place is the key's.
        Err(e) if here.get() => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// The line and column (from 1) of the first key in `text` that repeats a key
/// before it in the same mapping, when the text parses up to there.
fn duplicate(text: &str) -> Option<(usize, usize)> {
    let here = Cell::new(false);
    match Dups(&here).deserialize(serde_yaml::Deserializer::from_str(text)) {
        Err(e) if here.get() => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// Stops a walk where it found what it looks for: records that it did (in
/// `here`) and fails, so that serde_yaml's error carries the place.
fn stop<E: de::Error>(here: &Cell<bool>) -> E {
    here.set(true);
    E::custom("tch-lr: here")
}

/// Follows a path through a YAML document and fails where it ends.
struct Walk<'p, 'h>(&'p [Seg], &'h Cell<bool>);

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Walk<'_, '_> {
    /// At a scalar: the path ends here, or leads nowhere.
    fn scalar<E: de::Error>(&self) -> Result<(), E> {
        if self.0.is_empty() {
            Err(stop(self.1))
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

impl<'de> Visitor<'de> for Walk<'_, '_> {
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
        while let Some(found) = map.next_key_seed(KeySeed { key, last: rest.is_empty(), here: self.1 })? {
            if found {
                return map.next_value_seed(Walk(rest, self.1));
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
        seq.next_element_seed(Walk(rest, self.1)).map(|_| ())
    }
}

/// Reads one mapping key: whether it is `key`; fails on it when the path
/// ends there (`last`).
struct KeySeed<'k, 'h> {
    key: &'k str,
    last: bool,
    here: &'h Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match (v == self.key, self.last) {
            (true, true) => Err(stop(self.here)),
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
struct Dups<'h>(&'h Cell<bool>);

impl<'de> DeserializeSeed<'de> for Dups<'_> {
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

impl<'de> Visitor<'de> for Dups<'_> {
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
        while map.next_key_seed(Once(&mut seen, self.0))?.is_some() {
            map.next_value_seed(Dups(self.0))?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Dups(self.0))?.is_some() {}
        Ok(())
    }

    /// A tagged value (`!tag value`): its value.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (IgnoredAny, value) = data.variant()?;
        value.newtype_variant_seed(Dups(self.0))
    }
}

/// Reads one mapping key, and fails on it when `seen` already holds it.
struct Once<'s, 'h>(&'s mut HashSet<Value>, &'h Cell<bool>);

impl Once<'_, '_> {
    fn check<E: de::Error>(self, key: Value) -> Result<(), E> {
        if self.0.insert(key) {
            Ok(())
        } else {
            Err(stop(self.1))
        }
    }
}

impl<'de> DeserializeSeed<'de> for Once<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

// A tagged key is not read (the default `visit_enum` fails): the walk stops
// there, and the error keeps serde_yaml's place.
impl<'de> Visitor<'de> for Once<'_, '_> {
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
pub(crate) struct Source(Option<Arc<str>>, Layout);

/// How the text lays the sections out: tch-lr's, or DeepSpeed's JSON config,
/// whose `scheduler.X` is `scheduler.params.X` ([`super::deepspeed::file_path`]).
#[derive(Clone, Copy, Default, PartialEq)]
pub(crate) enum Layout {
    #[default]
    TchLr,
    DeepSpeed,
}

impl Layout {
    /// `path` (in tch-lr's sections) as the text has it.
    pub(crate) fn path(self, path: Vec<Seg>) -> Vec<Seg> {
        match self {
            Layout::TchLr => path,
            Layout::DeepSpeed => super::deepspeed::file_path(&path),
        }
    }

    /// `diag` at its place in the text.
    pub(crate) fn diag(self, diag: Diag) -> Diag {
        Diag { path: self.path(diag.path), message: diag.message }
    }
}

impl Source {
    pub(crate) fn new(text: &str, layout: Layout) -> Self {
        Source(Some(text.into()), layout)
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

/// The error `e` that the constructor of the schedule at `at` in the config
/// raised, placed in the config's text: a reference's error
/// ([`Error::Value`], [`Error::Assertion`], ...) becomes an [`Error::Config`]
/// with the reference's message after the dotted path, at the argument the
/// error names ([`Error::Argument`]), else at the `name:` of the schedule
/// that raised it (a composite's child, as the error says). Other errors,
/// and every error of a config without text, are kept as they are, without
/// the argument they name.
pub(crate) fn constructor(source: &Source, at: Vec<Seg>, e: Error) -> Error {
    let (places, e) = e.split_argument();
    let Some(text) = &source.0 else { return e };
    let layout = source.1;
    let reference = matches!(
        e,
        Error::Value(_) | Error::Assertion(_) | Error::ZeroDivision(_) | Error::Overflow(_) | Error::NotImplemented(_)
    );
    if !reference {
        return e;
    }
    // The schedule that raised it (the deepest child named), and the argument.
    let (mut schedule, mut argument) = (at, None);
    for place in places {
        match place {
            ArgumentAt::Child(i) => schedule.extend([Seg::Key("schedulers".into()), Seg::Index(i)]),
            ArgumentAt::Key(k) => argument = Some(vec![Seg::Key(k.into())]),
            ArgumentAt::Item(k, i) => argument = Some(vec![Seg::Key(k.into()), Seg::Index(i)]),
        }
    }
    let argument = argument.map(|a| layout.path([schedule.as_slice(), &a].concat()));
    let (path, place) = match argument.and_then(|p| locate(text, &p).map(|l| (p, l))) {
        Some((p, l)) => (p, Some(l)),
        None => {
            let name = layout.path([schedule.as_slice(), &[Seg::Key("name".into())]].concat());
            let schedule = if layout == Layout::DeepSpeed { layout.path(schedule) } else { schedule };
            (schedule, locate(text, &name))
        }
    };
    Diag { path, message: e.to_string() }.into_error_at(None, place)
}
