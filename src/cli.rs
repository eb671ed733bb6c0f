//! What the crate's command-line programs share (feature `cli`): the
//! `tch-lr` binary and the training program (`train_resnet`) check their
//! numeric flags with the same parsers and print an error as the same one
//! line.
//!
//! ```
//! use clap::Parser;
//!
//! /// A program with a flag checked where it is parsed.
//! #[derive(Parser)]
//! struct Args {
//!     /// Epochs (1 to 1000).
//!     #[arg(long, value_parser = |s: &str| tch_lr::cli::whole(s, 1, 1000, " (an epoch is a pass)"))]
//!     epochs: i128,
//! }
//!
//! let args = Args::try_parse_from(["prog", "--epochs", "3"]).unwrap();
//! assert_eq!(args.epochs, 3);
//! let e = Args::try_parse_from(["prog", "--epochs", "0"]).err().unwrap().to_string();
//! assert!(e.contains("--epochs") && e.contains("must be at least 1 (an epoch is a pass)"));
//! ```

use std::io;

/// Writes a file atomically (a temporary file beside it, synced, then a
/// rename): what the programs' logs, checkpoints and curves are written with.
pub use crate::support::write_atomic;

/// A whole number in `min..=max`, for a flag's value parser; the message
/// (after clap's `invalid value 'V' for '--flag <N>'`) says why it is
/// refused, `why` after the lower bound.
///
/// # Errors
/// The reason, for clap to print: `not a number`, `not a whole number`,
/// `must be at least MIN WHY`, `must be at most MAX`.
pub fn whole(s: &str, min: i128, max: i128, why: &str) -> Result<i128, String> {
    let t = s.trim();
    let too_big = || format!("must be at most {max}");
    match t.parse::<i128>() {
        Ok(v) if v < min => Err(format!("must be at least {min}{why}")),
        Ok(v) if v > max => Err(too_big()),
        Ok(v) => Ok(v),
        Err(_) if t.len() > 1 && t.starts_with('-') && t[1..].bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("must be at least {min}{why}"))
        }
        Err(_) if !t.is_empty() && t.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit()) => Err(too_big()),
        Err(_) if t.parse::<f64>().is_ok() => Err("not a whole number".into()),
        Err(_) => Err("not a number".into()),
    }
}

/// A finite number in `[lo, hi]` (`(lo, hi]` when `open`; `hi` may be
/// `f64::MAX`, no upper bound), for a flag's value parser; `why` says what
/// the bounds mean.
///
/// # Errors
/// The reason, for clap to print: `not a number`, `must be a finite number`,
/// `must be in [LO, HI]WHY`, `must be above LO WHY`, ...
pub fn float(s: &str, lo: f64, hi: f64, open: bool, why: &str) -> Result<f64, String> {
    let v = match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => v,
        Ok(_) => return Err("must be a finite number".into()),
        Err(_) => return Err("not a number".into()),
    };
    if v > lo && v <= hi || (!open && v == lo) {
        return Ok(v);
    }
    Err(match (hi == f64::MAX, open) {
        (true, true) => format!("must be above {lo}{why}"),
        (true, false) => format!("must be at least {lo}{why}"),
        (false, true) => format!("must be in ({lo}, {hi}]{why}"),
        (false, false) => format!("must be in [{lo}, {hi}]{why}"),
    })
}

/// The error and its causes, each once (a library error's message may
/// already hold its source's), on one line of at most 300 characters, C++
/// backtraces left out: what a program prints after `error: `.
pub fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = crate::error::one_line(&cause.to_string());
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    crate::error::readable(&out)
}

/// Prints `error: ` and [`message`] on stderr as one write, so that the lines
/// of several processes sharing a stderr (torchrun's ranks) never interleave
/// within a line.
pub fn print_error(e: &anyhow::Error) {
    use std::io::Write;
    let line = format!("error: {}\n", message(e));
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Whether `e` is a write to a closed pipe (`tch-lr trace ... | head`): not
/// an error to report.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_refused_with_the_reason() {
        assert_eq!(whole("7", 1, 10, ""), Ok(7));
        assert_eq!(whole("0", 1, 10, " (a batch)"), Err("must be at least 1 (a batch)".into()));
        assert_eq!(whole("99999999999999999999999999999999999999999", 1, 10, ""), Err("must be at most 10".into()));
        assert_eq!(whole("-99999999999999999999999999999999999999999", 1, 10, ""), Err("must be at least 1".into()));
        assert_eq!(whole("2.5", 1, 10, ""), Err("not a whole number".into()));
        assert_eq!(whole("x", 1, 10, ""), Err("not a number".into()));
        assert_eq!(float("0.5", 0.0, 1.0, false, ""), Ok(0.5));
        assert_eq!(float("0", 0.0, 1.0, false, ""), Ok(0.0));
        assert_eq!(float("1.5", 0.0, 1.0, false, " (a decay)"), Err("must be in [0, 1] (a decay)".into()));
        assert_eq!(float("0", 0.0, f64::MAX, true, ""), Err("must be above 0".into()));
        assert_eq!(float("inf", 0.0, f64::MAX, true, ""), Err("must be a finite number".into()));
    }
}
