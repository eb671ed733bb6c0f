//! Keyword arguments: how one mapping of a config (a scheduler's arguments,
//! the `optimizer:` section, the file itself) is read into a typed struct,
//! key by key, so that every error knows the key it is about.
//!
//! A struct of keyword arguments is declared once with the crate's `kwargs!` macro: each
//! field with its type and, where it has one, its default. The macro writes
//! the struct, its defaults (one associated constant per defaulted field), the
//! reader and the description `tch-lr list --format json` prints.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_yaml::{Mapping, Value};

/// One step of the way from the top of a config to a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// A problem in a config, at a place in it: `path` leads from the top (or from
/// the mapping being read, until the caller prefixes its own place).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    /// Where, from the outside in.
    pub path: Vec<Seg>,
    /// What is wrong.
    pub message: String,
}

impl Diag {
    /// A problem with the value at `path`.
    pub fn new(message: impl Into<String>) -> Self {
        Diag { path: Vec::new(), message: message.into() }
    }

    /// The same problem, seen from one level further out.
    pub fn within(mut self, seg: Seg) -> Self {
        self.path.insert(0, seg);
        self
    }

    /// The dotted path: `scheduler.schedulers[1].mode`.
    pub fn dotted(&self) -> String {
        dotted(&self.path)
    }

    /// The config error this problem is, at its dotted path but at no line of
    /// a text.
    pub fn into_error(self) -> crate::error::Error {
        self.into_error_at(None, None)
    }

    /// The config error this problem is, in `file` at `place` (line and
    /// column from 1), which the config's reader finds (`config::diagnostics`).
    pub fn into_error_at(self, file: Option<&std::path::Path>, place: Option<(usize, usize)>) -> crate::error::Error {
        let at = self.dotted();
        let message = if at.is_empty() { self.message } else { format!("{at}: {}", self.message) };
        let (line, column) = place.unzip();
        let (path, message) = (file.map(|f| f.to_path_buf()), crate::error::readable(&message));
        crate::error::Error::Config { path, line, column, message }
    }
}

/// A path as `scheduler.schedulers[1].mode`.
pub fn dotted(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// One keyword argument, as `tch-lr list --format json` describes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Kwarg {
    /// The keyword, as in the reference library.
    pub name: &'static str,
    /// The type, in Python's words (`int`, `float | list[float]`, ...).
    #[serde(rename = "type")]
    pub ty: &'static str,
    /// Whether the argument must be given.
    pub required: bool,
    /// The default, where there is one (`null` for a default of `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
}

/// A value one keyword argument can hold.
pub trait KwargValue: Sized + Serialize {
    /// The type in Python's words, for `tch-lr list`.
    const TYPE: &'static str;

    /// Reads the value; a [`Diag`] path is relative to the value.
    ///
    /// # Errors
    /// A [`Diag`] saying what was expected.
    fn from_kwarg(value: Value) -> Result<Self, Diag>;
}

/// Deserializes a [`KwargValue`] through its reader: an error names the
/// dotted path of the offending key.
pub(crate) fn deserialize<'de, T: KwargValue, D: serde::Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    let value = <Value as serde::Deserialize>::deserialize(d)?;
    T::from_kwarg(value).map_err(|e| {
        let at = e.dotted();
        serde::de::Error::custom(if at.is_empty() { e.message } else { format!("{at}: {}", e.message) })
    })
}

/// Reads `value` with serde, for the leaf types.
pub(crate) fn from_serde<T: DeserializeOwned>(value: Value) -> Result<T, Diag> {
    serde_yaml::from_value(value).map_err(|e| Diag::new(e.to_string()))
}

/// Implements [`KwargValue`] through serde for leaf types, with their type names.
macro_rules! serde_kwargs {
    ($($t:ty => $name:literal),* $(,)?) => {
        $(impl $crate::config::kwargs::KwargValue for $t {
            const TYPE: &'static str = $name;
            fn from_kwarg(
                value: serde_yaml::Value,
            ) -> std::result::Result<Self, $crate::config::kwargs::Diag> {
                $crate::config::kwargs::from_serde(value)
            }
        })*
    };
}
pub(crate) use serde_kwargs;

serde_kwargs! {
    i64 => "int",
    usize => "int",
    bool => "bool",
    String => "str",
    Vec<i64> => "list[int]",
}

/// `v`, or a [`Diag`] when it is NaN or infinite: tch-lr takes finite numbers
/// only, so that nothing non-finite can reach the optimizer.
pub fn finite(v: f64) -> Result<f64, Diag> {
    if v.is_finite() {
        Ok(v)
    } else {
        let yaml = if v.is_nan() {
            ".nan"
        } else if v > 0.0 {
            ".inf"
        } else {
            "-.inf"
        };
        Err(Diag::new(format!("must be a finite number, got {yaml}")))
    }
}

impl KwargValue for f64 {
    const TYPE: &'static str = "float";
    fn from_kwarg(value: Value) -> Result<Self, Diag> {
        finite(from_serde(value)?)
    }
}

impl KwargValue for [f64; 2] {
    const TYPE: &'static str = "tuple[float, float]";
    fn from_kwarg(value: Value) -> Result<Self, Diag> {
        let [a, b]: [f64; 2] = from_serde(value)?;
        Ok([finite(a).map_err(|d| d.within(Seg::Index(0)))?, finite(b).map_err(|d| d.within(Seg::Index(1)))?])
    }
}

impl<T: KwargValue> KwargValue for Option<T> {
    const TYPE: &'static str = T::TYPE;
    fn from_kwarg(value: Value) -> Result<Self, Diag> {
        match value {
            Value::Null => Ok(None),
            v => T::from_kwarg(v).map(Some),
        }
    }
}

/// A mapping of keyword arguments being read: [`Kwargs::take`] each key the
/// struct knows, after [`Kwargs::only`] has rejected keys it does not know.
pub struct Kwargs {
    what: &'static str,
    map: Mapping,
}

impl Kwargs {
    /// The mapping `value`, read as the keyword arguments of `what`.
    ///
    /// # Errors
    /// A [`Diag`] when `value` is not a mapping.
    pub fn new(what: &'static str, value: Value) -> Result<Self, Diag> {
        match value {
            Value::Mapping(map) => Ok(Kwargs { what, map }),
            other => Err(Diag::new(format!("expected a mapping (struct {what}), found {}", kind(&other)))),
        }
    }

    /// The same mapping, read as the keyword arguments of `what` (the
    /// scheduler's name, once `name` has said which it is).
    pub fn describing(mut self, what: &'static str) -> Self {
        self.what = what;
        self
    }

    /// What the mapping configures, for messages: `StepLR` for `StepLRConfig`.
    fn who(&self) -> &'static str {
        self.what.strip_suffix("Config").filter(|s| !s.is_empty()).unwrap_or(self.what)
    }

    /// Removes `key` and reads its value, if present.
    ///
    /// # Errors
    /// The value's [`Diag`], placed at `key`.
    pub fn take<T: KwargValue>(&mut self, key: &'static str) -> Result<Option<T>, Diag> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(v) => T::from_kwarg(v).map(Some).map_err(|d| d.within(Seg::Key(key.to_string()))),
        }
    }

    /// Removes `key` and reads its value, which must be present.
    ///
    /// # Errors
    /// As [`Kwargs::take`], and a [`Diag`] when the key is missing.
    pub fn require<T: KwargValue>(&mut self, key: &'static str) -> Result<T, Diag> {
        self.take(key)?.ok_or_else(|| Diag::new(format!("missing key `{key}` ({} requires it)", self.who())))
    }

    /// Fails on the first key that is not one of `known`, naming the valid
    /// ones (checked before any value is read, so that a misspelt key is
    /// reported as such rather than as a missing one).
    ///
    /// # Errors
    /// A [`Diag`] at the unknown key.
    pub fn only(&self, known: &[&str]) -> Result<(), Diag> {
        let unknown = self.map.keys().find(|k| !k.as_str().is_some_and(|k| known.contains(&k)));
        match unknown {
            None => Ok(()),
            Some(k) => {
                let name = match &k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
                };
                let hint = did_you_mean(&closest(&name, known)).unwrap_or_else(|| {
                    let valid = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
                    format!("expected one of {valid}")
                });
                Err(Diag::new(format!("unknown key `{name}` for {}: {hint}", self.who())).within(Seg::Key(name)))
            }
        }
    }
}

/// The choices closest to `word` (a misspelt name: case, a letter or two),
/// the closest first, at most three; none when nothing is close.
pub fn closest<'a>(word: &str, choices: &[&'a str]) -> Vec<&'a str> {
    // A word far longer than every choice is no misspelling of one.
    if word.chars().count() > 2 * choices.iter().map(|c| c.len()).max().unwrap_or(0) {
        return Vec::new();
    }
    let word = word.to_lowercase();
    let mut scored: Vec<(f64, &str)> = choices
        .iter()
        .map(|&c| (strsim::jaro_winkler(&word, &c.to_lowercase()), c))
        .filter(|(s, _)| *s >= 0.85)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// `did you mean `a` or `b`?`, for [`closest`]'s choices; `None` for none.
pub fn did_you_mean(close: &[&str]) -> Option<String> {
    let quoted: Vec<String> = close.iter().map(|c| format!("`{c}`")).collect();
    match quoted.as_slice() {
        [] => None,
        [one] => Some(format!("did you mean {one}?")),
        [rest @ .., last] => Some(format!("did you mean {} or {last}?", rest.join(", "))),
    }
}

/// What kind of YAML value this is, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A group of keyword arguments at its defaults (every field of a group has one).
pub(crate) fn defaults<T: KwargStruct>() -> T {
    let mut empty = Kwargs { what: "defaults", map: Mapping::new() };
    match T::take_from(&mut empty) {
        Ok(t) => t,
        // A group is declared with a default for every field: see `kwargs!`.
        Err(d) => unreachable!("a group of keyword arguments without a default: {d}"),
    }
}

/// A struct of keyword arguments, written by the crate's `kwargs!` macro:
/// read from a mapping of its own, or as a group (a `..group` field of
/// another struct) from a mapping it shares.
pub trait KwargStruct: Sized {
    /// Reads (removes) this struct's keys from `kw`, leaving the others.
    ///
    /// # Errors
    /// A [`Diag`] at the offending key.
    fn take_from(kw: &mut Kwargs) -> Result<Self, Diag>;

    /// Appends this struct's keys, in order.
    fn keys(keys: &mut Vec<&'static str>);

    /// Appends the description of this struct's keyword arguments, in order.
    fn describe(all: &mut Vec<Kwarg>);

    /// Reads the struct from a mapping of its own: an unknown key is an error.
    ///
    /// # Errors
    /// A [`Diag`] at the offending key.
    fn from_kwargs(mut kw: Kwargs) -> Result<Self, Diag> {
        let mut keys = Vec::new();
        Self::keys(&mut keys);
        kw.only(&keys)?;
        Self::take_from(&mut kw)
    }

    /// The keyword arguments, their types and defaults.
    fn kwargs() -> Vec<Kwarg> {
        let mut all = Vec::new();
        Self::describe(&mut all);
        all
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The default of one field, as JSON.
pub fn default_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Declares a struct of keyword arguments: each field once, with its type
/// and, after `=`, its default (written into the docs, an associated constant
/// named like the field, the reader and `tch-lr list`). A field written
/// `..name: Group` is a group of keyword arguments declared once elsewhere
/// (with `kwargs!`, every field defaulted) and read flat from the same
/// mapping, in its place in the order; the struct gets `AsRef<Group>` and
/// `AsMut<Group>`.
///
/// With `for Schedule` after the struct's name, it also writes the schedule's
/// builder, as tch writes its optimizer configs: `Schedule::new(required
/// arguments)` in declaration order, then one setter per argument with a
/// default, each taking `impl Into<T>` and documented with the field's docs.
/// `Schedule` must have `fn from_args(Self) -> Schedule` and a field `args`
/// holding the struct, as [`LRScheduler`](crate::schedulers::LRScheduler) has.
/// A group's setters come from the group's own declaration, written with
/// `for Wrapper<P: Bound>`: on every `Wrapper<P>` whose `P` holds the group.
///
/// ```ignore
/// kwargs! {
///     /// `StepLR`'s keyword arguments.
///     pub struct StepLRConfig for StepLR {
///         /// Period of learning rate decay.
///         step_size: i64,
///         /// Multiplicative factor of learning rate decay.
///         gamma: f64 = 0.1,
///     }
/// }
/// // writes StepLRConfig { step_size, gamma }, StepLRConfig::gamma (= 0.1),
/// // StepLR::new(step_size) and StepLR::gamma(self, v) -> StepLR.
/// ```
macro_rules! kwargs {
    // The three forms: a struct, a schedule's arguments (with its builder), a
    // group (with setters on a generic wrapper).
    ($(#[$meta:meta])* pub struct $name:ident for $w:ident<$p:ident: $bound:path> { $($body:tt)* }) => {
        $crate::config::kwargs::kwargs!(@fields [$(#[$meta])*] $name [group $w $p $bound] [] $($body)*);
    };
    ($(#[$meta:meta])* pub struct $name:ident for $sched:ty { $($body:tt)* }) => {
        $crate::config::kwargs::kwargs!(@fields [$(#[$meta])*] $name [schedule $sched] [] $($body)*);
    };
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $crate::config::kwargs::kwargs!(@fields [$(#[$meta])*] $name [none] [] $($body)*);
    };
    // Reading the fields, one at a time: a group ...
    (@fields $metas:tt $name:ident $builder:tt [$($acc:tt)*]
        $(#[doc = $doc:expr])* .. $f:ident : $t:ty $(, $($rest:tt)*)?) => {
        $crate::config::kwargs::kwargs!(@fields $metas $name $builder
            [$($acc)* [flat [$(#[doc = $doc])* #[serde(flatten)]] $f : $t]] $($($rest)*)?);
    };
    // ... an argument with a default ...
    (@fields $metas:tt $name:ident $builder:tt [$($acc:tt)*]
        $(#[doc = $doc:expr])* $f:ident : $t:ty = $d:expr $(, $($rest:tt)*)?) => {
        $crate::config::kwargs::kwargs!(@fields $metas $name $builder
            [$($acc)* [opt [$(#[doc = $doc])* #[doc = concat!("\n\nDefault: `", stringify!($d), "`.")]] $f : $t = $d]]
            $($($rest)*)?);
    };
    // ... a required argument.
    (@fields $metas:tt $name:ident $builder:tt [$($acc:tt)*]
        $(#[doc = $doc:expr])* $f:ident : $t:ty $(, $($rest:tt)*)?) => {
        $crate::config::kwargs::kwargs!(@fields $metas $name $builder
            [$($acc)* [req [$(#[doc = $doc])*] $f : $t]] $($($rest)*)?);
    };
    // All fields read: the struct, its defaults, its reader and description.
    (@fields [$(#[$meta:meta])*] $name:ident $builder:tt
        [$([$kind:ident [$($fm:tt)*] $f:ident : $t:ty $(= $d:expr)?])*]) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize)]
        #[allow(non_snake_case)]
        pub struct $name {
            $($($fm)* pub $f: $t,)*
        }

        #[allow(non_upper_case_globals)]
        impl $name {
            $($crate::config::kwargs::kwargs!(@const $kind $f : $t $(= $d)?);)*
        }

        impl $crate::config::kwargs::KwargStruct for $name {
            fn take_from(
                kw: &mut $crate::config::kwargs::Kwargs,
            ) -> std::result::Result<Self, $crate::config::kwargs::Diag> {
                Ok($name { $($f: $crate::config::kwargs::kwargs!(@take $kind kw, $f, $t $(, $d)?),)* })
            }

            fn keys(keys: &mut Vec<&'static str>) {
                $($crate::config::kwargs::kwargs!(@keys $kind keys, $f, $t);)*
            }

            fn describe(all: &mut Vec<$crate::config::kwargs::Kwarg>) {
                $($crate::config::kwargs::kwargs!(@describe $kind all, $f, $t $(, $d)?);)*
            }
        }

        impl $crate::config::kwargs::KwargValue for $name {
            const TYPE: &'static str = "mapping";
            fn from_kwarg(value: serde_yaml::Value) -> std::result::Result<Self, $crate::config::kwargs::Diag> {
                <$name as $crate::config::kwargs::KwargStruct>::from_kwargs(
                    $crate::config::kwargs::Kwargs::new(stringify!($name), value)?,
                )
            }
        }

        /// Read key by key as a config is, with the same checks.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                $crate::config::kwargs::deserialize(d)
            }
        }

        $($crate::config::kwargs::kwargs!(@as_ref $kind $name, $f, $t);)*

        $crate::config::kwargs::kwargs!(@builder $builder $name; req[]; opt[]; flat[];
            $([$kind [$($fm)*] $f : $t $(= $d)?])*);
    };
    (@const opt $f:ident : $t:ty = $d:expr) => {
        #[doc = concat!("The default of `", stringify!($f), "`: `", stringify!($d), "`.")]
        pub const $f: $t = $d;
    };
    (@const $kind:ident $f:ident : $t:ty) => {};
    (@take opt $kw:ident, $f:ident, $t:ty, $d:expr) => {
        $kw.take::<$t>(stringify!($f))?.unwrap_or($d)
    };
    (@take req $kw:ident, $f:ident, $t:ty) => {
        $kw.require::<$t>(stringify!($f))?
    };
    (@take flat $kw:ident, $f:ident, $t:ty) => {
        <$t as $crate::config::kwargs::KwargStruct>::take_from($kw)?
    };
    (@keys flat $keys:ident, $f:ident, $t:ty) => {
        <$t as $crate::config::kwargs::KwargStruct>::keys($keys)
    };
    (@keys $kind:ident $keys:ident, $f:ident, $t:ty) => {
        $keys.push(stringify!($f))
    };
    (@describe flat $all:ident, $f:ident, $t:ty) => {
        <$t as $crate::config::kwargs::KwargStruct>::describe($all)
    };
    (@describe $kind:ident $all:ident, $f:ident, $t:ty $(, $d:expr)?) => {
        $all.push($crate::config::kwargs::Kwarg {
            name: stringify!($f),
            ty: <$t as $crate::config::kwargs::KwargValue>::TYPE,
            required: $crate::config::kwargs::kwargs!(@required $($d)?),
            default: $crate::config::kwargs::kwargs!(@default $t $(, $d)?),
        })
    };
    (@as_ref flat $name:ident, $f:ident, $t:ty) => {
        impl AsRef<$t> for $name {
            fn as_ref(&self) -> &$t {
                &self.$f
            }
        }

        impl AsMut<$t> for $name {
            fn as_mut(&mut self) -> &mut $t {
                &mut self.$f
            }
        }
    };
    (@as_ref $kind:ident $name:ident, $f:ident, $t:ty) => {};
    // The builder: sort the fields into required, defaulted and grouped ...
    (@builder $builder:tt $name:ident; req[$($req:tt)*]; opt[$($opt:tt)*]; flat[$($flat:tt)*];
        [req [$($fm:tt)*] $f:ident : $t:ty] $($rest:tt)*) => {
        $crate::config::kwargs::kwargs!(@builder $builder $name; req[$($req)* [$f : $t]]; opt[$($opt)*];
            flat[$($flat)*]; $($rest)*);
    };
    (@builder $builder:tt $name:ident; req[$($req:tt)*]; opt[$($opt:tt)*]; flat[$($flat:tt)*];
        [opt [$($fm:tt)*] $f:ident : $t:ty = $d:expr] $($rest:tt)*) => {
        $crate::config::kwargs::kwargs!(@builder $builder $name; req[$($req)*];
            opt[$($opt)* [[$($fm)*] $f : $t = $d]]; flat[$($flat)*]; $($rest)*);
    };
    (@builder $builder:tt $name:ident; req[$($req:tt)*]; opt[$($opt:tt)*]; flat[$($flat:tt)*];
        [flat [$($fm:tt)*] $f:ident : $t:ty] $($rest:tt)*) => {
        $crate::config::kwargs::kwargs!(@builder $builder $name; req[$($req)*]; opt[$($opt)*];
            flat[$($flat)* [$f : $t]]; $($rest)*);
    };
    // ... then write `new` and the setters: on the schedule ...
    (@builder [schedule $sched:ty] $name:ident; req[$([$rf:ident : $rt:ty])*];
        opt[$([[$($om:tt)*] $of:ident : $ot:ty = $od:expr])*]; flat[$([$ff:ident : $ft:ty])*];) => {
        #[allow(non_snake_case, clippy::new_without_default, clippy::too_many_arguments)]
        impl $sched {
            #[doc = concat!("The schedule with its required arguments (`", $(stringify!($rf), " ",)* "`), the others at their defaults ([`", stringify!($name), "`]).")]
            pub fn new($($rf: impl Into<$rt>),*) -> Self {
                Self::from_args($name {
                    $($rf: $rf.into(),)*
                    $($of: $od,)*
                    $($ff: $crate::config::kwargs::defaults::<$ft>(),)*
                })
            }
            $(
                $($om)*
                pub fn $of(mut self, value: impl Into<$ot>) -> Self {
                    self.args.$of = value.into();
                    self
                }
            )*
        }
    };
    // ... on every wrapper of a policy that holds the group ...
    (@builder [group $w:ident $p:ident $bound:path] $name:ident; req[];
        opt[$([[$($om:tt)*] $of:ident : $ot:ty = $od:expr])*]; flat[];) => {
        #[allow(non_snake_case)]
        impl<$p: $bound + AsMut<$name>> $w<$p> {
            $(
                $($om)*
                pub fn $of(mut self, value: impl Into<$ot>) -> Self {
                    AsMut::<$name>::as_mut(&mut self.args).$of = value.into();
                    self
                }
            )*
        }
    };
    // ... or nowhere.
    (@builder [none] $name:ident; req[$($req:tt)*]; opt[$($opt:tt)*]; flat[$($flat:tt)*];) => {};
    (@required $default:expr) => { false };
    (@required) => { true };
    (@default $ty:ty, $default:expr) => {{
        let d: $ty = $default;
        Some($crate::config::kwargs::default_json(&d))
    }};
    (@default $ty:ty) => { None };
}
pub(crate) use kwargs;
