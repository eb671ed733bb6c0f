//! `tch-lr list`: the registry, by name or with each schedule's arguments.

use std::io::{self, Write};

use anyhow::Result;
use clap::ValueEnum;

/// `tch-lr list`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: Args) -> Result<()> {
    let mut out = io::stdout().lock();
    match args.format {
        Format::Text => {
            for s in tch_lr::schedulers::REGISTRY {
                writeln!(out, "{}", s.name)?;
            }
        }
        Format::Json => {
            let all: Vec<_> = tch_lr::schedulers::REGISTRY.iter().map(|s| s.describe()).collect();
            serde_json::to_writer_pretty(&mut out, &all).map_err(io::Error::from)?;
            writeln!(out)?;
        }
    }
    Ok(())
}
