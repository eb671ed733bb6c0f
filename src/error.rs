//! The library's error type.

use std::path::PathBuf;

/// Everything that can go wrong in tch-lr.
///
/// Where PyTorch raises, tch-lr returns the matching variant, at the same point
/// (constructor or step) and, for [`Error::Value`], with PyTorch's own message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An invalid argument or state: PyTorch's `ValueError`, with its message.
    #[error("{0}")]
    Value(String),
    /// A division or modulo by zero that PyTorch would raise as `ZeroDivisionError`
    /// (for example `CosineAnnealingLR` with `T_max = 0`).
    #[error("division by zero: {0}")]
    ZeroDivision(&'static str),
    /// A float power that overflows, which Python raises as `OverflowError`.
    #[error("numerical result out of range: {0}")]
    Overflow(&'static str),
    /// A failed `assert` in the reference's constructor (Python's
    /// `AssertionError`), such as timm's `assert t_initial > 0`; the message
    /// names the schedule, the condition and the value.
    #[error("{0}")]
    Assertion(String),
    /// An operation PyTorch leaves unimplemented (`NotImplementedError`), such as
    /// `SequentialLR` reaching a milestone whose scheduler is a composite.
    #[error("{0}")]
    NotImplemented(String),
    /// A list with one value per parameter group had the wrong length.
    #[error("{what} must have one value per parameter group: expected {expected}, got {got}")]
    GroupCount {
        /// What the list holds (`"lr"`, `"min_lr"`, ...).
        what: String,
        /// The optimizer's number of parameter groups.
        expected: usize,
        /// The number of values given.
        got: usize,
    },
    /// A metric given to `ReduceLROnPlateau` was NaN.
    #[error("metric is NaN: ReduceLROnPlateau needs a number to compare with the best value so far")]
    NanMetric,
    /// A step computed a NaN or infinite value (an expression that overflows,
    /// degenerate arguments): it was not written, and the optimizer keeps its
    /// last good values.
    #[error("the schedule computed {what} = {value} for parameter group {group}: not written, the optimizer keeps its last values")]
    NonFinite {
        /// What was computed: `lr`, `momentum`, `beta1` or `weight_decay`.
        what: &'static str,
        /// The parameter group.
        group: usize,
        /// The value.
        value: f64,
    },
    /// The operation does not apply to this scheduler (for example a metric given to
    /// a scheduler that does not take one).
    #[error("{0}")]
    Unsupported(String),
    /// A saved scheduler state that cannot be loaded: corrupt, of another scheduler,
    /// or for another number of parameter groups.
    #[error("invalid scheduler state: {0}")]
    State(String),
    /// An optimizer state that cannot be saved or loaded: of another
    /// optimizer or model, corrupt, or of an optimizer whose state tch cannot
    /// reach (tch's `nn::Optimizer`: build it with
    /// [`Optim::owned`](crate::Optim::owned)).
    #[error("invalid optimizer state: {0}")]
    OptimizerState(String),
    /// A model's weights (PyTorch's `model.state_dict()`) that do not fit the
    /// `VarStore`: missing or unexpected names, another shape or dtype
    /// ([`interop::model`](crate::interop::model)).
    #[error("invalid model state: {0}")]
    ModelState(String),
    /// The data-parallel engine failed (feature `distributed`): the store
    /// cannot be reached, a peer died, a collective timed out, a launch
    /// environment or batch that does not fit.
    #[error("distributed: {0}")]
    Distributed(String),
    /// A config that cannot be used: invalid YAML, an unknown scheduler or key,
    /// a wrong type or an invalid value. The message names the file, the line
    /// and column where YAML gives them, the key and the valid choices.
    #[error("{}", config_line(path.as_deref(), *line, *column, message))]
    Config {
        /// The file, when the config came from one.
        path: Option<PathBuf>,
        /// The line (from 1), where known.
        line: Option<usize>,
        /// The column (from 1), where known.
        column: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A PyTorch `torch.save` file (its zip archive, its pickle or a tensor's
    /// record) that cannot be read or written: foreign, cut, damaged, changed
    /// on disk after it was loaded, or naming a global off the allowlist
    /// ([`crate::interop`]).
    #[error("torch file: {0}")]
    TorchFile(String),
    /// Drawing a plot failed (an unknown file extension, a backend error).
    #[error("plot: {0}")]
    Plot(String),
    /// An error and where it happened: the file, the section of a file or
    /// the step (`context`), said before the error itself. [`Error::root`]
    /// is the error without its places.
    #[error("{}", readable(&format!("{context}: {source}")))]
    Context {
        /// Where: a path, `the file's `weight_decay_scheduler``, `step 3`.
        context: String,
        /// What went wrong there.
        source: Box<Error>,
    },
    /// A reference's constructor error about one of the schedule's arguments
    /// (or inside one of a composite's children): its message is the
    /// error's own; a config's reader places it at that argument's line.
    /// The public constructors ([`Scheduler::new`](crate::Scheduler::new),
    /// `build`) return the error itself, without it.
    #[error("{source}")]
    Argument {
        /// Which argument, or which child.
        at: ArgumentAt,
        /// The constructor's error.
        source: Box<Error>,
    },
    /// An error reported by libtorch through tch. Shown as one line: the
    /// message without libtorch's C++ backtrace (the full text is in the
    /// source error).
    #[error("libtorch: {}", one_line(&.0.to_string()))]
    Tch(#[from] tch::TchError),
}

/// Where in a schedule's arguments a constructor error is ([`Error::Argument`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgumentAt {
    /// The keyword argument of that name.
    Key(&'static str),
    /// An item of the list argument of that name (a composite's child it refuses).
    Item(&'static str, usize),
    /// Inside the composite's child at that index of its `schedulers`.
    Child(usize),
}

/// The first line of a libtorch error that says something: without the C++
/// backtrace ("Exception raised from ...", "frame #0: ...") that libtorch
/// appends, and without tch's "Internal torch error: " prefix.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.split(" Exception raised from ").next().unwrap_or(l))
        .map(|l| l.strip_prefix("Internal torch error: ").unwrap_or(l).trim())
        .map(readable)
        .unwrap_or_default()
}

/// The longest word an error echoes whole: a longer one (a value from the
/// input) is cut, so that a 2 MB name cannot make a 2 MB line.
const MAX_WORD: usize = 80;
/// The longest error line.
pub(crate) const MAX_LINE: usize = 300;

/// `message` on one line, readable whatever the input was: each word of more
/// than 80 characters cut with an ellipsis, the whole at most 300 characters.
pub fn readable(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_LINE));
    for (i, word) in message.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.chars().count() > MAX_WORD {
            out.extend(word.chars().take(MAX_WORD - 1));
            out.push('…');
        } else {
            out.push_str(word);
        }
        if out.chars().count() >= MAX_LINE {
            let cut: String = out.chars().take(MAX_LINE - 1).collect();
            return cut + "…";
        }
    }
    out
}

/// A config error's line: the file, the message, the place, the message cut
/// (not the place) to keep the line within 300 characters.
fn config_line(path: Option<&std::path::Path>, line: Option<usize>, column: Option<usize>, message: &str) -> String {
    let file = path.map(|p| format!("{}: ", readable(&p.display().to_string()))).unwrap_or_default();
    let place = match (line, column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    };
    let room = MAX_LINE.saturating_sub(file.chars().count() + place.chars().count()).max(20);
    let message = if message.chars().count() > room {
        message.chars().take(room - 1).chain(['…']).collect()
    } else {
        message.to_string()
    };
    format!("{file}{message}{place}")
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn value(msg: impl Into<String>) -> Self {
        Error::Value(msg.into())
    }

    /// The same error, said to have happened at `context` (a file, a
    /// section, a step): [`Error::Context`].
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        Error::Context { context: readable(&context.to_string()), source: Box::new(self) }
    }

    /// The error without the places [`Error::context`] added: the variant
    /// that says what went wrong.
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } | Error::Argument { source, .. } => source.root(),
            e => e,
        }
    }

    /// The same constructor error, about the argument `name`.
    pub(crate) fn for_arg(self, name: &'static str) -> Self {
        Error::Argument { at: ArgumentAt::Key(name), source: Box::new(self) }
    }

    /// The same constructor error, about item `index` of the argument `name`.
    pub(crate) fn for_item(self, name: &'static str, index: usize) -> Self {
        Error::Argument { at: ArgumentAt::Item(name, index), source: Box::new(self) }
    }

    /// The same constructor error, raised by a composite's child `index`.
    pub(crate) fn in_child(self, index: usize) -> Self {
        Error::Argument { at: ArgumentAt::Child(index), source: Box::new(self) }
    }

    /// The error without its [`Error::Argument`] wrappers, and where they
    /// said it is, from the outside in.
    pub(crate) fn split_argument(self) -> (Vec<ArgumentAt>, Error) {
        let mut at = Vec::new();
        let mut e = self;
        while let Error::Argument { at: a, source } = e {
            at.push(a);
            e = *source;
        }
        (at, e)
    }

    /// A [`Error::TorchFile`] refusal, on one line ([`readable`]).
    pub(crate) fn torch_file(msg: impl AsRef<str>) -> Self {
        Error::TorchFile(readable(msg.as_ref()))
    }
}
