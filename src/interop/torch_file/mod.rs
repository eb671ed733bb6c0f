//! `torch.save`'s zip archive: a reader and writer of its STORED
//! (uncompressed) entries, and the conversion of a [`TensorRecord`] to and
//! from a `tch::Tensor`.
//!
//! The archive holds `<name>/data.pkl` (the pickle), `<name>/data/<key>` (one
//! record per storage, raw little-endian elements), `<name>/byteorder`
//! (`little`), `<name>/version` and a few markers the reader ignores. The
//! reader trusts nothing it reads: every offset and size is checked against
//! the file's real length before use, every entry's CRC-32 is verified when
//! it is read, and a compressed, encrypted, split or big-endian archive is
//! refused in one line.
//!
//! [`load`] reads a file's directory and pickle only: its tensors' records
//! are read when asked for ([`TensorRecord::contiguous_bytes`], [`to_tch`]),
//! so a Trainer's `optimizer.pt` of gigabytes of Adam moments gives its
//! `param_groups` without reading them. [`read`] reads an archive in memory,
//! all of it checked at once.
//!
//! - `directory`: the zip structure, over bytes or a file; `records`: the
//!   zip records' layouts, shared with `zip_writer`;
//! - `layout`: `torch.save`'s entries; `tch`: tensors.

mod directory;
mod layout;
mod records;
mod tch;
mod zip_writer;

use std::path::Path;

pub use self::directory::MAX_ENTRIES;
use self::directory::{InMemory, Source};
use self::layout::Layout;
pub use self::tch::{from_tch, to_tch};
use self::zip_writer::ZipWriter;
use crate::error::{Error, Result};
use crate::interop::pickle;
use crate::interop::storage::{OpenFile, Record, Storage};
use crate::interop::tensor::TensorRecord;
use crate::interop::value::Value;

/// Reads a `torch.save` file: its zip directory and its pickle, checked
/// whole (the pickle's value or an error, never part of it). Each tensor's
/// storage is a record of the file, read (its CRC-32 and the file's size
/// checked) only when its bytes are asked for; the file stays open while a
/// record of it lives.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened; [`Error::TorchFile`] in one
/// line, naming the file, for anything else.
pub fn load(path: impl AsRef<Path>) -> Result<Value> {
    let path = path.as_ref();
    let file = OpenFile::open(path)?;
    let mut records = |e: &directory::Entry| {
        let record = Record { file: file.clone(), entry: e.name.clone(), offset: e.offset, len: e.size, crc: e.crc };
        Ok(Storage::record(record))
    };
    let src: &dyn Source = &*file;
    let value = directory::entries(src).and_then(|entries| Layout::new(src, entries)?.decode(&mut records));
    value.map_err(|e| match e {
        Error::TorchFile(m) => Error::torch_file(format!("{}: {m}", path.display())),
        e => e,
    })
}

/// Reads a `torch.save` archive from memory, every entry's CRC-32 checked:
/// the whole value or an error, never part of it. Its tensors' storages are
/// copied into memory.
pub fn read(file: &[u8]) -> Result<Value> {
    let src = &InMemory(file);
    let entries = directory::entries(src)?;
    for e in &entries {
        directory::data(src, e)?;
    }
    let layout = Layout::new(src, entries)?;
    layout.decode(&mut |e| Ok(Storage::from(src.read_at(e.offset, e.size)?.to_vec())))
}

/// Writes `value` as a `torch.save` file that `torch.load(f, weights_only=True)`
/// reads; atomically (a temporary file beside it, synced, then renamed over
/// it; removed if anything fails). The records of a file loaded lazily are
/// read (and checked) here.
pub fn save(path: impl AsRef<Path>, value: &Value) -> Result<()> {
    crate::support::write_atomic(path.as_ref(), &write(value)?)
}

/// Writes `value` as a `torch.save` archive (named `archive`, as PyTorch
/// names one saved to a buffer). Tensors sharing a storage share its record.
///
/// # Errors
/// [`Error::TorchFile`] for a value nested too deep, an archive of 4 GiB or
/// more, or a record of a loaded file that can no longer be read.
pub fn write(value: &Value) -> Result<Vec<u8>> {
    let mut storages: Vec<Storage> = Vec::new();
    let pkl = pickle::write_with(value, &mut |t: &TensorRecord| {
        let at = storages.iter().position(|s| s.same(t.storage())).unwrap_or_else(|| {
            storages.push(t.storage().clone());
            storages.len() - 1
        });
        at.to_string()
    })?;
    let mut zip = ZipWriter::default();
    zip.add("archive/data.pkl", &pkl)?;
    zip.add("archive/.format_version", b"1")?;
    zip.add("archive/.storage_alignment", b"64")?;
    zip.add("archive/byteorder", b"little")?;
    for (i, s) in storages.iter().enumerate() {
        zip.add(&format!("archive/data/{i}"), &s.bytes()?)?;
    }
    zip.add("archive/version", b"3\n")?;
    zip.finish()
}
