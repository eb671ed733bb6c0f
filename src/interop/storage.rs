//! A tensor storage's bytes: in memory, or a record of a `torch.save` file on
//! disk, read (and its CRC-32 checked) only when asked for.
//!
//! [`torch_file::load`](super::torch_file::load) reads an archive's directory
//! and its pickle, not its records: each storage then knows its file, where
//! its bytes are, how many and their CRC-32. Reading them checks that the file
//! still has the size it had when it was loaded and that the bytes read have
//! the CRC the archive declared, so a file damaged, cut or rewritten since the
//! load is refused in one line, naming the file and the entry, and never
//! read as other values.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// A file opened for reading at offsets, shared by the records of one archive.
pub(crate) struct OpenFile {
    path: PathBuf,
    file: Mutex<File>,
    len: u64,
}

impl OpenFile {
    /// Opens `path`, noting its size.
    pub(crate) fn open(path: &Path) -> Result<Arc<OpenFile>> {
        let io = |source| Error::Io { path: path.into(), source };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok(Arc::new(OpenFile { path: path.into(), file: Mutex::new(file), len }))
    }

    /// The path it was opened from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Its size when it was opened.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The `n` bytes at `at` (the caller checked that they lie within
    /// [`len`](Self::len)); a file whose size changed since it was opened is
    /// refused, in words naming neither the file nor the entry.
    pub(crate) fn read_at(&self, at: u64, n: usize) -> std::result::Result<Vec<u8>, String> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let now = file.metadata().map_err(|e| e.to_string())?.len();
        if now != self.len {
            return Err(format!("the file changed on disk since it was loaded ({} bytes then, {now} now)", self.len));
        }
        let mut buf = vec![0; n];
        file.seek(SeekFrom::Start(at)).and_then(|_| file.read_exact(&mut buf)).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "the file was cut since it was loaded".to_string(),
            _ => e.to_string(),
        })?;
        Ok(buf)
    }
}

/// Where a record's bytes are in its file.
pub(crate) struct Record {
    /// The archive.
    pub(crate) file: Arc<OpenFile>,
    /// The entry's name in the archive (`archive/data/0`).
    pub(crate) entry: String,
    /// The first byte of its data.
    pub(crate) offset: u64,
    /// Its length in bytes.
    pub(crate) len: usize,
    /// The CRC-32 the archive declares for it.
    pub(crate) crc: u32,
}

impl Record {
    /// Reads the bytes, checking the file's size and the bytes' CRC-32.
    fn read(&self) -> Result<Vec<u8>> {
        let at =
            |what: &str| Error::torch_file(format!("{}: entry {}: {what}", self.file.path().display(), self.entry));
        let bytes = self.file.read_at(self.offset, self.len).map_err(|e| at(&e))?;
        if crc32fast::hash(&bytes) != self.crc {
            return Err(at("fails its CRC check (the file is damaged, or changed on disk since it was loaded)"));
        }
        Ok(bytes)
    }
}

#[derive(Clone)]
enum Bytes {
    Memory(Arc<[u8]>),
    Record(Arc<Record>),
}

/// A tensor storage: little-endian elements, in memory or in a record of a
/// `torch.save` file read when asked for ([`bytes`](Storage::bytes)). Views
/// of one storage share it; cloning it shares it too.
#[derive(Clone)]
pub struct Storage(Bytes);

impl Storage {
    /// A record of a file: read from `record.file` each time it is asked for.
    pub(crate) fn record(record: Record) -> Storage {
        Storage(Bytes::Record(Arc::new(record)))
    }

    /// Its length in bytes (known without reading it).
    pub fn len(&self) -> usize {
        match &self.0 {
            Bytes::Memory(b) => b.len(),
            Bytes::Record(r) => r.len,
        }
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether its bytes are in memory; `false` for a record of a file
    /// loaded with [`torch_file::load`](super::torch_file::load), which each
    /// [`bytes`](Self::bytes) reads.
    pub fn is_in_memory(&self) -> bool {
        matches!(self.0, Bytes::Memory(_))
    }

    /// Its bytes: borrowed when in memory; read from the file otherwise,
    /// after checking that the file has the size it had when loaded and that
    /// the bytes have the CRC-32 the archive declares.
    ///
    /// # Errors
    /// [`Error::TorchFile`] in one line naming the file and the entry: a file
    /// cut, damaged or changed since it was loaded, or a read that failed.
    pub fn bytes(&self) -> Result<Cow<'_, [u8]>> {
        match &self.0 {
            Bytes::Memory(b) => Ok(Cow::Borrowed(b)),
            Bytes::Record(r) => r.read().map(Cow::Owned),
        }
    }

    /// Whether `self` and `other` are the same storage (views of one storage
    /// of a file are), not merely equal bytes.
    pub fn same(&self, other: &Storage) -> bool {
        match (&self.0, &other.0) {
            (Bytes::Memory(a), Bytes::Memory(b)) => Arc::ptr_eq(a, b),
            (Bytes::Record(a), Bytes::Record(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl From<Arc<[u8]>> for Storage {
    fn from(bytes: Arc<[u8]>) -> Storage {
        Storage(Bytes::Memory(bytes))
    }
}

impl From<Vec<u8>> for Storage {
    fn from(bytes: Vec<u8>) -> Storage {
        Storage(Bytes::Memory(bytes.into()))
    }
}

impl std::fmt::Debug for Storage {
    /// Its length and where it is, not its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Bytes::Memory(b) => write!(f, "Storage({} bytes in memory)", b.len()),
            Bytes::Record(r) => write!(f, "Storage({} bytes, {}: {})", r.len, r.file.path().display(), r.entry),
        }
    }
}
