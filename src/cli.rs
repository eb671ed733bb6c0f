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

/// A finite number within `range` (`lo..=hi`, or `lo < x` when `open` is
/// true), for a flag's value parser; `why` says what the bound means.
///
/// # Errors
/// The reason, for clap to print.
pub fn float(s: &str, lo: f64, hi: f64, open: bool, why: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if !v.is_finite() => Err("must be a finite number".into()),
        Ok(v) if v < lo || (open && v == lo) => {
            Err(format!("must be {} {lo}{why}", if open { "above" } else { "at least" }))
        }
        Ok(v) if v > hi => Err(format!("must be at most {hi}{why}")),
        Ok(v) => Ok(v),
        Err(_) => Err("not a number".into()),
    }
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

/// Whether `e` is a write to a closed pipe (`tch-lr trace ... | head`): not
/// an error to report.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}
