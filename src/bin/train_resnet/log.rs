//! The per-batch CSV log (one row per batch, flushed as written, so a killed
//! run keeps every row it wrote) and the per-epoch CSV beside it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A CSV file written one flushed row at a time.
pub struct Csv {
    file: File,
    path: PathBuf,
}

impl Csv {
    /// Creates `path` with `header`, or, when `keep_rows_below` is given,
    /// reopens it keeping the header and the complete rows whose first column
    /// is below that number (a resumed run drops the rows after its
    /// checkpoint, and a row cut short by a kill).
    pub fn open(path: &Path, header: &str, keep_rows_below: Option<u64>) -> Result<Csv> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut kept = vec![header.to_string()];
        let columns = header.split(',').count();
        if let Some(limit) = keep_rows_below {
            let f = File::open(path).with_context(|| format!("resuming the log {}", path.display()))?;
            for line in BufReader::new(f).lines().skip(1) {
                let line = line?;
                let first = line.split(',').next().and_then(|v| v.parse::<u64>().ok());
                if first.is_some_and(|v| v < limit) && line.split(',').count() == columns {
                    kept.push(line);
                }
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .with_context(|| format!("writing {}", path.display()))?;
        for line in &kept {
            writeln!(file, "{line}")?;
        }
        file.flush()?;
        Ok(Csv { file, path: path.to_path_buf() })
    }

    /// Appends one row and flushes it to the OS.
    pub fn row(&mut self, fields: &[String]) -> Result<()> {
        writeln!(self.file, "{}", fields.join(",")).with_context(|| format!("writing {}", self.path.display()))?;
        self.file.flush()?;
        Ok(())
    }
}
