//! Where a config is wrong: a [`Diag`]'s path turned into the line and column
//! of the offending key in the text, and YAML syntax errors made readable.
//!
//! The place is found by walking the text with serde_yaml's own parser along
//! the path and stopping at the key (a deliberate error there carries
//! serde_yaml's mark), so it never depends on the wording of a message.

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::kwargs::{Diag, Seg};
use crate::error::Error;

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

/// A YAML syntax error, with serde_yaml's place kept apart from its message.
pub(crate) fn syntax(file: Option<&Path>, e: &serde_yaml::Error) -> Error {
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C"; the place is kept apart.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    let (line, column) = e.location().map(|l| (l.line(), l.column())).unzip();
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
