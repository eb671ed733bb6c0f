//! PyTorch's `state_dict()` of a schedule, typed.
//!
//! Each schedule declares the attributes its reference class saves once,
//! beside the schedule, as serde structs whose field names are the
//! reference's attribute names (`T_max`, `_step_count`, `base_values`):
//! what the config determines (its *arguments*: compared with a file's, a
//! file that differs was made by another config) and what the steps change
//! (its *steps*: taken from a file). Both directions come from those
//! declarations: [`Protocol::torch_state`](super::schedule::Protocol::torch_state)
//! serializes them, [`load`] reads a file's dict into them. This module
//! holds what every class shares: `LRScheduler`'s attributes
//! ([`LrSchedulerDict`]), the comparison and the reading.
//!
//! The carrier between a schedule and [`crate::interop::state`] (which turns
//! it into and out of a pickle) is a YAML value, which keeps ints apart from
//! floats, `inf`, `None` and non-string keys. Two tags mark what a plain value
//! cannot say: `!Counter` (a `collections.Counter`, as `MultiStepLR` saves its
//! milestones) and `!opaque` (a value the reference saves but that says
//! nothing of the schedule, a lambda's `__dict__`: compared equal to anything,
//! written as it is).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_yaml::value::{Tag, TaggedValue};
use serde_yaml::{Mapping, Value as Y};

use crate::error::{Error, Result};

/// Keys older PyTorch versions wrote, accepted and ignored.
const LEGACY: &[&str] = &["verbose"];

/// The tag of a `collections.Counter`.
pub(crate) const COUNTER: &str = "Counter";
/// The tag of a value that compares equal to anything.
const OPAQUE: &str = "opaque";

/// A class's arguments in PyTorch's `state_dict()`: the attributes its
/// config determines, as written from a schedule (`T_max`, `gamma`, ...),
/// with the typed reader that checks a file's (its keys and their types).
/// Made by [`TorchArgs::of`] from the class's own struct.
pub struct TorchArgs {
    written: Mapping,
    readers: Vec<fn(&Mapping, &str) -> Result<()>>,
}

impl TorchArgs {
    /// The arguments `args`: a struct with the reference's attribute names.
    ///
    /// # Errors
    /// [`Error::State`] when serialization fails.
    pub fn of<T: Serialize + DeserializeOwned>(args: &T) -> Result<TorchArgs> {
        Ok(TorchArgs { written: to_mapping(args)?, readers: vec![|m, name| read::<T>(name, m).map(drop)] })
    }

    /// A class with no arguments of its own (`ChainedScheduler`).
    pub(crate) fn none() -> TorchArgs {
        TorchArgs { written: Mapping::new(), readers: Vec::new() }
    }

    /// These arguments and `more` (a base class's and a class's own).
    pub(crate) fn and(mut self, more: TorchArgs) -> TorchArgs {
        self.written.extend(more.written);
        self.readers.extend(more.readers);
        self
    }

    /// The arguments as written.
    pub(crate) fn written(&self) -> &Mapping {
        &self.written
    }
}

/// A `collections.Counter` of ints (`MultiStepLR`'s milestones): each value
/// and how many times it is there.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Counter(pub Vec<(i64, i64)>);

impl Counter {
    /// The counts of `values`, in the order they first appear.
    pub(crate) fn of(values: &[i64]) -> Counter {
        let mut counts: Vec<(i64, i64)> = Vec::new();
        for &v in values {
            match counts.iter_mut().find(|(k, _)| *k == v) {
                Some((_, c)) => *c += 1,
                None => counts.push((v, 1)),
            }
        }
        Counter(counts)
    }
}

impl Serialize for Counter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let map: Mapping = self.0.iter().map(|&(k, c)| (Y::from(k), Y::from(c))).collect();
        TaggedValue { tag: Tag::new(COUNTER), value: Y::Mapping(map) }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Counter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let tagged = TaggedValue::deserialize(d)?;
        if tagged.tag != Tag::new(COUNTER) {
            return Err(D::Error::custom(format!("a {}, not a Counter", tagged.tag)));
        }
        let map: Vec<(i64, i64)> = serde_yaml::from_value::<std::collections::BTreeMap<i64, i64>>(tagged.value)
            .map_err(D::Error::custom)?
            .into_iter()
            .collect();
        Ok(Counter(map))
    }
}

/// A value the reference saves but that says nothing of the schedule (a
/// `LambdaLR`'s `lr_lambdas` entry: `None` for a function, the `__dict__` of
/// a callable object): written as it is, equal to anything in a file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Opaque(pub Y);

impl Serialize for Opaque {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        TaggedValue { tag: Tag::new(OPAQUE), value: self.0.clone() }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Opaque {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Y::deserialize(d).map(Opaque)
    }
}

/// `LambdaLR.state_dict()`'s own attribute (also `MultiplicativeLR`'s and
/// every transformers schedule's): one entry per group, `None` for a
/// function, a callable object's `__dict__` (transformers' `functools.partial`:
/// `{}`); only their number is compared.
#[derive(Serialize, Deserialize)]
pub(crate) struct LambdaLRDict {
    lr_lambdas: Vec<Opaque>,
}

impl LambdaLRDict {
    /// `groups` entries, each `each`.
    pub(crate) fn new(groups: usize, each: Y) -> Self {
        LambdaLRDict { lr_lambdas: vec![Opaque(each); groups] }
    }
}

/// The attributes of PyTorch's `LRScheduler` base class in a `state_dict()`:
/// what the steps change, taken from a file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LrSchedulerDict {
    pub base_lrs: Vec<f64>,
    pub last_epoch: i64,
    #[serde(rename = "_step_count")]
    pub step_count: i64,
    /// True only inside `_initial_step` (written false).
    #[serde(rename = "_is_initial", default)]
    pub is_initial: bool,
    /// True only inside `step()` (written false).
    #[serde(rename = "_get_lr_called_within_step", default)]
    pub within_step: bool,
    #[serde(rename = "_last_lr")]
    pub last_lr: Vec<f64>,
}

impl LrSchedulerDict {
    /// Checks the per-group lists against the optimizer's `groups`.
    pub(crate) fn check(&self, name: &str, groups: usize) -> Result<()> {
        per_group(name, "base_lrs", &self.base_lrs, groups)?;
        per_group(name, "_last_lr", &self.last_lr, groups)
    }
}

/// Checks that a file's per-group list `key` of class `name` has one value per group.
pub(crate) fn per_group<T>(name: &str, key: &str, values: &[T], groups: usize) -> Result<()> {
    if values.len() != groups {
        return Err(Error::State(format!(
            "{name} `{key}` has {} values, this optimizer has {groups} parameter group(s)",
            values.len()
        )));
    }
    Ok(())
}

/// `value` as a mapping.
///
/// # Errors
/// [`Error::State`] when it does not serialize to one.
pub(crate) fn to_mapping<T: Serialize>(value: &T) -> Result<Mapping> {
    match serde_yaml::to_value(value) {
        Ok(Y::Mapping(m)) => Ok(m),
        Ok(_) => Err(Error::State("a PyTorch state is not a dict".into())),
        Err(e) => Err(Error::State(e.to_string())),
    }
}

/// Merges the mappings in order (a later key replaces an earlier one).
pub(crate) fn merged(parts: impl IntoIterator<Item = Mapping>) -> Y {
    let mut out = Mapping::new();
    for part in parts {
        out.extend(part);
    }
    Y::Mapping(out)
}

/// A file's dict of class `name` as a mapping with string keys.
fn dict<'a>(name: &str, file: &'a Y) -> Result<&'a Mapping> {
    let Y::Mapping(m) = file else {
        return Err(Error::State(format!("the {name} state is {}, not a dict", kind(file))));
    };
    if let Some(k) = m.keys().find(|k| !k.is_string()) {
        return Err(Error::State(format!("the {name} state has a key that is {}", kind(k))));
    }
    Ok(m)
}

/// Reads `T` (the reference's attribute names) out of a file's dict of class `name`.
fn read<T: DeserializeOwned>(name: &str, m: &Mapping) -> Result<T> {
    serde_yaml::from_value(Y::Mapping(m.clone())).map_err(|e| Error::State(format!("not a {name} state: {e}")))
}

/// Loads a file's dict of class `name` into a schedule whose arguments are
/// `args` and whose steps' attributes are `ours` (of type `S`): every key of
/// the file must be one of them (or a legacy key), every argument and step
/// attribute the class always has must be there with its type, every
/// argument the file states must be the same as `args` (numbers to 1e-12
/// relative); the file's steps attributes are returned.
///
/// # Errors
/// [`Error::State`] in one line naming the key.
pub(crate) fn load<S: Serialize + DeserializeOwned>(name: &str, args: &TorchArgs, ours: &S, file: &Y) -> Result<S> {
    let m = dict(name, file)?;
    let steps = to_mapping(ours)?;
    for k in m.keys().filter_map(Y::as_str) {
        let known = args.written.contains_key(k) || steps.contains_key(k) || LEGACY.contains(&k);
        if !known {
            return Err(Error::State(format!("not a {name} state: it has the key `{k}`")));
        }
    }
    for read_args in &args.readers {
        read_args(m, name)?;
    }
    let theirs: S = read(name, m)?;
    for (k, mine) in &args.written {
        if let Some(v) = m.get(k)
            && !same(v, mine)
        {
            let k = k.as_str().unwrap_or("?");
            return Err(Error::State(format!(
                "the file's {name} has another `{k}` than the config's: built from another config"
            )));
        }
    }
    Ok(theirs)
}

/// Whether a file's value `theirs` says the same as ours: numbers to 1e-12
/// relative (a bool as 0 or 1), strings and nulls equal, lists and dicts item
/// by item, Counters as counts; an opaque value of ours is equal to anything.
pub(crate) fn same(theirs: &Y, ours: &Y) -> bool {
    match (theirs, ours) {
        (_, Y::Tagged(t)) if t.tag == Tag::new(OPAQUE) => true,
        (Y::Tagged(a), Y::Tagged(b)) => a.tag == b.tag && same(&a.value, &b.value),
        (Y::Sequence(a), Y::Sequence(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)),
        (Y::Mapping(a), Y::Mapping(b)) => {
            a.len() == b.len() && b.iter().all(|(k, y)| a.get(k).is_some_and(|x| same(x, y)))
        }
        (Y::String(a), Y::String(b)) => a == b,
        (Y::Null, Y::Null) => true,
        _ => match (number(theirs), number(ours)) {
            (Some(a), Some(b)) => a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()) || (a.is_nan() && b.is_nan()),
            _ => false,
        },
    }
}

fn number(y: &Y) -> Option<f64> {
    match y {
        Y::Bool(b) => Some(f64::from(u8::from(*b))),
        Y::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// What a value is, in Python's words, for errors.
pub(crate) fn kind(y: &Y) -> &'static str {
    match y {
        Y::Null => "None",
        Y::Bool(_) => "a bool",
        Y::Number(n) if n.is_f64() => "a float",
        Y::Number(_) => "an int",
        Y::String(_) => "a str",
        Y::Sequence(_) => "a list",
        Y::Mapping(_) => "a dict",
        Y::Tagged(t) if t.tag == Tag::new(COUNTER) => "a Counter",
        Y::Tagged(_) => "an object",
    }
}

/// The error for a schedule that has no PyTorch state.
pub(crate) fn none_for(name: &str) -> Error {
    Error::Unsupported(format!("no PyTorch state for {name}: it cannot be read or written yet"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Args {
        #[serde(rename = "T_max")]
        t_max: i64,
        gamma: f64,
    }

    #[test]
    fn a_file_is_read_compared_and_refused_by_key() {
        let args = TorchArgs::of(&Args { t_max: 5, gamma: 0.5 }).unwrap();
        let ours = LrSchedulerDict { base_lrs: vec![0.1], last_epoch: 3, step_count: 4, ..Default::default() };
        let file = |extra: &str| -> Y {
            serde_yaml::from_str(&format!(
                "{{T_max: 5, gamma: 0.5, base_lrs: [0.1], last_epoch: 7, _step_count: 8, _last_lr: [0.2]{extra}}}"
            ))
            .unwrap()
        };
        let got = load("X", &args, &ours, &file("")).unwrap();
        assert_eq!((got.last_epoch, got.step_count, got.last_lr), (7, 8, vec![0.2]));
        let e = load("X", &args, &ours, &file(", other: 1")).unwrap_err().to_string();
        assert!(e.contains("it has the key `other`"), "{e}");
        let e = load("X", &args, &ours, &serde_yaml::from_str("{T_max: 5, base_lrs: [0.1]}").unwrap());
        assert!(e.unwrap_err().to_string().contains("gamma"));
        let mut other = file("");
        other["T_max"] = Y::from(6);
        let e = load("X", &args, &ours, &other).unwrap_err().to_string();
        assert!(e.contains("another `T_max`"), "{e}");
    }

    #[test]
    fn counters_and_opaque_values_compare_as_the_reference_means_them() {
        let a = serde_yaml::to_value(Counter::of(&[2, 5, 5])).unwrap();
        let b = serde_yaml::to_value(Counter(vec![(5, 2), (2, 1)])).unwrap();
        assert!(same(&a, &b));
        assert!(!same(&a, &serde_yaml::to_value(Counter::of(&[2, 5])).unwrap()));
        let back: Counter = serde_yaml::from_value(b).unwrap();
        assert_eq!(back, Counter(vec![(2, 1), (5, 2)]));
        let opaque = serde_yaml::to_value(vec![Opaque(Y::Null)]).unwrap();
        assert!(same(&serde_yaml::from_str("[{a: 1}]").unwrap(), &opaque));
        assert!(!same(&serde_yaml::from_str("[null, null]").unwrap(), &opaque));
    }
}
